// Package launchtest is test support for the launcher's process tree,
// shared by the tools' tests and the end-to-end tests: it builds the CLI
// with, next to it, the launcher binary that `unigo run` execs, and finds
// the process that runs the VM under a `unigo run` (the jailer's child
// with -jail as root).
package launchtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// Binaries builds tools/unigo and tools/unigo-vmm into one temporary
// directory, once per test binary, and returns the CLI's path.
func Binaries(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "unigo-run-test-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "unigo")
		cmd := exec.Command("go", "build", "-o", dir+"/",
			"github.com/unigo-os/unigo/tools/unigo", "github.com/unigo-os/unigo/tools/unigo-vmm")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("building unigo and unigo-vmm: %v\n%s", err, out)
		}
	})
	require.NoError(t, binErr)
	return binPath
}

// LauncherPID is the process that runs the VM for the unigo run process
// pid: the jailer's child when there is one (-jail as root), else pid.
func LauncherPID(t testing.TB, pid int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		return strconv.Itoa(pid)
	}
	var child string
	require.Eventually(t, func() bool {
		// Any of the jailer's threads may have forked it.
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
		for _, task := range tasks {
			b, _ := os.ReadFile(task)
			if f := strings.Fields(string(b)); len(f) > 0 {
				child = f[0]
				return true
			}
		}
		return false
	}, 10*time.Second, 5*time.Millisecond, "the jailer started no launcher")
	return child
}

// AssertJailed checks that process pid is in namespaces of its own (of
// the kinds in nss) and that its root is not the host's.
func AssertJailed(t testing.TB, pid string, nss []string) {
	t.Helper()
	for _, ns := range nss {
		theirs, err := os.Readlink("/proc/" + pid + "/ns/" + ns)
		require.NoError(t, err)
		ours, err := os.Readlink("/proc/self/ns/" + ns)
		require.NoError(t, err)
		assert.NotEqual(t, ours, theirs, "%s namespace", ns)
	}
	var root, hostRoot syscall.Stat_t
	require.NoError(t, syscall.Stat("/proc/"+pid+"/root", &root))
	require.NoError(t, syscall.Stat("/", &hostRoot))
	assert.False(t, root.Dev == hostRoot.Dev && root.Ino == hostRoot.Ino, "the launcher's root is the host's")
}

// SyncWriter collects a subprocess's output while the test reads it.
type SyncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *SyncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
