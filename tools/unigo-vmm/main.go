package main

import (
	"os"

	"github.com/unigo-os/unigo/tools/launch"
)

func main() {
	var h launch.Hooks
	args := os.Args[1:]
	for len(args) > 0 {
		switch {
		case args[0] == "-built-image" && len(args) > 1:
			h.Built, args = args[1], args[2:]
			continue
		case args[0] == "-jail-root":
			h.JailRoot, args = true, args[1:]
			continue
		}
		break
	}
	launch.ServeProfiles()
	os.Exit(launch.Run(args, os.Stdin, os.Stdout, os.Stderr, h))
}
