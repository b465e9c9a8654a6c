package netstack

import (
	"fmt"
	"os"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/unigo-os/unigo/drivers/virtio/virtionet"
)

// lossCounters summarises what tells of loss in the guest's network: TCP
// retransmissions and retransmission timeouts, SYNs and handshakes a full
// accept queue dropped (or answered with a SYN cookie), packets the stack
// dropped (a full per-endpoint segment queue among them), packets the
// link could not queue, and the devices' own counters (frames the
// transmit queues had no room for, malformed frames received). The
// unigo.netstats kernel parameter prints it periodically.
func lossCounters(s *stack.Stack, devs []*virtionet.Device) string {
	st := s.Stats()
	t := st.TCP
	var nicDrops uint64
	for _, info := range s.NICInfo() {
		nicDrops += info.Stats.TxPacketsDroppedNoBufferSpace.Value()
	}
	out := fmt.Sprintf("tcp segments sent %d, received %d, retransmits %d (fast %d), timeouts %d, send errors %d, "+
		"passive opens %d, listen overflow: SYN drops %d, ACK drops %d, SYN cookies %d; "+
		"resets sent %d, received %d; packets dropped %d, link no-buffer drops %d; "+
		"frames held for a full transmit queue %d, dropped with the hold full %d; "+
		"bare ACKs delayed %d, of them replaced by a later segment %d",
		t.SegmentsSent.Value(), t.ValidSegmentsReceived.Value(), t.Retransmits.Value(), t.FastRetransmit.Value(),
		t.Timeouts.Value(), t.SegmentSendErrors.Value(), t.PassiveConnectionOpenings.Value(),
		t.ListenOverflowSynDrop.Value(), t.ListenOverflowAckDrop.Value(), t.ListenOverflowSynCookieSent.Value(),
		t.ResetsSent.Value(), t.ResetsReceived.Value(), st.DroppedPackets.Value(), nicDrops,
		txHeld.Load(), txHoldDropped.Load(), ackDelayed.Load(), ackMerged.Load())
	for i, d := range devs {
		ds := d.Stats()
		out += fmt.Sprintf("; eth%d: rx %d frames (%d dropped), tx %d frames (%d times the queues stayed full)",
			i, ds.RXFrames, ds.RXDropped, ds.TXFrames, ds.TXFull)
	}
	return out
}

// printLossCounters prints lossCounters to stderr every period, forever.
func printLossCounters(s *stack.Stack, devs []*virtionet.Device, every time.Duration) {
	for {
		time.Sleep(every)
		fmt.Fprintf(os.Stderr, "unigo: netstack: %s\n", lossCounters(s, devs))
	}
}
