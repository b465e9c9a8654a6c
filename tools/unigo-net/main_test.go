package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/unigo-os/unigo/tools/launch/launchtest"
	"github.com/unigo-os/unigo/tools/vmm/netback/netproc"
)

func netBinary(t *testing.T) string {
	return filepath.Join(filepath.Dir(launchtest.Binaries(t)), netproc.Binary)
}

// TestByHand: run without the launcher's socket, it says so on one line
// and exits 2.
func TestByHand(t *testing.T) {
	out, err := exec.Command(netBinary(t)).CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 2, ee.ExitCode())
	assert.Equal(t, 1, strings.Count(string(out), "\n"), "%s", out)
	assert.Contains(t, string(out), "unigo-net: descriptor 3")
}

// start runs unigo-net with args and the other end of a socketpair as
// descriptor 3, and returns the launcher's end.
func start(t *testing.T, args ...string) (*netproc.Remote, *exec.Cmd) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	require.NoError(t, unix.SetNonblock(fds[0], true))
	theirs := os.NewFile(uintptr(fds[1]), "theirs")
	cmd := exec.Command(netBinary(t), args...)
	cmd.ExtraFiles = []*os.File{theirs}
	require.NoError(t, cmd.Start())
	theirs.Close()
	return netproc.NewRemote(os.NewFile(uintptr(fds[0]), "ours"), nil), cmd
}

// TestHello: bad arguments and a port it cannot listen on come back as
// the hello's one-line error, and the process exits 1; good ones make it
// ready, and closing the socket ends it with 0.
func TestHello(t *testing.T) {
	r, cmd := start(t, "-p", "nonsense")
	assert.ErrorContains(t, r.Ready(), "unigo-net: invalid value \"nonsense\" for flag -p")
	r.Close()
	assert.Error(t, cmd.Wait())
	assert.Equal(t, 1, cmd.ProcessState.ExitCode())

	r, cmd = start(t, "-p", "127.0.0.1:1:80", "-p", "127.0.0.1:1:81")
	assert.ErrorContains(t, r.Ready(), "forwarded twice")
	r.Close()
	cmd.Wait()

	r, cmd = start(t, "-restrict", "-maxconns", "4")
	require.NoError(t, r.Ready())
	r.Close()
	require.NoError(t, cmd.Wait(), "exits 0 on EOF")
}
