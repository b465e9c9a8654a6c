// Command catstdin copies its standard input to its standard output until
// end of file, then says so: under `unigo run`, the end of the host's
// stdin must reach the guest as EOF. With an argument N it copies N bytes
// and stops, for monitors that never end the input (QEMU's serial port).
package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
)

func main() {
	if len(os.Args) > 1 {
		want, err := strconv.ParseInt(os.Args[1], 10, 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "catstdin: byte count:", err)
			os.Exit(2)
		}
		n, err := io.CopyN(os.Stdout, os.Stdin, want)
		if err != nil {
			fmt.Fprintln(os.Stderr, "catstdin:", err)
			os.Exit(1)
		}
		fmt.Printf("catstdin: copied %d bytes\n", n)
		return
	}
	n, err := io.Copy(os.Stdout, os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "catstdin:", err)
		os.Exit(1)
	}
	fmt.Printf("catstdin: eof after %d bytes\n", n)
}
