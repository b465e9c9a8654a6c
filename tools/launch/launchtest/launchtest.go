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
	"testing"
	"time"

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
