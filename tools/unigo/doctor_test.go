package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/tools/launch/launchtest"
	"github.com/unigo-os/unigo/tools/probe"
	"github.com/unigo-os/unigo/tools/vmm/testguest"
)

// TestDoctor runs `unigo doctor` end to end on this host (building
// examples/hello, booting it under every runner) and checks its lines
// against what the host offers.
func TestDoctor(t *testing.T) {
	bin := launchtest.Binaries(t)
	cmd := exec.Command(bin, "doctor")
	cmd.Dir = t.TempDir() // outside the tree: doctor finds it itself
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	out := stdout.String()
	t.Logf("unigo doctor (exit %d):\n%s%s", code, out, stderr.String())

	h := probe.Detect()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	want := []string{
		`cpu: +` + regexp.QuoteMeta(h.CPU.String()),
		`/dev/kvm: +` + regexp.QuoteMeta(h.KVM.String()),
		`qemu: +` + regexp.QuoteMeta(h.QEMU.String()),
		`host xcr0: +(0x[0-9a-f]+ \(.*\)|unknown .*)`,
	}
	if h.LauncherXSaveOK {
		want = append(want, `cpuid 0xd: +components 0x[0-9a-f]+ \(.*\), size \d+ for XCR0 \(ebx\), \d+ for all \(ecx\), as the launcher gives it`)
	}
	want = append(want, `image: +examples/hello from .* \(built in .*\)`)
	launcher := len(want)
	for _, r := range probe.Runners {
		if why := h.Absent(r); why != "" {
			want = append(want, string(r)+`: +skipped: `+regexp.QuoteMeta(why))
			continue
		}
		want = append(want, string(r)+`: +(ok \d+(\.\d+)?m?s|FAILED: .+)`, ` +guest: .+`)
	}
	want = append(want, `verdict: +.+`)
	require.Len(t, lines, len(want), out)
	for i, re := range want {
		assert.Regexp(t, "^"+re+"$", lines[i])
	}
	// A runner that booted the guest shows the kernel's unigo.cpuinfo=1
	// line, as probe.ParseGuestCPU read it.
	for i, l := range lines[:len(lines)-1] {
		if regexp.MustCompile(`^[a-z-]+: +ok `).MatchString(l) {
			assert.Regexp(t, `^ +guest: vendor=\S+ xcr0=0x[0-9a-f]+ cpuid-xsave-size=\d+ xsave-mask=0x[0-9a-f]+ xsave-size=\d+ pvm=[01] pvm-abi=[01]( \(.*\))?$`, lines[i+1])
		}
	}
	if h.KVM.Usable() {
		// The launcher must work wherever /dev/kvm does: the end-to-end
		// tests fail there otherwise too.
		assert.Regexp(t, `^launcher: +ok `, lines[launcher])
		assert.Equal(t, 0, code)
		assert.Contains(t, lines[len(lines)-1], "ok: the launcher boots unigo images on this host")
	} else {
		assert.Equal(t, 1, code)
	}
}

func TestDoctorUsage(t *testing.T) {
	var out, errb bytes.Buffer
	assert.Equal(t, 0, doctor([]string{"-h"}, &out, &errb))
	assert.Contains(t, out.String(), "usage: unigo doctor")
	assert.Contains(t, out.String(), "-image IMAGE")
	out.Reset()
	assert.Equal(t, 2, doctor([]string{"extra"}, &out, &errb))
	assert.Equal(t, 2, doctor([]string{"-timeout", "0s"}, &out, &errb))
	assert.Equal(t, 2, doctor([]string{"-bogus"}, &out, &errb))
}

// TestDoctorNoImage checks that a missing -image is a launcher failure
// with its one-line reason, not a hang.
func TestDoctorNoImage(t *testing.T) {
	h := probe.Detect()
	if why := h.Absent(probe.Launcher); why != "" {
		t.Skip(why)
	}
	bin := launchtest.Binaries(t)
	defer func(f func() (string, error)) { doctorUnigo = f }(doctorUnigo)
	doctorUnigo = func() (string, error) { return bin, nil }
	var out, errb bytes.Buffer
	code := doctor([]string{"-image", filepath.Join(t.TempDir(), "missing.img"), "-timeout", "5s"}, &out, &errb)
	assert.Equal(t, 1, code)
	assert.Regexp(t, `(?m)^launcher: +FAILED: .*missing.img: no such file or directory$`, out.String())
	assert.Regexp(t, `(?m)^qemu-(kvm|tcg): +(FAILED: .*missing.img: no such file or directory|skipped: .*)$`, out.String())
	assert.Regexp(t, `(?m)^verdict: +the launcher does not boot`, out.String())
}

// TestDoctorHangingGuest checks the case doctor exists for: a guest that
// never finishes booting costs each runner its timeout, once, and ends in
// a one-line reason.
func TestDoctorHangingGuest(t *testing.T) {
	h := probe.Detect()
	if why := h.Absent(probe.Launcher); why != "" {
		t.Skip(why)
	}
	bin := launchtest.Binaries(t)
	defer func(f func() (string, error)) { doctorUnigo = f }(doctorUnigo)
	doctorUnigo = func() (string, error) { return bin, nil }
	img := writeImage(t, testguest.Hang())
	var out, errb bytes.Buffer
	start := time.Now()
	code := doctor([]string{"-image", img, "-timeout", "2s"}, &out, &errb)
	t.Logf("%s%s", out.String(), errb.String())
	assert.Equal(t, 1, code)
	assert.Less(t, time.Since(start), 30*time.Second)
	assert.Regexp(t, `(?m)^launcher: +FAILED: no exit after 2s; no output$`, out.String())
	assert.Regexp(t, `(?m)^qemu-(kvm|tcg): +(FAILED: no exit after 2s; no output|skipped: .*)$`, out.String())
	assert.Regexp(t, `(?m)^ +guest: \(not reported\)$`, out.String())
}
