// Command lastwords is the guest of TestExitFlush (tests/net_test.go): it
// dials a host server, writes N pattern bytes and ends at once, without
// closing the connection: by returning from main (HOW "return"), by
// os.Exit(3) ("exit3") or by panicking ("panic"). Linux would go on
// delivering those bytes after the process is gone; under unigo the
// kernel must hold the exit until the netstack has delivered them, on one
// CPU too — except for a panic, which must end the program at once with
// status 2 as it does on Linux.
//
//	lastwords HOST:PORT N HOW
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/unigo-os/unigo/tests/netcheck"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Println("lastwords: FAIL usage: lastwords HOST:PORT N HOW")
		os.Exit(1)
	}
	n, err := strconv.ParseInt(os.Args[2], 10, 64)
	if err != nil {
		fmt.Println("lastwords: FAIL", err)
		os.Exit(1)
	}
	c, err := net.Dial("tcp", os.Args[1])
	if err != nil {
		fmt.Println("lastwords: FAIL", err)
		os.Exit(1)
	}
	buf := make([]byte, 64<<10)
	for off := int64(0); off < n; off += int64(len(buf)) {
		b := buf[:min(int64(len(buf)), n-off)]
		netcheck.Pattern(b, off)
		if _, err := c.Write(b); err != nil {
			fmt.Println("lastwords: FAIL write:", err)
			os.Exit(1)
		}
	}
	fmt.Printf("lastwords: wrote %d bytes, exiting\n", n)
	switch os.Args[3] {
	case "exit3":
		os.Exit(3)
	case "panic":
		panic("lastwords: panic after writing")
	}
}
