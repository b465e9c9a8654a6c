package tests

import (
	"context"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/abi"
)

// Unit tests of the harness itself: they need no guest to boot.

func TestDecodeQEMUStatus(t *testing.T) {
	for _, tc := range []struct {
		status     int
		diag       string
		code       int
		poweredOff bool
		err        string
	}{
		{status: 1, code: 0},
		{status: 15, code: 7},
		{status: 5, code: 2},
		{status: 0, poweredOff: true},
		{status: 1, diag: "qemu-system-x86_64: -kernel x: No such file", err: "qemu failed"},
		{status: 2, diag: "oops", err: "status 2"},
	} {
		code, off, err := decodeQEMUStatus(tc.status, tc.diag)
		if tc.err != "" {
			assert.ErrorContains(t, err, tc.err, "status %d", tc.status)
			continue
		}
		require.NoError(t, err, "status %d", tc.status)
		assert.Equal(t, tc.code, code, "status %d", tc.status)
		assert.Equal(t, tc.poweredOff, off, "status %d", tc.status)
	}
}

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
	assert.Equal(t, []string{"-kernel", "/x.img", "-append", "K=V unigo.argv0=x.img -- a"}, kvm[len(kvm)-4:])
	i := slices.Index(kvm, "-m")
	require.GreaterOrEqual(t, i, 0)
	assert.Equal(t, "256M", kvm[i+1])
	assert.Contains(t, kvm, "isa-debug-exit,iobase=0xf4,iosize=4")

	tcg, err := qemuArgs(s, false)
	require.NoError(t, err)
	assert.Equal(t, []string{"-accel", "tcg", "-cpu", "max"}, tcg[2:6])
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
