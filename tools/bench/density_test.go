package bench

import (
	"fmt"
	"net"
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

// TestPerCPUFreePages sums the per-CPU page sets' counts, nothing else.
func TestPerCPUFreePages(t *testing.T) {
	zi := []byte(`Node 0, zone   Normal
  pages free     5722312
        nr_free_pages 5722312
  pagesets
    cpu: 0
              count:    1304
              high:     4242
              batch:    63
  vm stats threshold: 40
    cpu: 1
              count: 17
              high:     4242
Node 0, zone  Movable
    cpu: 0
              count:    bogus
`)
	assert.EqualValues(t, 1321, perCPUFreePages(zi))
	assert.Zero(t, perCPUFreePages(nil))
	if _, err := os.Stat("/proc/zoneinfo"); err == nil {
		v, err := memAvailable()
		require.NoError(t, err)
		assert.Positive(t, v)
	}
}

// TestUnusedPorts: distinct, free, below the ephemeral range.
func TestUnusedPorts(t *testing.T) {
	ports, err := unusedPorts(50)
	require.NoError(t, err)
	require.Len(t, ports, 50)
	seen := map[int]bool{}
	for _, p := range ports {
		assert.False(t, seen[p], "port %d twice", p)
		seen[p] = true
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if assert.NoError(t, err, "port %d free", p) {
			l.Close()
		}
	}
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var low int
		fmt.Sscan(string(b), &low)
		assert.Less(t, ports[len(ports)-1], low)
	}
}
