package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/unigo-os/unigo/abi"
)

// Runner is a way of booting an image.
type Runner string

const (
	// Launcher is unigo's own KVM launcher (`unigo run`).
	Launcher Runner = "launcher"
	// QEMUKVM is QEMU microvm with -accel kvm.
	QEMUKVM Runner = "qemu-kvm"
	// QEMUTCG is QEMU microvm with TCG emulation.
	QEMUTCG Runner = "qemu-tcg"
)

// Runners are the runners doctor probes, in the order it prints them.
var Runners = []Runner{Launcher, QEMUKVM, QEMUTCG}

// DefaultTimeout bounds one probe boot. The probe guest (examples/hello)
// boots in well under a second on every runner, TCG included; a runner
// that has not finished it by then is stuck.
const DefaultTimeout = 30 * time.Second

// DefaultWant is what the probe guest, examples/hello, prints.
const DefaultWant = "Hello from unigo!"

// Config is one probe boot.
type Config struct {
	// Image is the guest to boot: examples/hello, or any image that
	// prints Want and exits 0.
	Image string
	// Unigo is the unigo CLI, which the Launcher runner runs.
	Unigo string
	// Timeout bounds the boot; 0 means DefaultTimeout.
	Timeout time.Duration
	// Want must appear in the guest's output; "" means DefaultWant.
	Want string
}

// Result is the outcome of one probe boot.
type Result struct {
	Runner Runner
	// Absent is set when the runner could not be tried at all (Host.Absent).
	Absent string
	// OK is set when the guest booted, printed Want and exited 0.
	OK bool
	// Elapsed is the wall time of the boot, monitor start to exit.
	Elapsed time.Duration
	// Reason says in one line why the boot failed.
	Reason string
	// Guest is the kernel's CPU line (GuestCPUParam); GuestOK is false
	// when the guest did not print one, GuestErr when it was malformed.
	Guest    GuestCPU
	GuestOK  bool
	GuestErr error
	// Output is the guest's console output, Diag the monitor's own.
	Output, Diag string
}

// Line is the one-line summary: "launcher: ok 153ms", "qemu-kvm: FAILED:
// <reason>" or "qemu-tcg: skipped: <why>".
func (r Result) Line() string { return string(r.Runner) + ": " + r.Status() }

// Status is Line without the runner's name.
func (r Result) Status() string {
	switch {
	case r.Absent != "":
		return "skipped: " + r.Absent
	case r.OK:
		return fmt.Sprintf("ok %v", r.Elapsed.Round(time.Millisecond))
	}
	return "FAILED: " + r.Reason
}

// GuestLine is what the guest reported about its CPU, for doctor's
// "guest:" line.
func (r Result) GuestLine() string {
	switch {
	case r.GuestErr != nil:
		return "(malformed: " + r.GuestErr.Error() + ")"
	case !r.GuestOK:
		return "(not reported)"
	}
	return r.Guest.String()
}

// Probe boots c.Image under r on host h, or reports r absent.
func Probe(ctx context.Context, h *Host, r Runner, c Config) Result {
	if why := h.Absent(r); why != "" {
		return Result{Runner: r, Absent: why}
	}
	return Boot(ctx, r, c)
}

// Boot boots c.Image once under r with GuestCPUParam on its command line.
func Boot(ctx context.Context, r Runner, c Config) Result {
	res := Result{Runner: r}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	want := c.Want
	if want == "" {
		want = DefaultWant
	}
	fail := func(format string, a ...any) Result {
		res.Reason = fmt.Sprintf(format, a...)
		return res
	}
	if _, err := os.Stat(c.Image); err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fail("%s: %v", c.Image, err)
	}
	// The launcher enforces the timeout itself (exit 124); the context is
	// a backstop for a launcher that does not exit.
	ctx, cancel := context.WithTimeout(ctx, timeout+5*time.Second)
	defer cancel()
	var cmd *exec.Cmd
	switch r {
	case Launcher:
		if c.Unigo == "" {
			return fail("no unigo CLI to run the launcher with")
		}
		cmd = exec.CommandContext(ctx, c.Unigo, "run", "-m", "128M", "-timeout", timeout.String(),
			"-cmdline", GuestCPUParam, c.Image)
	case QEMUKVM, QEMUTCG:
		line, err := abi.Compose(nil, []string{"unigo.argv0=" + filepath.Base(c.Image), GuestCPUParam}, nil)
		if err != nil {
			return fail("%v", err)
		}
		qctx, qcancel := context.WithTimeout(ctx, timeout)
		defer qcancel()
		ctx = qctx
		cmd = exec.CommandContext(ctx, QEMUBinary, QEMUArgs(r == QEMUKVM, c.Image, "128M", 1, line)...)
	default:
		return fail("unknown runner %q", r)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 2 * time.Second
	start := time.Now()
	err := cmd.Run()
	res.Elapsed = time.Since(start)
	res.Output = strings.ReplaceAll(stdout.String(), "\r\n", "\n")
	res.Diag = stderr.String()
	res.Guest, res.GuestOK, res.GuestErr = FindGuestCPU(res.Output)

	timedOut := ctx.Err() == context.DeadlineExceeded
	status := 0
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case !timedOut && errors.As(err, &exitErr) && exitErr.Exited():
		status = exitErr.ExitCode()
	case timedOut:
		return fail("no exit after %v%s", timeout, lastOutput(res.Output, res.Diag))
	default:
		return fail("%s did not run: %v", cmd.Args[0], err)
	}

	code := status
	if r == Launcher {
		switch status {
		case 124:
			return fail("no exit after %v%s", timeout, lastOutput(res.Output, ""))
		case 70:
			// The crash report starts "guest crashed: <reason>", or
			// "unigo: vCPU N: <what>" for a failure the guest did not report.
			line := firstLine(res.Diag)
			if !strings.HasPrefix(line, "guest crashed") {
				line = "guest crashed: " + line
			}
			return fail("%s", line)
		case 125:
			return fail("%s", strings.TrimPrefix(firstLine(res.Diag), "unigo run: "))
		}
	} else {
		var poweredOff bool
		code, poweredOff, err = DecodeQEMUStatus(status, res.Diag)
		switch {
		case err != nil:
			return fail("%s", firstLine(err.Error()))
		case poweredOff:
			return fail("VM powered off without an exit code%s", lastOutput(res.Output, res.Diag))
		}
	}
	if code != 0 {
		return fail("guest exit code %d%s", code, lastOutput(res.Output, res.Diag))
	}
	if !strings.Contains(res.Output, want) {
		return fail("guest exited 0 without printing %q%s", want, lastOutput(res.Output, res.Diag))
	}
	res.OK = true
	return res
}

