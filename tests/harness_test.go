package tests

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/tools/probe"
)

// Unit tests of the harness itself: they need no guest to boot.

func TestBootCmdline(t *testing.T) {
	// Whatever the harness composes, the kernel's parser must read back.
	s := runSpec{
		image: "/tmp/x/app.img",
		args:  []string{"alpha", "-n=3", "two words", "", `q"\`, "--"},
		env:   []string{"A=1", "B=x=y", "M=a b"},
	}
	line, err := bootCmdline(s)
	require.NoError(t, err)
	env, params, args, err := abi.Parse(line)
	require.NoError(t, err)
	assert.Equal(t, s.env, env)
	assert.Equal(t, []string{"unigo.argv0=app.img"}, params)
	assert.Equal(t, s.args, args)

	_, err = bootCmdline(runSpec{image: "x", env: []string{"NOEQUALS"}})
	assert.Error(t, err)
}

func TestQEMUArgs(t *testing.T) {
	s := runSpec{image: "/x.img", args: []string{"a"}, env: []string{"K=V"}, memory: "256M", timeout: time.Second}
	kvm, err := qemuArgs(s, true)
	require.NoError(t, err)
	assert.Equal(t, []string{"-accel", "kvm", "-cpu", "host,-arch-capabilities"}, kvm[2:6])
	assert.Equal(t, []string{"-kernel", "/x.img", "-initrd", "/x.img", "-append", "K=V unigo.argv0=x.img -- a"}, kvm[len(kvm)-6:])
	i := slices.Index(kvm, "-m")
	require.GreaterOrEqual(t, i, 0)
	assert.Equal(t, "256M", kvm[i+1])
	assert.Contains(t, kvm, "isa-debug-exit,iobase=0xf4,iosize=4")

	tcg, err := qemuArgs(s, false)
	require.NoError(t, err)
	assert.Equal(t, []string{"-accel", "tcg", "-cpu", "max"}, tcg[2:6])
	assert.Contains(t, strings.Join(tcg, " "), "-serial stdio")
	assert.Contains(t, strings.Join(tcg, " "), "-device virtio-balloon-device,free-page-reporting=on", "free page reporting")

	s.stdin = strings.NewReader("x")
	port, err := qemuArgs(s, false)
	require.NoError(t, err)
	assert.Contains(t, strings.Join(port, " "), "-device virtserialport,chardev=stdin0,nr=1", "stdin on a virtio-serial port")
	assert.NotContains(t, strings.Join(port, " "), "-serial stdio")
}

// TestRunTimeout checks that a run that overstays its timeout fails clearly
// instead of hanging the test binary.
func TestRunTimeout(t *testing.T) {
	native := runners[0]
	require.Equal(t, "native", native.name)
	_, err := native.run(t, runSpec{image: "/bin/sleep", args: []string{"10"}, timeout: 200 * time.Millisecond})
	require.ErrorContains(t, err, "timed out after 200ms")
}

// TestRunStopsWedgedGuest checks that a monitor reporting a KVM internal
// error (after which QEMU pauses the VM forever) ends the run at once.
func TestRunStopsWedgedGuest(t *testing.T) {
	fake := runner{
		name: "fake-monitor",
		command: func(ctx context.Context, s runSpec) (*exec.Cmd, decoder, error) {
			return exec.CommandContext(ctx, "/bin/sh", "-c", `echo booting; echo "KVM internal error. Suberror: 1" >&2; echo "RAX=0" >&2; exec sleep 30`), guestStatus, nil
		},
	}
	start := time.Now()
	res, err := fake.run(t, runSpec{timeout: 20 * time.Second})
	require.ErrorIs(t, err, errGuestWedged)
	assert.Less(t, time.Since(start), 10*time.Second)
	assert.Equal(t, "booting\n", res.out)
	assert.Contains(t, res.diag, "RAX=0")
}

// TestRunnerCheck checks runner.check's decisions: an absent runner skips
// with its reason, a runner whose probe boot failed fails at once with the
// probe's line, and the probe boots once per runner.
func TestRunnerCheck(t *testing.T) {
	const broken, working probe.Runner = "test-broken", "test-working"
	probeMu.Lock()
	probeResults[broken] = probe.Result{Runner: broken, Reason: "no exit after 30s; no output"}
	probeResults[working] = probe.Result{Runner: working, OK: true}
	probeMu.Unlock()
	defer func() {
		probeMu.Lock()
		delete(probeResults, broken)
		delete(probeResults, working)
		probeMu.Unlock()
	}()
	present := func() string { return "" }

	skip, fail := runner{name: "absent", unavailable: func() string { return "no such monitor" },
		probe: func() probe.Runner { return broken }}.status()
	assert.Equal(t, "no such monitor", skip)
	assert.Empty(t, fail)

	start := time.Now()
	skip, fail = runner{name: "stuck", unavailable: present, probe: func() probe.Runner { return broken }}.status()
	assert.Empty(t, skip)
	assert.Equal(t, "the stuck runner cannot boot on this host (unigo doctor's probe): test-broken: FAILED: no exit after 30s; no output", fail)
	assert.Less(t, time.Since(start), time.Second)

	skip, fail = runner{name: "fine", unavailable: present, probe: func() probe.Runner { return working }}.status()
	assert.Empty(t, skip)
	assert.Empty(t, fail)

	skip, fail = runner{name: "native", unavailable: present}.status()
	assert.Empty(t, skip)
	assert.Empty(t, fail)
}
