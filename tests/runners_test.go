package tests

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/tools/probe"
)

// result is what one run of an image produced.
type result struct {
	// code is the guest's exit code.
	code int
	// poweredOff is set when the VM stopped without reporting an exit code
	// (QEMU status 0: the guest shut down or triple-faulted with
	// -no-reboot). code is then meaningless.
	poweredOff bool
	// out is everything the guest wrote to stdout and stderr (one serial
	// port in a VM, so the two are interleaved), with CRLF folded to LF.
	out string
	// raw is the guest's output as written, line ends untouched.
	raw string
	// diag is what the monitor itself printed (QEMU's or the launcher's
	// own complaints), kept apart so that it cannot satisfy an output check.
	diag string
}

// runSpec is one run: the image and what to hand it.
type runSpec struct {
	image   string
	args    []string
	env     []string // K=V
	memory  string   // VM memory size, e.g. "128M"; native runs ignore it
	cpus    int      // VM CPUs (at least 1); native runs ignore it
	timeout time.Duration
	// qemuArgs are extra QEMU arguments (devices); other runners ignore them.
	qemuArgs []string
	// launcherArgs are extra `unigo run` flags; other runners ignore them.
	launcherArgs []string
	// launcherEnv (K=V) is added to the launcher's own environment (its
	// measurement switches); other runners ignore it.
	launcherEnv []string
	// kparams are extra kernel parameters (KEY=VAL with a dotted key) for
	// the boot runners' command line.
	kparams []string
	// stdin is the run's standard input (the guest's console input);
	// nil: none.
	stdin io.Reader
}

// runner runs an image one way.
type runner struct {
	name string
	// boot marks runners that boot the image.
	boot bool
	// unavailable returns why this machine cannot use the runner, or "".
	unavailable func() string
	// probe names the tools/probe runner (unigo doctor's) that boots the
	// way this runner does; nil for runners that boot nothing.
	probe func() probe.Runner
	// command returns the command for a run and how to read its exit
	// status. ctx bounds the run.
	command func(ctx context.Context, s runSpec) (*exec.Cmd, decoder, error)
}

// decoder turns a finished command's exit status and monitor diagnostics
// into a guest result.
type decoder func(status int, diag string) (code int, poweredOff bool, err error)

func guestStatus(status int, diag string) (int, bool, error) { return status, false, nil }

var runners = []runner{
	{
		name:        "native",
		unavailable: func() string { return "" },
		command: func(ctx context.Context, s runSpec) (*exec.Cmd, decoder, error) {
			cmd := exec.CommandContext(ctx, s.image, s.args...)
			// Only the scenario's variables, as in a VM, so that the
			// host's environment cannot make a test pass.
			cmd.Env = append([]string{}, s.env...)
			return cmd, guestStatus, nil
		},
	},
	{
		name:        "qemu",
		boot:        true,
		unavailable: qemuUnavailable,
		probe: func() probe.Runner {
			if kvmBootsKernel() {
				return probe.QEMUKVM
			}
			return probe.QEMUTCG
		},
		command: func(ctx context.Context, s runSpec) (*exec.Cmd, decoder, error) {
			args, err := qemuArgs(s, kvmBootsKernel())
			if err != nil {
				return nil, nil, err
			}
			return exec.CommandContext(ctx, qemuBinary, args...), decodeQEMUStatus, nil
		},
	},
	{
		name:        "launcher",
		boot:        true,
		unavailable: launcherUnavailable,
		probe:       func() probe.Runner { return probe.Launcher },
		command: func(ctx context.Context, s runSpec) (*exec.Cmd, decoder, error) {
			args := []string{"run", "-m", s.memory, "-smp", strconv.Itoa(max(1, s.cpus)), "-timeout", s.timeout.String()}
			args = append(args, s.launcherArgs...)
			if len(s.kparams) > 0 {
				args = append(args, "-cmdline", strings.Join(s.kparams, " "))
			}
			for _, kv := range s.env {
				args = append(args, "-e", kv)
			}
			args = append(args, s.image, "--")
			args = append(args, s.args...)
			cmd := exec.CommandContext(ctx, unigoBin, args...)
			if len(s.launcherEnv) > 0 {
				cmd.Env = append(os.Environ(), s.launcherEnv...)
			}
			return cmd, guestStatus, nil
		},
	},
}

// runnerNamed returns the runner called name.
func runnerNamed(name string) runner {
	for _, r := range runners {
		if r.name == name {
			return r
		}
	}
	panic("no runner " + name)
}

