package main

import (
	"debug/elf"
	"debug/gosym"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/unigo-os/unigo/tools/image"
)

const execUsage = `usage: unigo exec [-m SIZE] [-smp N] [-runner NAME] [-e K=V] BINARY [ARGS...]

Boots a Go test binary (or any program) that links the unigo kernel and
runs it with ARGS, for go test -exec:

  go test -exec 'unigo exec' ./pkg
  go test -exec 'unigo exec -m 512M' -json -run TestX ./pkg

go test builds plain test binaries, so the package's tests must import the
kernel themselves: add a file such as unigo_test.go with

  package pkg_test
  import _ "github.com/unigo-os/unigo/kernel"

(and _ "github.com/unigo-os/unigo/netstack" for tests that use the network).
Natively the import does nothing, so go test without -exec still works.
The guest's file system starts empty: tests that read testdata need
unigo test, which copies the package directory into the guest.

flags:
  -m SIZE          guest memory (default 256M)
  -smp N           number of vCPUs (default 1)
  -runner NAME     launcher (default) or qemu
  -e KEY=VAL       guest environment variable (repeatable)

exit status: the guest's (the test binary's), or unigo run's own (70 crash,
124 timeout, 125 launcher error); 2 for a bad command line or a binary
without the kernel.
`

// execCmd implements `unigo exec`.
func execCmd(args []string) int {
	return runExec(args, os.Stdout, os.Stderr)
}

func runExec(args []string, stdout, stderr io.Writer) int {
	runArgs := []string{}
	mem, runner := "256M", runnerLauncher
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if !strings.HasPrefix(a, "-") {
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch name {
		case "h", "help":
			fmt.Fprint(stdout, execUsage)
			return 0
		case "m", "smp", "runner", "e":
		default:
			fmt.Fprintf(stderr, "unigo exec: flag provided but not defined: -%s (see unigo exec -h)\n", name)
			return 2
		}
		if !hasVal {
			if i+1 >= len(args) {
				fmt.Fprintf(stderr, "unigo exec: flag needs an argument: -%s\n", name)
				return 2
			}
			i++
			val = args[i]
		}
		switch name {
		case "m":
			mem = val
		case "runner":
			runner = val
		default:
			runArgs = append(runArgs, "-"+name, val)
		}
	}
	if i >= len(args) {
		fmt.Fprintln(stderr, "unigo exec: no binary to run (usage: unigo exec [flags] BINARY [ARGS...])")
		return 2
	}
	bin, binArgs := args[i], args[i+1:]
	entry, err := kernelEntry(bin)
	if err != nil {
		fmt.Fprintf(stderr, "unigo exec: %v\n", err)
		return 2
	}
	tmp, err := os.MkdirTemp("", "unigo-exec-")
	if err != nil {
		fmt.Fprintf(stderr, "unigo exec: %v\n", err)
		return exitLauncher
	}
	defer os.RemoveAll(tmp)
	img := filepath.Join(tmp, filepath.Base(bin)+".img")
	if err := image.WriteFile(bin, img, image.Options{EntryAddr: entry}); err != nil {
		fmt.Fprintf(stderr, "unigo exec: %s: %v\n", bin, err)
		return 2
	}
	runArgs = append(runArgs, "-runner", runner, "-m", mem)
	if d := testTimeoutArg(binArgs); d > 0 {
		// As in unigo test: the testing package's own timeout panic comes
		// first; the launcher stops a guest too wedged for it.
		runArgs = append(runArgs, "-timeout", (d + time.Minute).String())
	}
	runArgs = append(runArgs, img, "--")
	runArgs = append(runArgs, binArgs...)
	lf := &crlfWriter{w: stdout}
	code := runLauncher(runArgs, strings.NewReader(""), lf, stderr)
	lf.flush()
	return code
}

// kernelEntry checks that bin links the unigo kernel and returns the PVH
// entry's address, looked up in the Go function table (.gopclntab) since go
// test strips the symbol table of the binaries it runs. The error is one
// line saying why bin cannot boot.
func kernelEntry(bin string) (uint64, error) {
	f, err := elf.Open(bin)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return 0, err // missing, unreadable
		}
		return 0, fmt.Errorf("%s: not an ELF executable", bin)
	}
	defer f.Close()
	pcln, text := f.Section(".gopclntab"), f.Section(".text")
	if pcln == nil || text == nil {
		return 0, fmt.Errorf("%s: not a Go executable (no .gopclntab)", bin)
	}
	data, err := pcln.Data()
	if err != nil {
		return 0, fmt.Errorf("%s: reading .gopclntab: %v", bin, err)
	}
	tab, err := gosym.NewTable(nil, gosym.NewLineTable(data, text.Addr))
	if err != nil {
		return 0, fmt.Errorf("%s: reading .gopclntab: %v", bin, err)
	}
	// The entry is an assembly function without a Go wrapper, so its
	// name is unique in the table (which drops the .abi0 suffix).
	var entries []uint64
	for _, fn := range tab.Funcs {
		if fn.Name == image.EntrySymbol {
			entries = append(entries, fn.Entry)
		}
	}
	switch {
	case len(entries) == 1:
		return entries[0], nil
	case len(entries) > 1:
		return 0, fmt.Errorf("%s: %d functions named %s; cannot tell the entry (link without -s)", bin, len(entries), image.EntrySymbol)
	}
	return 0, fmt.Errorf("%s does not link the unigo kernel: add a _test.go file with import _ %q to the package (see unigo exec -h), or use unigo test", filepath.Base(bin), kernelPackage)
}

// testTimeoutArg returns the -test.timeout among a test binary's
// arguments, or 0.
func testTimeoutArg(args []string) time.Duration {
	for i, a := range args {
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name != "test.timeout" {
			continue
		}
		if !hasVal && i+1 < len(args) {
			val = args[i+1]
		}
		d, err := time.ParseDuration(val)
		if err == nil {
			return d
		}
	}
	return 0
}
