package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/tools/probe"
)

// Runners `unigo run -runner` and `unigo test -runner` accept.
const (
	runnerLauncher = "launcher"
	runnerQEMU     = "qemu"
)

// qemuUserParams is the static network configuration of QEMU's user-mode
// network (slirp), given on the command line so the guest skips DHCP.
var qemuUserParams = []string{"unigo.ip=10.0.2.15/24", "unigo.gw=10.0.2.2", "unigo.dns=10.0.2.3"}

// runQEMU boots image under QEMU microvm with o's settings mapped onto
// QEMU's: KVM when this host's /dev/kvm can be used, else TCG. It returns
// the guest's exit code, or unigo run's own statuses (124 timeout, 125
// QEMU failed).
func runQEMU(o *runOptions, imagePath string, image []byte, env, params, gargs []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "unigo run: "+format+"\n", a...)
		return exitLauncher
	}
	host := probe.Detect()
	if why := host.Absent(probe.QEMUTCG); why != "" {
		return fail("-runner qemu: %s", why)
	}
	kvm := host.Absent(probe.QEMUKVM) == ""
	extra, params, err := qemuDeviceArgs(o, image, params)
	if err != nil {
		return fail("%v", err)
	}
	if _, safe := stdout.(*termSafe); !safe && !isTerminal(stdout) {
		// As under the launcher: output to a pipe or a file has LF line
		// ends and the guest's console is no terminal.
		params = append(params, abi.TTYParam+"=0")
	}
	cmdline, err := abi.Compose(env, params, gargs)
	if err != nil {
		return fail("%v", err)
	}
	qemuArgs := probe.QEMUArgs
	if !readerIsTerminal(stdin) {
		// A pipe, a file or nothing: its end must reach the guest, which
		// only a virtio-serial port carries.
		qemuArgs = probe.QEMUArgsStdinPort
	}
	args := qemuArgs(kvm, imagePath, fmt.Sprintf("%dM", o.mem>>20), o.smp, cmdline)
	args = append(args, extra...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, probe.QEMUBinary, args...)
	cmd.Stdin, cmd.Stdout = stdin, stdout
	if f, ok := stdout.(*os.File); ok && !readerIsTerminal(stdin) {
		// The serial port then reopens /dev/stdout: make that a pipe, so
		// that QEMU's writes share no file offset-less description with
		// a regular file the caller keeps writing to.
		cmd.Stdout = struct{ io.Writer }{f}
	}
	var diag strings.Builder
	cmd.Stderr = io.MultiWriter(stderr, &diag)
	if o.verbose {
		accel := "tcg"
		if kvm {
			accel = "kvm"
		}
		fmt.Fprintf(stderr, "unigo run: %s (-accel %s) %s\n", probe.QEMUBinary, accel, strings.Join(args, " "))
	}
	if err := cmd.Start(); err != nil {
		return fail("%v", err)
	}
	timedOut := false
	if o.timeout > 0 {
		t := time.AfterFunc(o.timeout, func() {
			timedOut = true
			cmd.Process.Signal(syscall.SIGTERM)
		})
		defer t.Stop()
	}
	err = cmd.Wait()
	if timedOut {
		fmt.Fprintf(stderr, "unigo run: guest timed out after %v\n", o.timeout)
		return exitTimeout
	}
	status := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		status = ee.ExitCode()
	} else if err != nil {
		return fail("%v", err)
	}
	code, poweredOff, err := probe.DecodeQEMUStatus(status, diag.String())
	switch {
	case err != nil:
		return fail("%v", err)
	case poweredOff:
		return 0
	}
	return code
}

// hasParam reports whether params sets key.
func hasParam(params []string, key string) bool {
	for _, p := range params {
		if k, _, _ := strings.Cut(p, "="); k == key {
			return true
		}
	}
	return false
}

// qemuDeviceArgs maps o's devices (-rng, -v, the network with -p) onto
// QEMU arguments, and adds the network's static configuration to params.
func qemuDeviceArgs(o *runOptions, image []byte, params []string) ([]string, []string, error) {
	var extra []string
	if o.rng {
		extra = append(extra, "-device", "virtio-rng-device")
	}
	modern := false // virtio-mmio devices in virtio 1.x mode, as the guest's drivers want
	if len(o.drives) > 0 {
		for _, d := range o.drives {
			if err := d.check(); err != nil {
				return nil, nil, err
			}
		}
		extra = append(extra, qemuDriveArgs(o.drives)...)
		modern = true
	}
	if len(o.volumes) > 0 {
		vargs, err := qemuVolumeArgs(o.volumes)
		if err != nil {
			return nil, nil, err
		}
		extra = append(extra, vargs...)
		modern = true
	}
	if o.net.enabled(image) {
		switch o.net.mode {
		case "", "user":
		default:
			return nil, nil, fmt.Errorf("-runner qemu: -net %s is not supported (user or none)", o.net.mode)
		}
		nd := "user,id=n0"
		for _, f := range o.net.forwards {
			h, p, err := net.SplitHostPort(f.Host)
			if err != nil {
				return nil, nil, fmt.Errorf("-p %s: %v", f.Host, err)
			}
			proto := "tcp"
			if f.UDP {
				proto = "udp"
			}
			nd += fmt.Sprintf(",hostfwd=%s:%s:%s-:%d", proto, h, p, f.GuestPort)
		}
		extra = append(extra, "-netdev", nd, "-device", "virtio-net-device,netdev=n0")
		modern = true
		if !hasParam(params, "unigo.ip") {
			params = append(params, qemuUserParams...)
		}
	}
	if modern {
		extra = append(extra, "-global", "virtio-mmio.force-legacy=false")
	}
	return extra, params, nil
}
