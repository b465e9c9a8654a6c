// Command ready exercises package notify: it defers readiness, listens on
// a TCP port (which then must not count as ready), and with "call" reports
// readiness itself before it exits.
package main

import (
	"fmt"
	"net"
	"os"

	"github.com/unigo-os/unigo/notify"
)

func main() {
	if err := notify.Defer(); err != nil {
		fmt.Println("ready: defer:", err)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("ready: listen:", err)
		os.Exit(1)
	}
	defer ln.Close()
	fmt.Println("ready: listening")
	if len(os.Args) > 1 && os.Args[1] == "call" {
		if err := notify.Ready(); err != nil {
			fmt.Println("ready: ready:", err)
			os.Exit(1)
		}
		fmt.Println("ready: reported")
	}
}
