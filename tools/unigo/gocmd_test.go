package main

import (
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
