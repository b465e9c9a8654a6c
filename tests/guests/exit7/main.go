// Command exit7 exits through os.Exit(7): the exit code must reach the host
// unchanged (through isa-debug-exit under QEMU and the launcher).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Println("exit7: exiting with 7")
	os.Exit(7)
}
