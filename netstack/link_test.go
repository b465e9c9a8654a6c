package netstack

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/unigo-os/unigo/drivers/virtio/virtionet"
)

// gateDevice takes frames only while open; closed, its transmit queues
// are full.
type gateDevice struct {
	open   atomic.Bool
	mu     sync.Mutex
	frames [][]byte
}

func (g *gateDevice) Send(h virtionet.Header, parts ...[]byte) error {
	_, err := g.SendBatch([]virtionet.Frame{{Header: h, Parts: parts}})
	return err
}

func (g *gateDevice) SendBatch(frames []virtionet.Frame) (int, error) {
	if !g.open.Load() {
		return 0, virtionet.ErrQueueFull
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, f := range frames {
		g.frames = append(g.frames, bytes.Join(f.Parts, nil))
	}
	return len(frames), nil
}

func (g *gateDevice) Start(func(virtionet.Header, []byte)) error { return nil }
func (g *gateDevice) Close() error                               { return nil }

func (g *gateDevice) sent() [][]byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([][]byte(nil), g.frames...)
}

// testPackets makes n packets whose payloads are "<tag><i>" frames of 60
// bytes.
func testPackets(tag byte, n int) (stack.PacketBufferList, [][]byte) {
	var pkts stack.PacketBufferList
	var want [][]byte
	for i := range n {
		b := make([]byte, 60)
		b[0], b[1], b[2] = tag, byte(i>>8), byte(i)
		want = append(want, b)
		pkts.PushBack(stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(append([]byte(nil), b...))}))
	}
	return pkts, want
}

// TestLinkHoldsForFullQueue: frames the full transmit queues do not take
// are held, not dropped, and go out in order, later ones behind them, once
// the device takes frames again.
func TestLinkHoldsForFullQueue(t *testing.T) {
	dev := &gateDevice{}
	l := &link{dev: dev, mtu: 1500}
	heldBefore := txHeld.Load()
	a, wantA := testPackets('a', 10)
	defer a.DecRef()
	n, err := l.WritePackets(a)
	require.Nil(t, err)
	assert.Equal(t, 10, n, "held packets count as written")
	b, wantB := testPackets('b', 5)
	defer b.DecRef()
	n, err = l.WritePackets(b)
	require.Nil(t, err)
	assert.Equal(t, 5, n)
	assert.EqualValues(t, 15, txHeld.Load()-heldBefore)
	time.Sleep(5 * time.Millisecond) // the flush goroutine retries meanwhile
	assert.Empty(t, dev.sent())
	dev.open.Store(true)
	require.Eventually(t, func() bool { return len(dev.sent()) == 15 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, append(wantA, wantB...), dev.sent())
	// The hold is empty again: the next packets go straight out.
	c, wantC := testPackets('c', 3)
	defer c.DecRef()
	n, err = l.WritePackets(c)
	require.Nil(t, err)
	assert.Equal(t, 3, n)
	assert.Equal(t, wantC, dev.sent()[15:])
	l.txMu.Lock()
	defer l.txMu.Unlock()
	assert.False(t, l.flushing)
	assert.Zero(t, l.pendingBytes)
}

// TestLinkHoldIsBounded: a device that never takes frames again makes the
// link hold at most txHoldMaxFrames; beyond that, packets are refused
// (TCP retransmits them) and counted.
func TestLinkHoldIsBounded(t *testing.T) {
	dev := &gateDevice{}
	l := &link{dev: dev, mtu: 1500}
	droppedBefore := txHoldDropped.Load()
	pkts, _ := testPackets('x', txHoldMaxFrames)
	defer pkts.DecRef()
	n, err := l.WritePackets(pkts)
	require.Nil(t, err)
	assert.Equal(t, txHoldMaxFrames, n)
	more, _ := testPackets('y', 2)
	defer more.DecRef()
	n, err = l.WritePackets(more)
	assert.Zero(t, n)
	assert.IsType(t, &tcpip.ErrWouldBlock{}, err)
	assert.EqualValues(t, 2, txHoldDropped.Load()-droppedBefore)
	// Let the flush goroutine finish.
	dev.open.Store(true)
	require.Eventually(t, func() bool { return len(dev.sent()) == txHoldMaxFrames }, 5*time.Second, time.Millisecond)
}

// stallDevice takes every frame, but a batch with a frame named "ack"
// stops in SendBatch (after saying so on entered) until release closes.
type stallDevice struct {
	gateDevice
	entered chan struct{}
	release chan struct{}
}

func (s *stallDevice) SendBatch(frames []virtionet.Frame) (int, error) {
	for _, f := range frames {
		if string(bytes.Join(f.Parts, nil)) == "ack" {
			s.entered <- struct{}{}
			<-s.release
		}
	}
	return s.gateDevice.SendBatch(frames)
}

// writeNamed sends frames named names, one packet each, described by
// info, through l.write.
func writeNamed(l *link, info []tcpAck, names ...string) {
	var b txBatch
	for i, n := range names {
		b.add(i, virtionet.Header{}, [][]byte{[]byte(n)})
	}
	l.write(&b, info, len(names))
}

// TestLinkHeldAckKeepsOrder: a held ACK on its way out (by the flush
// timer, or due and riding on another connection's batch) is never
// overtaken by a later segment of its connection, here the FIN.
func TestLinkHeldAckKeepsOrder(t *testing.T) {
	k1, k2 := ackKey{sport: 1}, ackKey{sport: 2}
	for _, by := range []string{"timer", "batch"} {
		t.Run(by, func(t *testing.T) {
			dev := &stallDevice{entered: make(chan struct{}), release: make(chan struct{})}
			dev.open.Store(true)
			l := initLink(&link{dev: dev, mtu: 1500})
			writeNamed(l, []tcpAck{{key: k1, ack: 1, ok: true}}, "syn-ack")
			writeNamed(l, []tcpAck{{key: k1, ack: 2, ok: true, pure: true}}, "ack")
			require.Len(t, l.acks.held, 1, "the ACK is held")
			time.Sleep(ackDelay)
			if by == "timer" {
				go l.flushAcks()
			} else {
				go writeNamed(l, []tcpAck{{key: k2, ack: 1, ok: true}}, "other")
			}
			select {
			case <-dev.entered:
			case <-time.After(5 * time.Second):
				t.Fatal("the held ACK never went out")
			}
			fin := make(chan struct{})
			go func() {
				writeNamed(l, []tcpAck{{key: k1, ack: 3, ok: true, end: true}}, "fin")
				close(fin)
			}()
			time.Sleep(20 * time.Millisecond) // the FIN would overtake now
			close(dev.release)
			<-fin
			want := []string{"syn-ack", "ack", "fin"}
			if by == "batch" {
				want = []string{"syn-ack", "other", "ack", "fin"}
			}
			require.Eventually(t, func() bool { return len(dev.sent()) == len(want) }, 5*time.Second, time.Millisecond)
			var got []string
			for _, f := range dev.sent() {
				got = append(got, string(f))
			}
			assert.Equal(t, want, got)
		})
	}
}
