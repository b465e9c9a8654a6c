package netstack

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/unigo-os/unigo/drivers/virtio/virtionet"
)

// seg builds the IPv4 and TCP headers of a segment from port sport to 80.
func seg(sport uint16, flags header.TCPFlags, ack uint32, opts []byte) (nh, th []byte) {
	nh = make([]byte, header.IPv4MinimumSize)
	header.IPv4(nh).Encode(&header.IPv4Fields{TotalLength: 40, Protocol: 6, TTL: 64,
		SrcAddr: tcpip.AddrFrom4([4]byte{10, 0, 0, 2}), DstAddr: tcpip.AddrFrom4([4]byte{10, 0, 0, 1})})
	th = make([]byte, header.TCPMinimumSize+len(opts))
	header.TCP(th).Encode(&header.TCPFields{SrcPort: sport, DstPort: 80, AckNum: ack,
		DataOffset: uint8(len(th)), Flags: flags, WindowSize: 1000})
	copy(th[header.TCPMinimumSize:], opts)
	return nh, th
}

func TestClassifyTCP(t *testing.T) {
	ts := []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2} // NOP NOP timestamp
	nh, th := seg(1000, header.TCPFlagAck, 7, ts)
	a := classifyTCP(false, nh, th, 0)
	assert.True(t, a.ok && a.pure, "a bare ACK with timestamps")
	assert.EqualValues(t, 7, a.ack)
	assert.EqualValues(t, 1000, a.key.sport)

	a = classifyTCP(false, nh, th, 10)
	assert.True(t, a.ok && !a.pure, "with data")
	for _, f := range []header.TCPFlags{header.TCPFlagFin, header.TCPFlagSyn, header.TCPFlagRst, header.TCPFlagPsh, header.TCPFlagUrg} {
		nh, th := seg(1000, header.TCPFlagAck|f, 7, nil)
		a := classifyTCP(false, nh, th, 0)
		assert.True(t, a.ok && !a.pure, "flags %v", f)
	}
	nh, th = seg(1000, header.TCPFlagAck, 7, []byte{1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2})
	assert.False(t, classifyTCP(false, nh, th, 0).pure, "a SACK block")
	nh, th = seg(1000, header.TCPFlagAck, 7, []byte{1, 1, 8, 0})
	assert.False(t, classifyTCP(false, nh, th, 0).pure, "a malformed option")
	assert.EqualValues(t, 1000, classifyTCP(false, nh, th, 0).wnd, "the window field")
	nh, th = seg(1000, header.TCPFlagRst, 0, nil)
	a = classifyTCP(false, nh, th, 0)
	assert.True(t, a.ok && a.noAck && a.end && !a.pure, "a RST without ACK")
	assert.EqualValues(t, 1000, a.key.sport)
	assert.False(t, classifyTCP(false, nh[:10], th, 0).ok, "short IP header")
	assert.False(t, classifyTCP(false, nh, th[:10], 0).ok, "short TCP header")
	assert.False(t, classifyTCP(true, nh, th, 0).ok, "not an IPv6 header")
}

// hold runs one WritePackets' worth of segments (each its own packet and
// frame, the frame's first byte its name) through filter and returns the
// names of the frames sent now.
func hold(h *ackHold, segs ...tcpAck) string {
	var b txBatch
	for i := range segs {
		b.add(i, virtionet.Header{}, [][]byte{{byte('a' + i)}})
	}
	out, _ := h.filter(&b, segs, true)
	var names []byte
	for _, f := range out {
		names = append(names, f.Parts[0][0])
	}
	return string(names)
}

func TestAckHold(t *testing.T) {
	h := &ackHold{fire: func() {}}
	k1, k2 := ackKey{sport: 1}, ackKey{sport: 2}
	bare := func(k ackKey, ack uint32) tcpAck { return tcpAck{key: k, ack: ack, ok: true, pure: true} }
	data := func(k ackKey, ack uint32) tcpAck { return tcpAck{key: k, ack: ack, ok: true} }

	assert.Equal(t, "ab", hold(h, data(k1, 1), data(k2, 1)), "the SYN-ACKs")
	assert.Equal(t, "", hold(h, bare(k1, 100)), "held")
	assert.True(t, h.armed)
	assert.Equal(t, "a", hold(h, data(k1, 100)), "the response replaces it")
	assert.True(t, h.armed, "the flush is not stopped")

	assert.Equal(t, "", hold(h, bare(k1, 200), bare(k2, 5)), "one per connection held")
	assert.Equal(t, "a", hold(h, bare(k1, 300)), "a second ACK goes at once, replacing the first")
	assert.Equal(t, "", hold(h, bare(k1, 400)))
	assert.Equal(t, "aa", hold(h, bare(k1, 400)), "a duplicate ACK: both go, in order")
	assert.Equal(t, "", hold(h, bare(k1, 500)))
	assert.Equal(t, "aab", hold(h, data(k1, 450), tcpAck{}), "a segment acknowledging less: the held ACK first")
	assert.Equal(t, "a", hold(h, bare(k1, 450+ackHoldMaxAdvance)), "two full segments: at once")
	assert.Equal(t, "a", hold(h, bare(k1, 450+ackHoldMaxAdvance)), "a window update: at once")

	assert.Empty(t, h.take(time.Now()), "not due yet")
	assert.True(t, h.armed, "re-armed for the one still held")
	frames := h.take(time.Now().Add(ackDelay))
	require.Len(t, frames, 1, "k2's")
	assert.Equal(t, byte('b'), frames[0].Parts[0][0])
	assert.EqualValues(t, 5, h.last[k2].ack, "a flushed ACK counts as sent")
	assert.Empty(t, h.take(time.Now().Add(ackDelay)))
	assert.False(t, h.armed)

	assert.Equal(t, "a", hold(h, data(k2, 1<<32-10)))
	assert.Equal(t, "", hold(h, bare(k2, 5)), "acknowledgment numbers wrap")
	assert.Equal(t, "a", hold(h, data(k2, 5)))

	k3 := ackKey{sport: 3}
	assert.Equal(t, "a", hold(h, bare(k3, 7)), "a connection's first ACK goes at once")
	assert.Equal(t, "a", hold(h, tcpAck{key: k3, ack: 8, ok: true, end: true}), "FIN")
	_, known := h.last[k3]
	assert.False(t, known, "forgotten after FIN or RST")
}

