package usernet

import (
	"fmt"
)

// String summarises the gateway stack's counters that tell of loss on the
// user-mode network: TCP retransmissions and retransmission timeouts
// (each one a segment the path lost, or delayed past the timer), SYNs a
// full accept queue dropped, segments the stack failed to send or
// dropped, and frames the link could not queue. unigo-net prints it at
// exit, after the launcher's device counters (UNIGO_VMM_STATS).
func (u *User) String() string {
	st := u.stack.Stats()
	t := st.TCP
	var nicDrops uint64
	for _, info := range u.stack.NICInfo() {
		nicDrops += info.Stats.TxPacketsDroppedNoBufferSpace.Value()
	}
	return fmt.Sprintf("gateway: tcp segments sent %d, received %d, retransmits %d (fast %d), timeouts %d, "+
		"send errors %d, invalid received %d, failed connects %d, resets sent %d; "+
		"listen overflow SYN drops %d; packets dropped %d, link no-buffer drops %d",
		t.SegmentsSent.Value(), t.ValidSegmentsReceived.Value(), t.Retransmits.Value(), t.FastRetransmit.Value(),
		t.Timeouts.Value(), t.SegmentSendErrors.Value(), t.InvalidSegmentsReceived.Value(),
		t.FailedConnectionAttempts.Value(), t.ResetsSent.Value(), t.ListenOverflowSynDrop.Value(),
		st.DroppedPackets.Value(), nicDrops)
}
