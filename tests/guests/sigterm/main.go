// Command sigterm waits for SIGTERM from outside (the launcher forwards
// its own): with no argument it prints the signal and exits 0; with
// "ignore" it ignores SIGTERM and waits for ever, to be stopped.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "ignore" {
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("sigterm: ignoring SIGTERM")
		for {
			time.Sleep(time.Hour)
		}
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM)
	fmt.Println("sigterm: waiting")
	s := <-c
	fmt.Printf("sigterm: got %v, exiting\n", s)
}
