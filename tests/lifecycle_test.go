package tests

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	sigtermPkg = "./tests/guests/sigterm"
	readyPkg   = "./tests/guests/ready"
)

// TestLifecycleSIGTERM sends the launcher SIGTERM as a container runtime
// would: a guest that asks for it (signal.Notify) sees it and exits 0; one
// that ignores it is stopped after -grace with 143. -status ends each run
// with the line a supervisor parses.
func TestLifecycleSIGTERM(t *testing.T) {
	needLauncher(t)
	for _, tc := range []struct {
		name     string
		args     []string
		ready    string
		wantOut  string
		wantCode int
		wantErr  string
	}{
		{"handled", nil, "sigterm: waiting", "sigterm: got terminated, exiting\n", 0,
			"unigo-status: code=0 reason=exit\n"},
		{"ignored", []string{"--", "ignore"}, "sigterm: ignoring SIGTERM", "", 143,
			"the guest did not exit within 1s of terminated\nunigo-status: code=143 reason=signal\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"run", "-m", "128M", "-grace", "1s", "-status", images[sigtermPkg]}, tc.args...)
			cmd := exec.Command(unigoBin, args...)
			var stdout, stderr syncBuffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			require.NoError(t, cmd.Start())
			defer cmd.Process.Kill()
			require.Eventually(t, func() bool { return strings.Contains(stdout.String(), tc.ready) },
				30*time.Second, 10*time.Millisecond, "stdout %q stderr %q", &stdout, &stderr)
			sent := time.Now()
			require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
			err := cmd.Wait()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tc.wantCode, code, "stderr %q", &stderr)
			if tc.wantOut != "" {
				assert.Contains(t, stdout.String(), tc.wantOut)
			}
			assert.Contains(t, stderr.String(), "unigo run: terminated: delivered to the guest; stopping it in 1s\n")
			assert.True(t, strings.HasSuffix(stderr.String(), tc.wantErr), "stderr %q", &stderr)
			if tc.wantCode == 143 {
				assert.GreaterOrEqual(t, time.Since(sent), time.Second)
			}
		})
	}
}

// TestLifecycleReady boots examples/httpd: the launcher creates -ready-file
// and prints the ready line once the guest listens, the page is served at
// once, and SIGTERM ends it with httpd's graceful shutdown (exit 0). Under
// -jail too, where (as root) the jailer creates the file when its jailed
// launcher says the guest is ready, and passes SIGTERM on.
func TestLifecycleReady(t *testing.T) {
	needLauncher(t)
	for _, jail := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "jail"}[jail], func(t *testing.T) {
			port := freePorts(t, 1)[0]
			readyFile := filepath.Join(t.TempDir(), "ready")
			args := []string{"run", "-m", "128M", "-status", "-ready-file", readyFile, "-p", fmt.Sprintf("%d:8080", port)}
			if jail {
				args = append(args, "-jail")
			}
			cmd := exec.Command(unigoBin, append(args, images[httpdPkg])...)
			var stdout, stderr syncBuffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			require.NoError(t, cmd.Start())
			defer cmd.Process.Kill()
			require.Eventually(t, func() bool { _, err := os.Stat(readyFile); return err == nil },
				60*time.Second, 10*time.Millisecond, "stdout %q stderr %q", &stdout, &stderr)
			assert.Contains(t, stderr.String(), "unigo-status: ready\n")
			resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode)

			require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
			require.NoError(t, cmd.Wait(), "stderr %q", &stderr)
			assert.True(t, strings.HasSuffix(stderr.String(), "unigo-status: code=0 reason=exit\n"), "stderr %q", &stderr)
		})
	}
}

// TestLifecycleReadyCall: a program that defers readiness (package notify)
// is not reported ready when it listens, only when it calls notify.Ready.
func TestLifecycleReadyCall(t *testing.T) {
	needLauncher(t)
	for _, tc := range []struct {
		arg       string
		wantReady bool
	}{{"listen-only", false}, {"call", true}} {
		t.Run(tc.arg, func(t *testing.T) {
			readyFile := filepath.Join(t.TempDir(), "ready")
			cmd := exec.Command(unigoBin, "run", "-m", "128M", "-status", "-ready-file", readyFile, images[readyPkg], "--", tc.arg)
			var stdout, stderr syncBuffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			require.NoError(t, cmd.Run(), "stdout %q stderr %q", &stdout, &stderr)
			assert.Contains(t, stdout.String(), "ready: listening\n")
			_, err := os.Stat(readyFile)
			if tc.wantReady {
				assert.Contains(t, stdout.String(), "ready: reported\n")
				assert.Contains(t, stderr.String(), "unigo-status: ready\n")
				assert.NoError(t, err)
			} else {
				assert.NotContains(t, stderr.String(), "unigo-status: ready")
				assert.ErrorIs(t, err, os.ErrNotExist)
			}
			assert.True(t, strings.HasSuffix(stderr.String(), "unigo-status: code=0 reason=exit\n"), "stderr %q", &stderr)
		})
	}
}
