package main

import (
	"fmt"
	"os"
)

// buildCmd implements `unigo build`. Owned by the image/build work.
func buildCmd(args []string) int {
	fmt.Fprintln(os.Stderr, "unigo build: not implemented yet")
	return 1
}
