package bench

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestProcMemoryChildren: a launcher's memory includes its children's
// (unigo-net), here a sleeping child of the test.
func TestProcMemoryChildren(t *testing.T) {
	_, alone, err := procMemory(os.Getpid())
	require.NoError(t, err)
	cmd := exec.Command("sleep", "30")
	require.NoError(t, cmd.Start())
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	assert.Contains(t, childPIDs(os.Getpid()), cmd.Process.Pid)
	pss, both, err := procMemory(os.Getpid())
	require.NoError(t, err)
	assert.Positive(t, pss)
	assert.Greater(t, both, alone)
}
