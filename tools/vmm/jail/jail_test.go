package jail

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestJail re-runs the test binary, which enters the jail and reports
// its /proc status and what a forbidden call returns.
func TestJail(t *testing.T) {
	if os.Getenv("UNIGO_JAIL_CHILD") == "1" {
		if err := Enter(); err != nil {
			fmt.Println("enter:", err)
			os.Exit(1)
		}
		st, _ := os.ReadFile("/proc/self/status")
		fmt.Print(string(st))
		// Forbidden: mount, execve (no new programs), ptrace.
		err := syscall.Mount("none", "/mnt", "tmpfs", 0, "")
		fmt.Println("mount:", err)
		err = syscall.Exec("/bin/true", []string{"true"}, nil)
		fmt.Println("execve:", err)
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestJail$")
	cmd.Env = append(os.Environ(), "UNIGO_JAIL_CHILD=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	s := string(out)
	assert.Contains(t, s, "Seccomp:\t2\n")
	assert.Contains(t, s, "NoNewPrivs:\t1\n")
	assert.Contains(t, s, "mount: operation not permitted")
	assert.Contains(t, s, "execve: operation not permitted")
	if os.Geteuid() == 0 {
		assert.Contains(t, s, "Uid:\t65534\t65534\t65534\t65534\n")
		assert.Contains(t, s, "CapEff:\t0000000000000000\n")
	}
}
