package main

import (
	"fmt"
	"os"
)

// runCmd implements `unigo run`. Owned by the launcher work.
func runCmd(args []string) int {
	fmt.Fprintln(os.Stderr, "unigo run: not implemented yet")
	return 125
}
