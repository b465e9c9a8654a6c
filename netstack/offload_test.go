package netstack

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"github.com/unigo-os/unigo/abi"
	"io"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/unigo-os/unigo/drivers/virtio/virtionet"
)

// wireDevice is one end of a simulated wire: what its link sends is
// checked against the other end's MTU, has a partial checksum completed
// (as the launcher's device does for VIRTIO_NET_F_CSUM) and is delivered
// to the peer link with no header flags, so the peer's gVisor verifies
// every checksum itself.
type wireDevice struct {
	t        *testing.T
	peerMTU  int
	frames   chan []byte
	done     chan struct{}
	peer     *link
	mu       sync.Mutex
	headers  []virtionet.Header
	maxFrame int
}

func (w *wireDevice) Send(h virtionet.Header, parts ...[]byte) error {
	_, err := w.SendBatch([]virtionet.Frame{{Header: h, Parts: parts}})
	return err
}

func (w *wireDevice) SendBatch(frames []virtionet.Frame) (int, error) {
	for _, f := range frames {
		frame := bytes.Join(f.Parts, nil)
		h := f.Header
		w.mu.Lock()
		w.headers = append(w.headers, h)
		w.maxFrame = max(w.maxFrame, len(frame))
		w.mu.Unlock()
		if h.GSOType == abi.VirtioNetHdrGSONone && len(frame) > w.peerMTU+14 {
			w.t.Errorf("frame of %d bytes without GSO over a %d-byte MTU", len(frame), w.peerMTU)
		}
		if h.Flags&abi.VirtioNetHdrFNeedsCsum != 0 {
			start, at := int(h.CsumStart), int(h.CsumStart)+int(h.CsumOffset)
			// The stored pseudo-header sum seeds the sum over the rest.
			binary.BigEndian.PutUint16(frame[at:], ^checksum.Checksum(frame[start:], 0))
		}
		select {
		case w.frames <- frame:
		case <-w.done:
		}
	}
	return len(frames), nil
}

func (w *wireDevice) Start(func(virtionet.Header, []byte)) error { return nil }
func (w *wireDevice) Close() error                               { return nil }

func (w *wireDevice) run() {
	for {
		select {
		case f := <-w.frames:
			w.peer.deliver(virtionet.Header{}, f)
		case <-w.done:
			return
		}
	}
}

// wiredStacks connects a sender stack (10.0.0.1, MTU 65520, offloads
// off) to a receiver stack (10.0.0.2, MTU 1500, no offloads).
func wiredStacks(t *testing.T, off virtionet.Offloads) (snd, rcv *stack.Stack, toRcv *wireDevice) {
	done := make(chan struct{})
	toRcv = &wireDevice{t: t, peerMTU: 1500, frames: make(chan []byte, 4096), done: done}
	toSnd := &wireDevice{t: t, peerMTU: 65520, frames: make(chan []byte, 4096), done: done}
	ls := initLink(&link{dev: toRcv, addr: tcpip.LinkAddress([]byte{2, 0, 0, 0, 0, 1}), mtu: 65520, offloads: off})
	lr := initLink(&link{dev: toSnd, addr: tcpip.LinkAddress([]byte{2, 0, 0, 0, 0, 2}), mtu: 1500})
	toRcv.peer, toSnd.peer = lr, ls
	go toRcv.run()
	go toSnd.run()
	t.Cleanup(func() { close(done) })
	for i, s := range []*stack.Stack{newStack(), newStack()} {
		l := []*link{ls, lr}[i]
		require.Nil(t, s.CreateNIC(firstDeviceNIC, l))
		addr := tcpip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)})
		require.Nil(t, s.AddProtocolAddress(firstDeviceNIC, tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber,
			AddressWithPrefix: addr.WithPrefix()}, stack.AddressProperties{}))
		sub := tcpip.AddressWithPrefix{Address: addr, PrefixLen: 24}.Subnet()
		s.SetRouteTable([]tcpip.Route{{Destination: sub, NIC: firstDeviceNIC}})
		if i == 0 {
			snd = s
		} else {
			rcv = s
		}
	}
	return snd, rcv, toRcv
}

