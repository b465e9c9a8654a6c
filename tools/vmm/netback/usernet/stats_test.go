package usernet

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/tools/vmm/netback"
)

// TestUserString: the user-mode network reports its gateway stack's loss
// counters, which the device's summary (UNIGO_VMM_STATS) includes.
func TestUserString(t *testing.T) {
	u, err := NewUser(nil, netback.UserPolicy{})
	require.NoError(t, err)
	defer u.Close()
	assert.Contains(t, u.String(), "gateway: tcp segments sent 0,")
	u.stack.Stats().TCP.Retransmits.IncrementBy(3)
	u.stack.Stats().TCP.Timeouts.IncrementBy(2)
	u.stack.Stats().DroppedPackets.IncrementBy(5)
	assert.Contains(t, u.String(), "retransmits 3 (fast 0), timeouts 2,")
	assert.Contains(t, u.String(), "packets dropped 5,")
}
