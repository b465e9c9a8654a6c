package main

import (
	"fmt"
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

	"github.com/unigo-os/unigo/tools/vmm/testguest"
)

// TestRunSignalDuringBuild: SIGTERM or SIGINT while `unigo run` builds
// kills the go command and its children and removes the temporary
// directories. A fake go on PATH stands for a long build.
func TestRunSignalDuringBuild(t *testing.T) {
	bin := unigoBinary(t)
	for sig, want := range map[syscall.Signal]int{syscall.SIGTERM: exitSIGTERM, syscall.SIGINT: exitSIGINT} {
		dir := t.TempDir()
		fakeBin, tmp := filepath.Join(dir, "bin"), filepath.Join(dir, "tmp")
		require.NoError(t, os.Mkdir(fakeBin, 0o755))
		require.NoError(t, os.Mkdir(tmp, 0o755))
		pids := filepath.Join(dir, "pids")
		require.NoError(t, os.WriteFile(filepath.Join(fakeBin, "go"), []byte("#!/bin/sh\nsleep 60 &\necho $$ $! >> "+pids+"\nwait\n"), 0o755))
		src := filepath.Join(dir, "main.go")
		require.NoError(t, os.WriteFile(src, []byte("package main\nfunc main() {}\n"), 0o644))

		cmd := exec.Command(bin, "run", src)
		cmd.Env = append(os.Environ(), "PATH="+fakeBin+":/usr/bin:/bin", "TMPDIR="+tmp)
		var stderr syncWriter
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		require.Eventually(t, func() bool { b, _ := os.ReadFile(pids); return len(b) > 0 }, 10*time.Second, 5*time.Millisecond)
		require.NoError(t, cmd.Process.Signal(sig))
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		var err error
		select {
		case err = <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("unigo run still builds 10s after %v", sig)
		}
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee)
		assert.Equal(t, want, ee.ExitCode(), stderr.String())
		assert.Contains(t, stderr.String(), "stopped by")

		b, _ := os.ReadFile(pids)
		for _, f := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(f)
			require.NoError(t, err)
			// Gone, or a zombie of an exited parent: no longer running.
			assert.Eventually(t, func() bool {
				st, err := os.ReadFile("/proc/" + f + "/stat")
				return err != nil || strings.Contains(string(st), ") Z ")
			}, 5*time.Second, 10*time.Millisecond, "process %d still runs", pid)
		}
		left, err := os.ReadDir(tmp)
		require.NoError(t, err)
		assert.Empty(t, left, "temporary files left behind")
	}
}

// TestRunJail: with -jail the running launcher has a seccomp filter, no
// new privileges and (started as root) no capabilities, and still serves
// its guest: SMP, the SIGQUIT dump, the timeout.
func TestRunJail(t *testing.T) {
	kvmOK(t)
	bin := unigoBinary(t)
	// Out of process: in-process, -jail would confine the test binary.
	cmd := exec.Command(bin, "run", "-jail", "-v", "-smp", "2", "-timeout", "3s", writeImage(t, testguest.Hang()))
	var stderr syncWriter
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "first vCPU run") }, 10*time.Second, 5*time.Millisecond)
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	require.NoError(t, err)
	assert.Contains(t, string(st), "Seccomp:\t2\n")
	assert.Contains(t, string(st), "NoNewPrivs:\t1\n")
	if os.Geteuid() == 0 {
		assert.Contains(t, string(st), "CapEff:\t0000000000000000\n")
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGQUIT))
	err = cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, exitSIGQUIT, ee.ExitCode(), stderr.String())
	assert.Contains(t, stderr.String(), "unigo run: SIGQUIT: dumping the guest\nunigo: guest state, 2 vCPU(s)\n")

	cmd = exec.Command(bin, "run", "-jail", "-timeout", "500ms", writeImage(t, testguest.Hang()))
	out, err := cmd.CombinedOutput()
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, exitTimeout, ee.ExitCode(), "%s", out)
	assert.Contains(t, string(out), "guest timed out")
}