// check skips t when this machine lacks what r needs (QEMU not installed,
// no usable /dev/kvm: r.unavailable's reason), and fails it at once when r
// is there but cannot boot at all: the first check of a boot runner boots
// unigo doctor's probe guest (examples/hello) under it once, and if that
// fails, every test of the runner fails with the probe's one line, instead
// of each sitting out its own timeout.
func (r runner) check(t testing.TB) {
	t.Helper()
	skip, fail := r.status()
	if skip != "" {
		t.Skip(skip)
	}
	if fail != "" {
		t.Fatal(fail)
	}
}

// status is check's decision: why to skip, or why to fail, or neither.
func (r runner) status() (skip, fail string) {
	if why := r.unavailable(); why != "" {
		return why, ""
	}
	if r.probe == nil {
		return "", ""
	}
	if res := probeBoot(r.probe()); !res.OK {
		return "", fmt.Sprintf("the %s runner cannot boot on this host (unigo doctor's probe): %s", r.name, res.Line())
	}
	return "", ""
}

// probePkg is the guest the probe boots.
const probePkg = "./examples/hello"

var (
	probeMu      sync.Mutex
	probeResults = map[probe.Runner]probe.Result{}
)

// probeBoot boots the probe guest under pr, once per test binary; callers
// that come while it runs wait for its result.
func probeBoot(pr probe.Runner) probe.Result {
	probeMu.Lock()
	defer probeMu.Unlock()
	if res, ok := probeResults[pr]; ok {
		return res
	}
	res := probe.Boot(context.Background(), pr, probe.Config{Image: images[probePkg], Unigo: unigoBin})
	if testing.Verbose() {
		fmt.Printf("probe: %s; guest: %s\n", res.Line(), res.GuestLine())
	}
	probeResults[pr] = res
	return res
}

// forBootRunners runs test as a subtest under every runner that boots the
// image, skipping (with the reason) those this machine cannot use; a
// runner that cannot boot at all fails each subtest at once
// (runner.check).
func forBootRunners(t *testing.T, test func(t *testing.T, r runner)) {
	for _, r := range runners {
		if !r.boot {
			continue
		}
		t.Run(r.name, func(t *testing.T) {
			r.check(t)
			test(t, r)
		})
	}
}

// run executes s with r and returns the guest's result. Exceeding
// s.timeout is an error that carries the output so far.
func (r runner) run(t testing.TB, s runSpec) (result, error) {
	timeout := s.timeout
	if r.name == "qemu" && !kvmBootsKernel() {
		timeout *= tcgSlowdown
	}
	if r.name == "launcher" {
		// The launcher stops the guest at s.timeout itself, after printing
		// its state (vCPUs, kernel events): leave it the time to.
		timeout += launcherDumpGrace
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// A monitor that reports a wedged guest cancels the run at once
	// instead of letting it sit out the timeout.
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	cmd, decode, err := r.command(ctx, s)
	if err != nil {
		return result{}, fmt.Errorf("%s: %v", r.name, err)
	}
	var stdout bytes.Buffer
	stderr := &fatalWatcher{stop: stop}
	if r.name == "native" {
		// Natively stderr is the guest's own; in a VM the guest only has
		// the serial port and the monitor owns stderr.
		cmd.Stdout, cmd.Stderr = &stdout, &stdout
	} else {
		cmd.Stdout, cmd.Stderr = &stdout, stderr
	}
	if s.stdin != nil {
		cmd.Stdin = s.stdin
	}
	cmd.Dir = t.TempDir()
	// Kill a monitor's stray children's hold on our pipes too.
	cmd.WaitDelay = 5 * time.Second
	if _, bench := t.(*testing.B); !bench { // one line per iteration would drown the results
		t.Logf("%s: %s", r.name, strings.Join(cmd.Args, " "))
	}
	err = cmd.Run()
	res := result{
		out:  strings.ReplaceAll(stdout.String(), "\r\n", "\n"),
		raw:  stdout.String(),
		diag: stderr.String(),
	}
	if cause := context.Cause(ctx); errors.Is(cause, errGuestWedged) {
		return res, fmt.Errorf("%s: %w; output:\n%s%s", r.name, cause, res.out, res.diag)
	}
	if ctx.Err() == context.DeadlineExceeded {
		return res, fmt.Errorf("%s run timed out after %v; output so far:\n%s%s", r.name, timeout, res.out, res.diag)
	}
	status := 0
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr) && exitErr.Exited():
		status = exitErr.ExitCode()
	default:
		return res, fmt.Errorf("%s run failed to start or was killed: %v\n%s%s", r.name, err, res.out, res.diag)
	}
	if r.name == "launcher" && status == 124 && strings.Contains(res.diag, "unigo run: guest timed out") {
		return res, fmt.Errorf("%s run timed out after %v; output so far and the launcher's dump:\n%s%s", r.name, s.timeout, res.out, res.diag)
	}
	res.code, res.poweredOff, err = decode(status, res.diag)
	return res, err
}