// lastOutput is "; last output: <line>" for the last non-empty line of out,
// else of diag, or "; no output".
func lastOutput(out, diag string) string {
	for _, s := range []string{out, diag} {
		lines := strings.Split(strings.TrimSpace(s), "\n")
		if l := strings.TrimSpace(lines[len(lines)-1]); l != "" {
			if len(l) > 160 {
				l = l[:160] + "..."
			}
			return fmt.Sprintf("; last output: %q", l)
		}
	}
	return "; no output"
}

// QEMUArgs is the QEMU command line for booting image: a microvm with the
// ISA serial port on stdio, isa-debug-exit for the exit code, a virtio
// balloon for free page reporting (modern virtio-mmio), and the image
// booted through its PVH note with cmdline (abi.Compose syntax), the image
// file passed again as its PVH module (-initrd: the guest's /init).
func QEMUArgs(kvm bool, image, memory string, cpus int, cmdline string) []string {
	return qemuArgs(kvm, image, memory, cpus, cmdline, false)
}

// QEMUArgsStdinPort is QEMUArgs with QEMU's stdin on a virtio-serial port
// instead of the serial port, whose end of input the guest never sees:
// QEMU closes the port when its stdio chardev reads end of file, and the
// kernel's virtio console (kernel/vcon) makes that the console's end of
// input. It must be a virtserialport (a virtconsole is never closed);
// nr=1 because port 0 is reserved for consoles. The serial port, which
// keeps all output (from the first boot message to a crash report),
// writes to stdout through a file chardev (one chardev only may own
// stdio). Use it when stdin is not a terminal.
func QEMUArgsStdinPort(kvm bool, image, memory string, cpus int, cmdline string) []string {
	return qemuArgs(kvm, image, memory, cpus, cmdline, true)
}

func qemuArgs(kvm bool, image, memory string, cpus int, cmdline string, stdinPort bool) []string {
	args := []string{
		"-M", "microvm,x-option-roms=off,rtc=on,isa-serial=on",
	}
	if kvm {
		// QEMU 7.2 aborts on MSR 0x10a with plain -cpu host.
		args = append(args, "-accel", "kvm", "-cpu", "host,-arch-capabilities")
	} else {
		args = append(args, "-accel", "tcg", "-cpu", "max")
	}
	args = append(args,
		"-m", memory, "-smp", strconv.Itoa(max(1, cpus)),
		"-nodefaults", "-no-user-config", "-nographic",
	)
	if stdinPort {
		args = append(args,
			"-chardev", "file,id=serial0,path=/dev/stdout,append=on", "-serial", "chardev:serial0",
			"-chardev", "stdio,id=stdin0",
			"-device", "virtio-serial-device,max_ports=2",
			"-device", "virtserialport,chardev=stdin0,nr=1",
		)
	} else {
		args = append(args, "-serial", "stdio")
	}
	return append(args,
		// Free page reporting (kernel/balloon): what the guest frees
		// leaves QEMU's resident memory.
		"-device", "virtio-balloon-device,free-page-reporting=on",
		"-global", "virtio-mmio.force-legacy=false",
		"-no-reboot",
		"-device", "isa-debug-exit,iobase=0xf4,iosize=4",
		"-kernel", image,
		// The image again as PVH module 0: the guest's /init and
		// /proc/self/exe.
		"-initrd", image,
		"-append", cmdline,
	)
}

// DecodeQEMUStatus maps QEMU's exit status to the guest's exit code.
// isa-debug-exit makes QEMU exit with (code<<1)|1, so an odd status carries a
// code. Status 0 means the VM stopped without writing one. QEMU also exits 1
// on its own errors, which look like guest code 0; those print a
// "qemu-system-x86_64:" (or "qemu:") diagnostic, which tells them apart. The exit status
// has 8 bits, so codes above 127 arrive truncated (255 reads as 127); Go
// programs exit 0, 1 or 2, or with what they pass to os.Exit.
func DecodeQEMUStatus(status int, diag string) (code int, poweredOff bool, err error) {
	switch {
	case status == 0:
		return 0, true, nil
	case status == 1 && (strings.Contains(diag, QEMUBinary+":") || strings.HasPrefix(diag, "qemu:") || strings.Contains(diag, "\nqemu:")):
		return 0, false, fmt.Errorf("qemu failed: %s", strings.TrimSpace(diag))
	case status%2 == 1:
		return (status - 1) / 2, false, nil
	default:
		return 0, false, fmt.Errorf("qemu exited with status %d, which isa-debug-exit cannot produce: %s", status, strings.TrimSpace(diag))
	}
}