// TestAckHoldFlushes: a held ACK nobody replaces goes out after ackDelay.
func TestAckHoldFlushes(t *testing.T) {
	dev := &gateDevice{}
	dev.open.Store(true)
	l := initLink(&link{dev: dev, mtu: 1500})
	var b txBatch
	b.add(0, virtionet.Header{}, [][]byte{[]byte("syn-ack")})
	b.add(1, virtionet.Header{}, [][]byte{[]byte("ack")})
	out, _ := l.acks.filter(&b, []tcpAck{{ok: true}, {ok: true, pure: true, ack: 1}}, true)
	require.Len(t, out, 1)
	require.Eventually(t, func() bool { return len(dev.sent()) == 1 }, time.Second, ackDelay/4)
	assert.Equal(t, []byte("ack"), dev.sent()[0])
}

// TestAckHoldRequestResponse: request/response exchanges over two stacks
// whose links hold ACKs arrive intact, and the server's bare ACKs were
// mostly replaced by its responses.
func TestAckHoldRequestResponse(t *testing.T) {
	cli, srv, _ := wiredStacks(t, virtionet.Offloads{})
	ln, err := gonet.ListenTCP(srv, tcpip.FullAddress{NIC: firstDeviceNIC, Port: 80}, ipv4.ProtocolNumber)
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 64)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			if _, err := c.Write(bytes.ToUpper(buf)); err != nil {
				return
			}
		}
	}()
	c, err := gonet.DialContextTCP(context.Background(), cli,
		tcpip.FullAddress{NIC: firstDeviceNIC, Addr: tcpip.AddrFrom4([4]byte{10, 0, 0, 2}), Port: 80}, ipv4.ProtocolNumber)
	require.NoError(t, err)
	defer c.Close()
	merged := ackMerged.Load()
	req := bytes.Repeat([]byte("ping "), 13)[:64]
	got := make([]byte, 64)
	for range 200 {
		_, err := c.Write(req)
		require.NoError(t, err)
		_, err = io.ReadFull(c, got)
		require.NoError(t, err)
		require.Equal(t, bytes.ToUpper(req), got)
	}
	assert.Greater(t, ackMerged.Load()-merged, uint64(100), "bare ACKs replaced by responses")
}

// TestAckHoldDueGoesWithNextSend: a held ACK that is due leaves with the
// link's next transmission, behind it.
func TestAckHoldDueGoesWithNextSend(t *testing.T) {
	h := &ackHold{fire: func() {}}
	k1, k2 := ackKey{sport: 1}, ackKey{sport: 2}
	assert.Equal(t, "a", hold(h, tcpAck{key: k1, ack: 1, ok: true}))
	assert.Equal(t, "", hold(h, tcpAck{key: k1, ack: 2, ok: true, pure: true}))
	assert.Equal(t, "a", hold(h, tcpAck{}), "not due yet")
	time.Sleep(ackDelay)
	assert.Equal(t, "aba", hold(h, tcpAck{}, tcpAck{key: k2, ack: 1, ok: true}), "due: sent after the batch")
	assert.Empty(t, h.held)
	assert.EqualValues(t, 2, h.last[k1].ack)
}

// TestAckHoldWindowUpdates: an ACK that opens a zero window or at least
// doubles the window last advertised is a window update and goes at
// once, even when it acknowledges little.
func TestAckHoldWindowUpdates(t *testing.T) {
	h := &ackHold{fire: func() {}}
	k := ackKey{sport: 4}
	bare := func(ack uint32, wnd uint16) tcpAck { return tcpAck{key: k, ack: ack, wnd: wnd, ok: true, pure: true} }
	assert.Equal(t, "a", hold(h, tcpAck{key: k, ack: 1, ok: true}), "zero window")
	assert.Equal(t, "a", hold(h, bare(100, 1000)), "the window opens: at once")
	assert.Equal(t, "", hold(h, bare(200, 1500)), "grown by half: held")
	assert.Len(t, h.take(time.Now().Add(ackDelay)), 1)
	assert.Equal(t, "a", hold(h, bare(300, 3000)), "doubled: at once")
	assert.Equal(t, "", hold(h, bare(400, 2000)), "shrunk: held")
	assert.Equal(t, "a", hold(h, tcpAck{key: k, ack: 400, ok: true}), "the response")
}

// TestAckHoldRSTWithoutACK: a RST without the ACK flag does not pass a
// held ACK of its connection, and ends the connection's ACK state.
func TestAckHoldRSTWithoutACK(t *testing.T) {
	h := &ackHold{fire: func() {}}
	k := ackKey{sport: 5}
	assert.Equal(t, "a", hold(h, tcpAck{key: k, ack: 1, ok: true}))
	assert.Equal(t, "", hold(h, tcpAck{key: k, ack: 100, ok: true, pure: true}))
	assert.Equal(t, "aa", hold(h, tcpAck{key: k, ok: true, noAck: true, end: true}), "the held ACK, then the RST")
	assert.Empty(t, h.held)
	_, known := h.last[k]
	assert.False(t, known, "forgotten")
}
