package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/unigo-os/unigo/tools/image"
)

const imageUsage = `usage: unigo image IN OUT

Makes a static linux/amd64 Go executable built by other tools (with the
unigo kernel linked in: import _ "github.com/unigo-os/unigo/kernel") into a
bootable image: adds the PVH entry note. No loaded byte changes, so OUT
still runs natively. IN and OUT may be the same file. IN must keep its
symbol table (not linked with -ldflags=-s).
`

// imageCmd implements `unigo image IN OUT`.
func imageCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("unigo image", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, imageUsage)
			return 0
		}
		fmt.Fprintf(stderr, "unigo image: %v\n", err)
		return 2
	}
	if fs.NArg() != 2 {
		fmt.Fprintln(stderr, "unigo image: want IN and OUT (usage: unigo image IN OUT)")
		return 2
	}
	if err := image.WriteFile(fs.Arg(0), fs.Arg(1), image.Options{}); err != nil {
		fmt.Fprintf(stderr, "unigo image: %v\n", unwrapPathError(err))
		return 1
	}
	return 0
}

// imageCmdMain is imageCmd on the process's stdio.
func imageCmdMain(args []string) int { return imageCmd(args, os.Stdout, os.Stderr) }
