package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/unigo-os/unigo/tools/launch"
)

// Names shared with the launch package, which holds `unigo run`.
const (
	runnerLauncher = launch.RunnerLauncher
	runnerQEMU     = launch.RunnerQEMU
	exitTimeout    = launch.ExitTimeout
	exitLauncher   = launch.ExitLauncher
	exitSIGINT     = launch.ExitSIGINT
	exitSIGQUIT    = launch.ExitSIGQUIT
	exitSIGTERM    = launch.ExitSIGTERM
)

var (
	parseMemSize    = launch.ParseMemSize
	splitGuestArgs  = launch.SplitGuestArgs
	firstLineOf     = launch.FirstLineOf
	unwrapPathError = launch.UnwrapPathError
	needsBuild      = launch.NeedsBuild
)

// errHelp asks for a command's usage text.
var errHelp = errors.New("help requested")

// runBuilder is the builder as `unigo run` uses it (launch.Builder).
type runBuilder struct{ b builder }

func (r *runBuilder) AddFlags(fs *flag.FlagSet) { r.b.addFileFlags(fs, nil) }

func (r *runBuilder) Build(ctx context.Context, target, out string) error {
	b := r.b
	b.out, b.ctx = out, ctx
	_, err := b.build(target)
	return err
}

// vmmName is the launcher binary `unigo run` execs, looked for next to
// the unigo executable.
const vmmName = "unigo-vmm"

// vmmBinary returns the launcher binary's path, or "" when there is none
// next to this executable (e.g. go run, or an OCI image's static CLI):
// then run boots the guest in this process.
func vmmBinary() string {
	self, err := os.Executable()
	if err != nil {
		return ""
	}
	p := filepath.Join(filepath.Dir(self), vmmName)
	if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
		return ""
	}
	return p
}

// runCmd implements `unigo run`: it builds the target if it is source,
// then execs the launcher binary with the same command line, or boots
// the guest itself when there is no launcher binary or -runner is qemu.
func runCmd(args []string) int {
	h := launch.Hooks{Build: &runBuilder{}}
	if vmm := vmmBinary(); vmm != "" {
		h.Handoff = func(o *launch.Options, image string) (int, bool) {
			if o.Runner() != runnerLauncher {
				return 0, false
			}
			return execVMM(vmm, o, image, args)
		}
	}
	return launch.Run(args, os.Stdin, os.Stdout, os.Stderr, h)
}

// execVMM replaces this process with the launcher binary, handing it the
// command line and, when run built the target, the image (which the
// launcher removes at exit). It returns only on failure.
func execVMM(vmm string, o *launch.Options, image string, args []string) (int, bool) {
	argv := []string{vmm}
	if image != o.Target() {
		argv = append(argv, "-built-image", image)
	}
	argv = append(argv, args...)
	err := syscall.Exec(vmm, argv, os.Environ())
	fmt.Fprintf(os.Stderr, "unigo run: exec %s: %v\n", vmm, err)
	return exitLauncher, true
}

// runLauncher runs `unigo run` in this process with explicit stdio (unigo
// test and exec, tests).
func runLauncher(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return launch.Run(args, stdin, stdout, stderr, launch.Hooks{Build: &runBuilder{}})
}
