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

// Binaries builds tools/unigo, tools/unigo-vmm and tools/unigo-net into
// one temporary directory, once per test binary, and returns the CLI's
// path.
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
			"github.com/unigo-os/unigo/tools/unigo", "github.com/unigo-os/unigo/tools/unigo-vmm",
			"github.com/unigo-os/unigo/tools/unigo-net")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("building unigo, unigo-vmm and unigo-net: %v\n%s", err, out)
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
		for _, c := range Children(pid) {
			if comm, _ := os.ReadFile("/proc/" + c + "/comm"); strings.TrimSpace(string(comm)) != NetProcess {
				child = c
				return true
			}
		}
		return false
	}, 10*time.Second, 5*time.Millisecond, "the jailer started no launcher")
	return child
}

// NetProcess is the user-mode network's process's command name
// (netproc.Binary; this package links none of the tools).
const NetProcess = "unigo-net"

// Children are the child processes of pid, which any of its threads
// may have forked.
func Children(pid int) []string {
	var kids []string
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, task := range tasks {
		b, _ := os.ReadFile(task)
		kids = append(kids, strings.Fields(string(b))...)
	}
	return kids
}

// NetPID is the user-mode network's process among pid's children.
func NetPID(t testing.TB, pid int) string {
	t.Helper()
	var net string
	require.Eventually(t, func() bool {
		for _, c := range Children(pid) {
			if comm, _ := os.ReadFile("/proc/" + c + "/comm"); strings.TrimSpace(string(comm)) == NetProcess {
				net = c
				return true
			}
		}
		return false
	}, 10*time.Second, 5*time.Millisecond, "no %s child of %d", NetProcess, pid)
	return net
}

// Gone reports whether process pid has exited (gone, or a zombie not
// yet reaped).
func Gone(pid string) bool {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return true
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(rest, "Z") || strings.HasPrefix(rest, "X")
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
