// Command catstdin copies its standard input to its standard output until
// end of file, then says so: under `unigo run`, the end of the host's
// stdin must reach the guest as EOF.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	n, err := io.Copy(os.Stdout, os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "catstdin:", err)
		os.Exit(1)
	}
	fmt.Printf("catstdin: eof after %d bytes\n", n)
}
