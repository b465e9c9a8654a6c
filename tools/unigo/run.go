package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/unigo-os/unigo/tools/internal/sibling"
	"github.com/unigo-os/unigo/tools/launch"
	"github.com/unigo-os/unigo/tools/vmm/netback"
	"github.com/unigo-os/unigo/tools/vmm/netback/netproc"
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
// then run boots the guest in this process. Either way the user-mode
// network runs in a process of its own, unigo-net (package netproc),
// which this binary does not link.
func vmmBinary() string {
	p, err := sibling.Path(vmmName)
	if err != nil {
		return ""
	}
	return p
}

// runCmd implements `unigo run`: it builds the target if it is source,
// then execs the launcher binary with the same command line. It boots
// the guest itself when there is no launcher binary, with -runner qemu
// and with UNIGO_PPROF, which the launcher binary leaves out.
// With -jail, started as root, it is the jailer instead (jailVMM).
func runCmd(args []string) int {
	vmm := vmmBinary()
	h := launch.Hooks{Build: &runBuilder{}}
	h.Handoff = func(o *launch.Options, image string) (int, bool) {
		if o.Runner() != runnerLauncher {
			return 0, false
		}
		if o.Jail() && os.Geteuid() == 0 {
			_, user := o.NetFor(image)
			if vmm == "" {
				// No launcher binary: this one is the launcher, as
				// `unigo vmm`.
				self, err := os.Executable()
				if err != nil {
					fmt.Fprintf(os.Stderr, "unigo run: -jail: %v\n", err)
					return exitLauncher, true
				}
				return jailVMM(self, []string{"vmm"}, o, image, args, user)
			}
			return jailVMM(vmm, nil, o, image, args, user)
		}
		if vmm == "" || os.Getenv(profileEnv) != "" {
			// The launcher binary has no profile server either.
			return 0, false
		}
		return execVMM(vmm, o, image, args)
	}
	return launch.Run(args, os.Stdin, os.Stdout, os.Stderr, h)
}

// vmmCmd is the hidden `unigo vmm`: the launcher binary's command line
// (launch.Main), which the jailer starts when there is no launcher binary.
func vmmCmd(args []string) int {
	return launch.Main(args, os.Stdin, os.Stdout, os.Stderr, launch.Hooks{})
}

// jailVMM is the jailer, after Firecracker's: it starts the launcher bin
// (with the argument prefix pre) in fresh mount, PID, IPC, UTS and
// network namespaces, having opened for it what it needs of the host: a
// TAP device, or, for the user-mode network (user), the network process
// (unigo-net, confining itself) in the host's namespaces, whose socket
// it passes down. With -jail-root: once its
// VM is set up the launcher pivots into an empty root, drops to nobody
// and loads its seccomp filters (launch.Run). The jailer waits for it,
// passes SIGTERM on (and SIGINT and SIGQUIT, unless a terminal sent them
// to the launcher itself), and exits as it did.
func jailVMM(bin string, pre []string, o *launch.Options, image string, args []string, user bool) (int, bool) {
	argv := []string{"-jail-root"}
	if image != o.Target() {
		argv = append(argv, "-built-image", image)
	}
	argv = append(argv, args...)
	var extra []*os.File
	if o.NetMode() == "tap" {
		// Opened here, in the host's network namespace, where the
		// interface is; the launcher gets the descriptor and a
		// namespace of its own.
		tap, err := netback.OpenTAP(o.TAPName())
		if err != nil {
			fmt.Fprintf(os.Stderr, "unigo run: %v\n", err)
			return exitLauncher, true
		}
		defer tap.Close()
		extra = append(extra, tap.File())
		argv = append([]string{"-tap-fd", fmt.Sprintf("3:%d", tap.MTU())}, argv...)
	}
	if user {
		np, err := netproc.Path()
		if err != nil {
			fmt.Fprintf(os.Stderr, "unigo run: %v\n", err)
			return exitLauncher, true
		}
		sock, proc, err := netproc.Spawn(np, o.UserNetConfig(true))
		if err != nil {
			fmt.Fprintf(os.Stderr, "unigo run: %v\n", err)
			return exitLauncher, true
		}
		// Reaped once the launcher, its socket's other user, is gone.
		defer netproc.Reap(proc)
		argv = append([]string{"-net-fd", strconv.Itoa(3 + len(extra))}, argv...)
		extra = append(extra, sock)
	}
	// /dev/kvm, the image, drives and volume directories: the launcher
	// opens no host path itself.
	names, files := o.OpenForJail(image)
	for i, name := range names {
		argv = append([]string{"-fd", fmt.Sprintf("%s=%d", name, 3+len(extra))}, argv...)
		extra = append(extra, files[i])
	}
	var readyR *os.File
	if o.ReadyFile() != "" {
		r, w, err := os.Pipe()
		if err != nil {
			fmt.Fprintf(os.Stderr, "unigo run: -jail: %v\n", err)
			return exitLauncher, true
		}
		defer w.Close()
		readyR = r
		argv = append([]string{"-ready-fd", strconv.Itoa(3 + len(extra))}, argv...)
		extra = append(extra, w)
	}
	argv = append(append([]string{}, pre...), argv...)
	cmd := exec.Command(bin, argv...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = extra
	flags := syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS | syscall.CLONE_NEWNET
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: uintptr(flags), Pdeathsig: syscall.SIGKILL}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "unigo run: -jail: start the launcher: %v\n", err)
		for _, f := range extra {
			f.Close() // unigo-net's socket among them: it ends on EOF
		}
		return exitLauncher, true
	}
	for _, f := range extra {
		f.Close() // the launcher's now
	}
	if readyR != nil {
		// The launcher writes a byte when the guest is ready; it cannot
		// reach the file from its empty root.
		go func() {
			defer readyR.Close()
			if n, _ := readyR.Read(make([]byte, 1)); n == 1 {
				if err := os.WriteFile(o.ReadyFile(), nil, 0o644); err != nil {
					fmt.Fprintf(os.Stderr, "unigo run: -ready-file: %v\n", unwrapPathError(err))
				}
			}
		}()
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case s := <-sigs:
				if s == syscall.SIGTERM || !terminalForeground() {
					cmd.Process.Signal(s)
				}
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, true
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), true
		}
		return ee.ExitCode(), true
	}
	fmt.Fprintf(os.Stderr, "unigo run: -jail: %v\n", err)
	return exitLauncher, true
}

// terminalForeground reports whether this process's group is the
// foreground of the terminal on stdin: the terminal's SIGINT and SIGQUIT
// then reach the launcher, of the same group, directly.
func terminalForeground() bool {
	pg, err := unix.IoctlGetInt(0, unix.TIOCGPGRP)
	return err == nil && pg == syscall.Getpgrp()
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
