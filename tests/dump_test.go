package tests

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// spinPkg is the guest that wedges on purpose, in spinForever.
const spinPkg = "./tests/guests/spin"

// needLauncher skips when this machine has no launcher and fails at once
// when the launcher cannot boot at all (runner.check).
func needLauncher(t *testing.T) {
	t.Helper()
	runnerNamed("launcher").check(t)
}

// spinCommand is `unigo run` of the spinning guest on two vCPUs: the
// spinning thread keeps its own CPU, the runtime's other threads use the
// second one.
func spinCommand(ctx context.Context, t *testing.T, timeout string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, unigoBin, "run", "-m", "128M", "-smp", "2", "-timeout", timeout,
		"-e", "GODEBUG=asyncpreemptoff=1", images[spinPkg])
	cmd.Dir = t.TempDir()
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// checkDump checks the launcher's dump of the spinning guest: a vCPU is
// in spinForever, called from main.main, and the kernel's trace ring
// shows its recent entries.
func checkDump(t *testing.T, stderr string) {
	t.Helper()
	assert.Contains(t, stderr, "unigo: guest state, 2 vCPU(s)")
	assert.Contains(t, stderr, "\nvCPU 1: ")
	assert.Regexp(t, regexp.MustCompile(`(?m)^vCPU [01]: main\.spinForever\+0x[0-9a-f]+ .* at CPL 3$`), stderr)
	assert.Regexp(t, regexp.MustCompile(`(?m)^  #1  0x[0-9a-f]+ main\.main \(.*tests/guests/spin/main\.go:\d+\)$`), stderr)
	assert.Contains(t, stderr, "=> main.spinForever+0x", "the instruction at RIP")
	_, events, ok := strings.Cut(stderr, "kernel events, the last 64 of all CPUs")
	require.True(t, ok, "no event section:\n%s", stderr)
	syscalls := regexp.MustCompile(`(?m)^ +[01] +-?[0-9.]+ +syscall \d+ +runtime\.`).FindAllString(events, -1)
	assert.NotEmpty(t, syscalls, "system calls in the trace ring:\n%s", events)
	assert.GreaterOrEqual(t, strings.Count(events, "\n"), 32, "the ring holds recent events:\n%s", events)
}

// TestDumpOnTimeout: when -timeout expires, `unigo run` prints the
// guest's state and exits 124.
func TestDumpOnTimeout(t *testing.T) {
	needLauncher(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := spinCommand(ctx, t, "3s")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "%v\n%s%s", err, stdout.String(), stderr.String())
	assert.Equal(t, 124, exit.ExitCode(), stderr.String())
	assert.Equal(t, "spin: spinning\n", strings.ReplaceAll(stdout.String(), "\r\n", "\n"))
	assert.Contains(t, stderr.String(), "unigo run: timeout after 3s: dumping the guest\n")
	assert.Contains(t, stderr.String(), "unigo run: guest timed out after 3s\n")
	checkDump(t, stderr.String())
	if t.Failed() {
		t.Log(stderr.String())
	}
}

// TestDumpOnSIGQUIT: SIGQUIT makes `unigo run` print the guest's state
// and exit 131.
func TestDumpOnSIGQUIT(t *testing.T) {
	needLauncher(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := spinCommand(ctx, t, "50s")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err, stderr.String())
	require.Equal(t, "spin: spinning", strings.TrimRight(line, "\r\n"))
	time.Sleep(200 * time.Millisecond) // into the loop
	require.NoError(t, cmd.Process.Signal(syscall.SIGQUIT))
	io.Copy(io.Discard, out)
	err = cmd.Wait()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "%v\n%s", err, stderr.String())
	assert.Equal(t, 131, exit.ExitCode(), stderr.String())
	assert.Contains(t, stderr.String(), "unigo run: SIGQUIT: dumping the guest\n")
	assert.Contains(t, stderr.String(), "unigo run: stopped by quit\n")
	checkDump(t, stderr.String())
	if t.Failed() {
		t.Log(stderr.String())
	}
}

// TestLauncherRunnerTimeout: a launcher run that overstays its timeout
// fails with the launcher's dump in the error, which names where the
// guest was stuck.
func TestLauncherRunnerTimeout(t *testing.T) {
	needLauncher(t)
	launcher := runners[2]
	require.Equal(t, "launcher", launcher.name)
	_, err := launcher.run(t, runSpec{image: images[spinPkg], memory: "128M", cpus: 2, timeout: 2 * time.Second})
	require.ErrorContains(t, err, "launcher run timed out after 2s")
	assert.ErrorContains(t, err, "spin: spinning")
	assert.ErrorContains(t, err, "main.spinForever")
}