// launcherDumpGrace is how long a launcher run may outlast its -timeout,
// for the dump of the stopped guest (vmm.DumpWait plus printing).
const launcherDumpGrace = 5 * time.Second

// errGuestWedged is the cause of a run stopped because the monitor said the
// guest can no longer make progress.
var errGuestWedged = errors.New("guest wedged, run stopped early")

// wedgedMarkers are monitor messages after which the guest never runs again:
// QEMU pauses the VM on a KVM internal error (e.g. an instruction KVM cannot
// emulate) and waits forever.
var wedgedMarkers = []string{"KVM internal error"}

// fatalWatcher collects a monitor's stderr and stops the run when a
// wedgedMarkers message appears.
type fatalWatcher struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	stop  context.CancelCauseFunc
	fired bool
}

func (w *fatalWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for _, m := range wedgedMarkers {
		if !w.fired && bytes.Contains(w.buf.Bytes(), []byte(m)) {
			w.fired = true
			// Let the register dump that follows the marker arrive.
			stop := w.stop
			time.AfterFunc(500*time.Millisecond, func() {
				stop(fmt.Errorf("%w: monitor reported %q", errGuestWedged, m))
			})
		}
	}
	return len(p), nil
}

func (w *fatalWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// --- QEMU ---

const qemuBinary = probe.QEMUBinary

// tcgSlowdown stretches timeouts when QEMU has to emulate the CPU. Kept
// modest so that a hung scenario cannot eat the CI budget (90 minutes for
// everything): the longest scenario timeout times this must stay well
// under it.
const tcgSlowdown = 4

// host is what this machine offers (unigo doctor's host detection).
var host = probe.DetectOnce

func qemuUnavailable() string { return host().Absent(probe.QEMUTCG) }

// kvmUsable reports whether /dev/kvm can be opened for KVM acceleration.
func kvmUsable() bool { return host().KVM.Usable() }

// pvmHost reports whether /dev/kvm is served by the PVM module (kvm_pvm)
// found on this project's machines. The kernel runs there in its CPL-3
// SYSCALL mode (docs/ARCHITECTURE.md); QEMU's runs keep to TCG on such
// hosts, whose results are stable, and the launcher covers KVM.
func pvmHost() bool { return host().KVM.Kind == probe.KVMPVM }

// kvmBootsKernel reports whether QEMU runs the kernel with -accel kvm.
func kvmBootsKernel() bool { return kvmUsable() && !pvmHost() }

func launcherUnavailable() string { return host().Absent(probe.Launcher) }

// qemuArgs is the QEMU command line for a run (probe.QEMUArgs, as unigo
// doctor boots it) plus the run's extra QEMU arguments.
func qemuArgs(s runSpec, kvm bool) ([]string, error) {
	cmdline, err := bootCmdline(s)
	if err != nil {
		return nil, err
	}
	qemuArgs := probe.QEMUArgs
	if s.stdin != nil {
		qemuArgs = probe.QEMUArgsStdinPort // as unigo run does when stdin is no terminal
	}
	return append(qemuArgs(kvm, s.image, s.memory, s.cpus, cmdline), s.qemuArgs...), nil
}

// decodeQEMUStatus maps QEMU's exit status to the guest's exit code
// (probe.DecodeQEMUStatus).
var decodeQEMUStatus decoder = probe.DecodeQEMUStatus

// bootCmdline is the PVH command line (QEMU -append) for a run: the
// environment, unigo.argv0 naming the image (what os.Args[0] is natively),
// then "--" and the arguments, in the syntax of abi.Compose, which the
// kernel's parser reads back.
func bootCmdline(s runSpec) (string, error) {
	kparams := append([]string{"unigo.argv0=" + filepath.Base(s.image)}, s.kparams...)
	return abi.Compose(s.env, kparams, s.args)
}

// describeStatus is a human-readable exit summary for failure messages.
func describeStatus(r result) string {
	if r.poweredOff {
		return "VM powered off without an exit code"
	}
	return "exit code " + strconv.Itoa(r.code)
}