// transfer sends n random bytes from snd to rcv over TCP and asserts
// they arrive intact.
func transfer(t *testing.T, snd, rcv *stack.Stack, n int) {
	ln, err := gonet.ListenTCP(rcv, tcpip.FullAddress{NIC: firstDeviceNIC, Port: 80}, ipv4.ProtocolNumber)
	require.NoError(t, err)
	defer ln.Close()
	want := make([]byte, n)
	rand.Read(want)
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- b
	}()
	c, err := gonet.DialContextTCP(context.Background(), snd,
		tcpip.FullAddress{NIC: firstDeviceNIC, Addr: tcpip.AddrFrom4([4]byte{10, 0, 0, 2}), Port: 80}, ipv4.ProtocolNumber)
	require.NoError(t, err)
	_, err = c.Write(want)
	require.NoError(t, err)
	require.NoError(t, c.Close())
	b := <-got
	require.Equal(t, len(want), len(b))
	assert.True(t, bytes.Equal(want, b), "data corrupted in transit")
}

// With checksum offload but no TSO the link cuts gVisor's 64 KiB GSO
// packets to the receiver's MSS itself, each segment with a partial
// checksum the device completes.
func TestOffloadChecksumSegmentsInLink(t *testing.T) {
	snd, rcv, wire := wiredStacks(t, virtionet.Offloads{TXChecksum: true})
	transfer(t, snd, rcv, 8<<20)
	wire.mu.Lock()
	defer wire.mu.Unlock()
	partial := 0
	for _, h := range wire.headers {
		assert.Equal(t, uint8(abi.VirtioNetHdrGSONone), h.GSOType)
		if h.Flags&abi.VirtioNetHdrFNeedsCsum != 0 {
			partial++
			assert.Equal(t, uint16(14+20), h.CsumStart)
			assert.Equal(t, uint16(16), h.CsumOffset)
		}
	}
	assert.Greater(t, partial, 8<<20/1460, "data segments left their checksum to the device")
	assert.LessOrEqual(t, wire.maxFrame, 1514)
}

// With TSO the link sends super-frames with the MSS for the device to cut
// by; the wire here passes them on whole (the IP and TCP headers describe
// the whole super-frame), so the receiver checks their checksums.
func TestOffloadTSOSendsSuperFrames(t *testing.T) {
	snd, rcv, wire := wiredStacks(t, virtionet.Offloads{TXChecksum: true, TSO4: true, TSO6: true})
	transfer(t, snd, rcv, 8<<20)
	wire.mu.Lock()
	defer wire.mu.Unlock()
	gso := 0
	for _, h := range wire.headers {
		if h.GSOType == abi.VirtioNetHdrGSOTCPv4 {
			gso++
			assert.LessOrEqual(t, h.GSOSize, uint16(1460-12)) // the receiver's MSS less the timestamp option
			assert.Positive(t, h.GSOSize)
			assert.Equal(t, uint16(14+20+32), h.HdrLen)
			assert.NotZero(t, h.Flags&abi.VirtioNetHdrFNeedsCsum)
		}
	}
	assert.Positive(t, gso)
	assert.Greater(t, wire.maxFrame, 1514)
}

// With nothing negotiated every frame is complete and MTU-sized.
func TestOffloadNoneSendsCompleteFrames(t *testing.T) {
	snd, rcv, wire := wiredStacks(t, virtionet.Offloads{})
	transfer(t, snd, rcv, 1<<20)
	wire.mu.Lock()
	defer wire.mu.Unlock()
	for _, h := range wire.headers {
		assert.Equal(t, virtionet.Header{}, h)
	}
	assert.LessOrEqual(t, wire.maxFrame, 1514)
}
