package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/unigo-os/unigo/tools/probe"
)

const doctorUsage = `usage: unigo doctor [-timeout DUR] [-image IMAGE] [-unigo DIR]

Prints what this host offers unigo: the CPU (vendor, model), what /dev/kvm
is (hardware VMX or SVM, the PVM module kvm_pvm, or missing/unusable and
why), QEMU's version and the host's XCR0. Then boots a small guest
(examples/hello) once under each runner: the KVM launcher (unigo run),
QEMU with -accel kvm and QEMU with TCG, and prints one line for each: ok
and the time, the reason it failed, or why it was skipped; and below it
the CPU as the guest's kernel saw it (XCR0, CPUID's XSAVE size, the save
mask and area size it uses, PVM mode), from its unigo.cpuinfo=1 line.

It builds examples/hello from the unigo source tree, so it needs Go and
the tree: run it inside a unigo checkout, or name the tree with -unigo DIR
or $UNIGO_ROOT; or hand it a prebuilt image with -image (one that prints
"Hello from unigo!" and exits 0, e.g. unigo build -o hello.img ./examples/hello).

flags:
  -timeout DUR   time allowed for each runner's boot (default 30s)
  -image IMAGE   boot IMAGE instead of building examples/hello
  -unigo DIR     the unigo source tree (default $UNIGO_ROOT, else found
                 automatically)

exit status: 0 when the launcher boots the guest, 1 when it does not (or
cannot be tried here), 2 usage error.
`

// doctorCmd implements `unigo doctor`.
func doctorCmd(args []string) int {
	return doctor(args, os.Stdout, os.Stderr)
}

// doctor is doctorCmd with explicit output, for tests.
func doctor(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("unigo doctor", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	timeout := fs.Duration("timeout", probe.DefaultTimeout, "")
	img := fs.String("image", "", "")
	root := fs.String("unigo", "", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, doctorUsage)
			return 0
		}
		fmt.Fprintf(stderr, "unigo doctor: %v\n", err)
		return 2
	}
	if fs.NArg() != 0 || *timeout <= 0 {
		fmt.Fprint(stderr, doctorUsage)
		return 2
	}
	line := func(key, value string) {
		if key != "" {
			key += ":"
		}
		fmt.Fprintf(stdout, "%-10s %s\n", key, value)
	}

	h := probe.Detect()
	line("cpu", h.CPU.String())
	line("/dev/kvm", h.KVM.String())
	line("qemu", h.QEMU.String())
	if h.XFeatures != 0 {
		line("host xcr0", probe.XFeatureNames(h.XFeatures))
	} else {
		line("host xcr0", "unknown (arch_prctl ARCH_GET_XCOMP_SUPP failed)")
	}
	if h.LauncherXSaveOK {
		line("cpuid 0xd", h.LauncherXSave.String()+", as the launcher gives it")
	}

	image := *img
	if image == "" {
		var err error
		var cleanup func()
		image, cleanup, err = buildProbeImage(*root, line)
		if err != nil {
			line("image", "FAILED: "+err.Error())
			line("verdict", "the launcher could not be tried: no guest image")
			return 1
		}
		defer cleanup()
	} else {
		line("image", image)
	}
	self, err := doctorUnigo()
	if err != nil {
		fmt.Fprintf(stderr, "unigo doctor: finding the unigo executable: %v\n", err)
		return 1
	}
	launcherOK := false
	for _, r := range probe.Runners {
		res := probe.Probe(context.Background(), h, r, probe.Config{Image: image, Unigo: self, Timeout: *timeout})
		line(string(r), res.Status())
		if res.Absent == "" {
			line("", "guest: "+res.GuestLine())
		}
		if r == probe.Launcher {
			launcherOK = res.OK
		}
	}
	if !launcherOK {
		line("verdict", "the launcher does not boot unigo images on this host")
		return 1
	}
	line("verdict", "ok: the launcher boots unigo images on this host")
	return 0
}

// doctorUnigo is the unigo CLI that runs the launcher's probe boot: this
// executable (tests replace it).
var doctorUnigo = os.Executable

// buildProbeImage builds examples/hello from the unigo tree into a
// temporary directory; cleanup removes it.
func buildProbeImage(rootFlag string, line func(key, value string)) (image string, cleanup func(), err error) {
	root, err := (&builder{root: rootFlag}).unigoRoot()
	if err != nil {
		return "", nil, fmt.Errorf("%v (unigo doctor builds examples/hello from it; or pass -image)", err)
	}
	tmp, err := os.MkdirTemp("", "unigo-doctor-")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { os.RemoveAll(tmp) }
	image = filepath.Join(tmp, "hello.img")
	start := time.Now()
	if err := buildImage(filepath.Join(root, "examples", "hello"), image); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("building examples/hello: %v", firstLineOf(err.Error()))
	}
	line("image", fmt.Sprintf("examples/hello from %s (built in %v)", root, time.Since(start).Round(100*time.Millisecond)))
	return image, cleanup, nil
}
