package tests

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/tools/launch/launchtest"
)

// startNetHTTPD boots examples/httpd with a forward under `unigo run`
// and waits for it to serve: the process unigo execs (the launcher), its
// network process, the forwarded port and the run's output.
func startNetHTTPD(t *testing.T) (cmd *exec.Cmd, launcher, netProc string, port int, stderr *syncBuffer) {
	t.Helper()
	port = freePorts(t, 1)[0]
	cmd = exec.Command(unigoBin, "run", "-m", "128M", "-status", "-timeout", "2m", "-p", fmt.Sprintf("%d:8080", port), images[httpdPkg])
	stdout := &syncBuffer{}
	stderr = &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Dir = t.TempDir()
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	require.Eventually(t, func() bool { return strings.Contains(stdout.String(), "httpd: serving on") },
		30*time.Second, 10*time.Millisecond, "stdout %q stderr %q", stdout, stderr)
	launcher = strconv.Itoa(cmd.Process.Pid)
	netProc = launchtest.NetPID(t, cmd.Process.Pid)
	return cmd, launcher, netProc, port, stderr
}

func exeName(t *testing.T, pid string) string {
	t.Helper()
	exe, err := os.Readlink("/proc/" + pid + "/exe")
	require.NoError(t, err)
	return filepath.Base(exe)
}

// TestNetProcess: a guest with the user-mode network runs in unigo-vmm
// (which unigo run execs), and its network in a child process of its
// own, unigo-net, that serves the forward. SIGKILL of the launcher takes
// the network process with it: no orphan keeps the port.
func TestNetProcess(t *testing.T) {
	needLauncher(t)
	cmd, launcher, np, port, _ := startNetHTTPD(t)
	assert.Equal(t, "unigo-vmm", exeName(t, launcher), "unigo run execs the launcher binary for user-mode network guests too")
	assert.Equal(t, "unigo-net", exeName(t, np))
	assert.Equal(t, []string{np}, launchtest.Children(cmd.Process.Pid), "the launcher's one child")
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "Hello from unigo!\n", string(b))

	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	cmd.Wait()
	assert.Eventually(t, func() bool { return launchtest.Gone(np) }, 5*time.Second, 10*time.Millisecond,
		"the network process outlived its launcher")
	assert.Eventually(t, func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err != nil
	}, 5*time.Second, 10*time.Millisecond, "the forward still listens")
}

// TestNetProcessKilled: SIGKILL of the network process stops the guest:
// the launcher says why on one line, ends with -status's line and exits
// 125, the network's child reaped.
func TestNetProcessKilled(t *testing.T) {
	needLauncher(t)
	cmd, _, np, _, stderr := startNetHTTPD(t)
	n, err := strconv.Atoi(np)
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(n, syscall.SIGKILL))
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee)
		assert.Equal(t, 125, ee.ExitCode(), "stderr %q", stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("the launcher outlived its network process; stderr %q", stderr)
	}
	assert.Contains(t, stderr.String(), "unigo run: the user-mode network's process exited; stopping the guest\nunigo-status: code=125 reason=error\n")
	assert.True(t, launchtest.Gone(np))
}
