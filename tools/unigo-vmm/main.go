package main

import (
	"os"

	"github.com/unigo-os/unigo/tools/launch"
)

func main() {
	os.Exit(launch.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, launch.Hooks{}))
}
