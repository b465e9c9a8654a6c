package virtio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"github.com/unigo-os/unigo/abi"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chanBackend is a NetBackend whose outside world is two channels.
type chanBackend struct {
	in   chan []byte // frames for the guest
	out  chan []byte // frames from the guest
	done chan struct{}
	once sync.Once
}

func newChanBackend() *chanBackend {
	return &chanBackend{in: make(chan []byte, 16), out: make(chan []byte, 64), done: make(chan struct{})}
}

func (b *chanBackend) ReadFrame(buf []byte) (int, error) {
	select {
	case f := <-b.in:
		return copy(buf, f), nil
	case <-b.done:
		return 0, errors.New("closed")
	}
}

func (b *chanBackend) WriteFrame(f []byte) error {
	b.out <- append([]byte(nil), f...)
	return nil
}

func (b *chanBackend) Close() { b.once.Do(func() { close(b.done) }) }

var testMAC = net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}

// vq is the guest's view of one queue of a multi-queue device.
type vq struct {
	mem               []byte
	sel               uint32
	size              uint16
	desc, avail, used uint64
	nextDesc          uint16
	availIdx          uint16
	usedSeen          uint16
}

// netGuest plays a virtio-net driver: it owns a receive and a transmit
// queue and a data area in its guest memory.
type netGuest struct {
	*testDriver
	dev    *Net
	be     *chanBackend
	rx, tx *vq
	data   uint64 // next free byte of the data area
	// ringSize is the size of both queues; 0 means 16.
	ringSize uint16
}

const (
	ngRXRing = 0x1000
	ngTXRing = 0x4000
	ngData   = 0x8000
)

func newNetGuest(t *testing.T) *netGuest {
	be := newChanBackend()
	dev, err := NewNet(be, testMAC, 1500)
	require.NoError(t, err)
	t.Cleanup(be.Close)
	g := &netGuest{testDriver: newTestDriver(t, dev), dev: dev, be: be, data: ngData}
	return g
}

func (g *netGuest) setup(sel uint32, base uint64, size uint16) *vq {
	clear(g.mem[base : base+0x3000]) // a reset driver starts from clean rings
	g.setupQueue(sel, size, base, base+0x1000, base+0x2000)
	return &vq{mem: g.mem, sel: sel, size: size, desc: base, avail: base + 0x1000, used: base + 0x2000}
}

// start negotiates want and brings both queues up.
func (g *netGuest) start(want uint64) {
	require.True(g.t, g.negotiate(want|abi.VirtioFVersion1))
	size := g.ringSize
	if size == 0 {
		size = 16
	}
	g.rx = g.setup(NetQueueRX, ngRXRing, size)
	g.tx = g.setup(NetQueueTX, ngTXRing, size)
	g.w32(abi.VirtioMMIOStatus, abi.VirtioStatusAcknowledge|abi.VirtioStatusDriver|abi.VirtioStatusFeaturesOK|abi.VirtioStatusDriverOK)
	require.Zero(g.t, g.r32(abi.VirtioMMIOStatus)&abi.VirtioStatusNeedsReset, "device error: %v", g.m.Err())
}

// alloc returns n bytes of the data area.
func (g *netGuest) alloc(n int) uint64 {
	a := g.data
	g.data += uint64(n+15) &^ 15
	require.LessOrEqual(g.t, g.data, uint64(len(g.mem)))
	return a
}

func (q *vq) post(bufs ...tdesc) uint16 {
	head := q.nextDesc % q.size
	for i, x := range bufs {
		idx := q.nextDesc % q.size
		q.nextDesc++
		if i < len(bufs)-1 {
			x.flags |= abi.VirtqDescFNext
			x.next = q.nextDesc % q.size
		}
		putDesc(q.mem, q.desc, idx, x)
	}
	binary.LittleEndian.PutUint16(q.mem[q.avail+4+2*uint64(q.availIdx%q.size):], head)
	q.availIdx++
	binary.LittleEndian.PutUint16(q.mem[q.avail+2:], q.availIdx)
	return head
}

func (q *vq) usedIdx() uint16 { return binary.LittleEndian.Uint16(q.mem[q.used+2:]) }

func (q *vq) setUsedEvent(v uint16) {
	binary.LittleEndian.PutUint16(q.mem[q.avail+4+2*uint64(q.size):], v)
}

// waitUsed waits for the next used element of q.
func (g *netGuest) waitUsed(q *vq) (id, n uint32) {
	g.t.Helper()
	require.Eventually(g.t, func() bool { return q.usedIdx() != q.usedSeen }, timeout, tick,
		"device never used the buffer (status %#x, err %v)", g.r32(abi.VirtioMMIOStatus), g.m.Err())
	e := q.mem[q.used+4+8*uint64(q.usedSeen%q.size):]
	q.usedSeen++
	return binary.LittleEndian.Uint32(e), binary.LittleEndian.Uint32(e[4:])
}

func (g *netGuest) kick(q *vq) { g.m.Notify(q.sel) }

// send transmits hdr+frame as a chain of two descriptors.
func (g *netGuest) send(hdr [abi.VirtioNetHdrSize]byte, frame []byte) {
	h, f := g.alloc(abi.VirtioNetHdrSize), g.alloc(len(frame))
	copy(g.mem[h:], hdr[:])
	copy(g.mem[f:], frame)
	g.tx.post(tdesc{addr: h, len: abi.VirtioNetHdrSize}, tdesc{addr: f, len: uint32(len(frame))})
	g.kick(g.tx)
}

// postRX makes n receive buffers of size bytes available, one chain each,
// and returns their addresses.
func (g *netGuest) postRX(n, size int) []uint64 {
	var addrs []uint64
	for range n {
		a := g.alloc(size)
		addrs = append(addrs, a)
		g.rx.post(tdesc{addr: a, len: uint32(size), flags: abi.VirtqDescFWrite})
	}
	g.kick(g.rx)
	return addrs
}

func (g *netGuest) needsReset() bool {
	return g.r32(abi.VirtioMMIOStatus)&abi.VirtioStatusNeedsReset != 0
}

// testFrame is an Ethernet frame of n bytes with a recognisable payload.
func testFrame(n int) []byte {
	f := make([]byte, n)
	copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(f[6:], testMAC)
	f[12], f[13] = 0x88, 0xb5 // local experimental ethertype
	for i := 14; i < n; i++ {
		f[i] = byte(i)
	}
	return f
}

func TestNetIdentityAndConfig(t *testing.T) {
	g := newNetGuest(t)
	assert.EqualValues(t, abi.VirtioDeviceNet, g.r32(abi.VirtioMMIODeviceID))
	g.w32(abi.VirtioMMIODeviceFeaturesSel, 0)
	lo := g.r32(abi.VirtioMMIODeviceFeatures)
	g.w32(abi.VirtioMMIODeviceFeaturesSel, 1)
	hi := g.r32(abi.VirtioMMIODeviceFeatures)
	offered := uint64(hi)<<32 | uint64(lo)
	for _, f := range []uint64{abi.VirtioNetFCsum, abi.VirtioNetFGuestCsum, abi.VirtioNetFMTU, abi.VirtioNetFMAC,
		abi.VirtioNetFMrgRxbuf, abi.VirtioNetFStatus, abi.VirtioFEventIdx, abi.VirtioFVersion1} {
		assert.NotZero(t, offered&f, "feature %#x offered", f)
	}
	assert.Zero(t, offered&(1<<11|1<<12|1<<7|1<<8|1<<17), "no TSO/GSO, no control queue")
	for q := uint32(0); q < 2; q++ {
		g.w32(abi.VirtioMMIOQueueSel, q)
		assert.EqualValues(t, 256, g.r32(abi.VirtioMMIOQueueNumMax))
	}
	g.w32(abi.VirtioMMIOQueueSel, 2)
	assert.Zero(t, g.r32(abi.VirtioMMIOQueueNumMax), "no control queue")

	cfg := make([]byte, 16)
	g.m.Read(abi.VirtioMMIOConfig, cfg)
	assert.Equal(t, []byte(testMAC), cfg[:6])
	assert.EqualValues(t, 1, binary.LittleEndian.Uint16(cfg[6:]), "link up")
	assert.EqualValues(t, 1, binary.LittleEndian.Uint16(cfg[8:]), "one queue pair")
	assert.EqualValues(t, 1500, binary.LittleEndian.Uint16(cfg[10:]), "mtu")
	assert.Equal(t, make([]byte, 4), cfg[12:], "nothing past mtu")
	// Byte-wise and unaligned reads see the same bytes; writes change nothing.
	b := make([]byte, 1)
	g.m.Read(abi.VirtioMMIOConfig+3, b)
	assert.Equal(t, testMAC[3], b[0])
	g.m.Write(abi.VirtioMMIOConfig, []byte{1, 2, 3, 4})
	g.m.Read(abi.VirtioMMIOConfig, cfg[:6])
	assert.Equal(t, []byte(testMAC), cfg[:6])
	g.m.Read(abi.VirtioMMIOConfig+0x800, cfg)
	assert.Equal(t, make([]byte, 16), cfg)

	// A driver may decline every net feature and still run.
	g.start(0)
	assert.False(t, g.needsReset())
}

func TestNewNetRejects(t *testing.T) {
	_, err := NewNet(newChanBackend(), net.HardwareAddr{1, 2, 3}, 1500)
	assert.Error(t, err)
	_, err = NewNet(newChanBackend(), testMAC, 10)
	assert.Error(t, err)
}

func TestNetTX(t *testing.T) {
	g := newNetGuest(t)
	g.start(abi.VirtioNetFCsum | abi.VirtioFEventIdx)
	f := testFrame(100)
	g.send([abi.VirtioNetHdrSize]byte{}, f)
	id, n := g.waitUsed(g.tx)
	assert.EqualValues(t, 0, id)
	assert.Zero(t, n, "transmit buffers are not written")
	select {
	case got := <-g.be.out:
		assert.Equal(t, f, got)
	case <-time.After(timeout):
		t.Fatal("frame never reached the backend")
	}
	assert.EqualValues(t, 1, g.dev.Stats.TXFrames.Load())

	// One descriptor holding header and frame together works too.
	a := g.alloc(abi.VirtioNetHdrSize + len(f))
	copy(g.mem[a+abi.VirtioNetHdrSize:], f)
	g.tx.post(tdesc{addr: a, len: uint32(abi.VirtioNetHdrSize + len(f))})
	g.kick(g.tx)
	g.waitUsed(g.tx)
	assert.Equal(t, f, <-g.be.out)
}

// udpPacket returns an Ethernet/IPv4/UDP frame whose UDP checksum field
// holds the pseudo-header sum, as a driver using NEEDS_CSUM leaves it, and
// the offsets to put in the header.
func udpPacket(payload []byte) (frame []byte, start, off uint16) {
	ip := make([]byte, 20+8+len(payload))
	ip[0], ip[9] = 0x45, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	ip[8] = 64
	copy(ip[12:], []byte{192, 168, 127, 2})
	copy(ip[16:], []byte{192, 168, 127, 1})
	binary.BigEndian.PutUint16(ip[10:], ^foldChecksum(checksum(ip[:20], 0)))
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp[0:], 1234)
	binary.BigEndian.PutUint16(udp[2:], 53)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	copy(udp[8:], payload)
	pseudo := checksum(ip[12:20], uint64(17)+uint64(len(udp)))
	binary.BigEndian.PutUint16(udp[6:], foldChecksum(pseudo))
	eth := testFrame(14)
	eth[12], eth[13] = 0x08, 0x00
	return append(eth, ip...), 14 + 20, 6
}

// udpChecksumOK verifies the UDP checksum of a frame from udpPacket.
func udpChecksumOK(frame []byte) bool {
	ip := frame[14:]
	udp := ip[20:]
	sum := checksum(ip[12:20], uint64(17)+uint64(len(udp)))
	return foldChecksum(checksum(udp, sum)) == 0xffff
}

func TestNetTXChecksum(t *testing.T) {
	g := newNetGuest(t)
	g.start(abi.VirtioNetFCsum)
	for _, n := range []int{0, 1, 7, 100, 1471} {
		f, start, off := udpPacket(bytes.Repeat([]byte{byte(n)}, n))
		var hdr [abi.VirtioNetHdrSize]byte
		hdr[0] = abi.VirtioNetHdrFNeedsCsum
		binary.LittleEndian.PutUint16(hdr[6:], start)
		binary.LittleEndian.PutUint16(hdr[8:], off)
		require.False(t, udpChecksumOK(f))
		g.send(hdr, f)
		g.waitUsed(g.tx)
		got := <-g.be.out
		assert.True(t, udpChecksumOK(got), "payload %d", n)
		assert.Equal(t, f[:start+off], got[:start+off], "only the checksum changed")
	}
}

func TestNetTXDropsBadFrames(t *testing.T) {
	g := newNetGuest(t)
	g.start(abi.VirtioNetFCsum)
	f, _, _ := udpPacket([]byte("x"))
	csum := func(start, off uint16) (h [abi.VirtioNetHdrSize]byte) {
		h[0] = abi.VirtioNetHdrFNeedsCsum
		binary.LittleEndian.PutUint16(h[6:], start)
		binary.LittleEndian.PutUint16(h[8:], off)
		return h
	}
	gso := [abi.VirtioNetHdrSize]byte{0, 1} // VIRTIO_NET_HDR_GSO_TCPV4, not offered
	cases := []struct {
		name  string
		hdr   [abi.VirtioNetHdrSize]byte
		frame []byte
	}{
		{"runt", [abi.VirtioNetHdrSize]byte{}, f[:13]},
		{"gso", gso, f},
		{"csum start past end", csum(uint16(len(f)), 0), f},
		{"csum field past end", csum(uint16(len(f)-1), 0), f},
		{"csum offset huge", csum(14, 0xfffe), f},
		{"csum offset odd", csum(34, 1), f},
	}
	for _, tc := range cases {
		g.send(tc.hdr, tc.frame)
		g.waitUsed(g.tx)
	}
	// A header alone (no frame) and a chain with nothing readable.
	h := g.alloc(abi.VirtioNetHdrSize)
	g.tx.post(tdesc{addr: h, len: abi.VirtioNetHdrSize})
	g.tx.post(tdesc{addr: h, len: abi.VirtioNetHdrSize, flags: abi.VirtqDescFWrite})
	g.kick(g.tx)
	g.waitUsed(g.tx)
	g.waitUsed(g.tx)
	assert.EqualValues(t, len(cases)+2, g.dev.Stats.TXDropped.Load())
	assert.Zero(t, g.dev.Stats.TXFrames.Load())
	assert.Empty(t, g.be.out)
	assert.False(t, g.needsReset(), "bad frames are the guest's problem, not a protocol error")

	// Without CSUM negotiated a NEEDS_CSUM request is refused.
	g2 := newNetGuest(t)
	g2.start(0)
	fr, start, off := udpPacket(nil)
	g2.send(csum(start, off), fr)
	g2.waitUsed(g2.tx)
	assert.EqualValues(t, 1, g2.dev.Stats.TXDropped.Load())
}

// rxHeader reads the virtio-net header at a.
func (g *netGuest) rxHeader(a uint64) (flags uint8, numBuffers uint16) {
	return g.mem[a], binary.LittleEndian.Uint16(g.mem[a+10:])
}

func TestNetRXMergeable(t *testing.T) {
	g := newNetGuest(t)
	g.start(abi.VirtioNetFMrgRxbuf | abi.VirtioFEventIdx)
	bufs := g.postRX(8, 64)
	f := testFrame(200) // 212 bytes with header: four 64-byte buffers
	g.be.in <- f
	var got []byte
	for i := range 4 {
		id, n := g.waitUsed(g.rx)
		assert.EqualValues(t, i, id)
		got = append(got, g.mem[bufs[i]:bufs[i]+uint64(n)]...)
		if i < 3 {
			assert.EqualValues(t, 64, n)
		}
	}
	_, nb := g.rxHeader(bufs[0])
	assert.EqualValues(t, 4, nb, "num_buffers")
	assert.Equal(t, f, got[abi.VirtioNetHdrSize:])

	// The next frame starts in the fifth buffer.
	g.be.in <- testFrame(20)
	id, n := g.waitUsed(g.rx)
	assert.EqualValues(t, 4, id)
	assert.EqualValues(t, abi.VirtioNetHdrSize+20, n)
	_, nb = g.rxHeader(bufs[4])
	assert.EqualValues(t, 1, nb)
	assert.EqualValues(t, 2, g.dev.Stats.RXFrames.Load())
}

func TestNetRXWaitsForBuffers(t *testing.T) {
	g := newNetGuest(t)
	g.start(abi.VirtioNetFMrgRxbuf | abi.VirtioFEventIdx)
	f := testFrame(100)
	g.be.in <- f
	g.be.in <- testFrame(60)
	time.Sleep(20 * time.Millisecond)
	assert.Zero(t, g.rx.usedIdx(), "no buffers yet")
	// One small buffer is not enough for the first frame: the device
	// keeps it and waits for more.
	b1 := g.postRX(1, 64)
	time.Sleep(20 * time.Millisecond)
	assert.Zero(t, g.rx.usedIdx())
	b2 := g.postRX(3, 128)
	g.waitUsed(g.rx)
	g.waitUsed(g.rx)
	_, nb := g.rxHeader(b1[0])
	assert.EqualValues(t, 2, nb)
	assert.Equal(t, f[:64-abi.VirtioNetHdrSize], g.mem[b1[0]+abi.VirtioNetHdrSize:b1[0]+64])
	assert.Equal(t, f[64-abi.VirtioNetHdrSize:], g.mem[b2[0]:b2[0]+uint64(len(f)-(64-abi.VirtioNetHdrSize))])
	_, n := g.waitUsed(g.rx)
	assert.EqualValues(t, abi.VirtioNetHdrSize+60, n)
}

func TestNetRXNotMergeable(t *testing.T) {
	g := newNetGuest(t)
	g.start(0)
	bufs := g.postRX(1, 100)
	g.be.in <- testFrame(200) // too big for the one chain: dropped
	g.be.in <- testFrame(50)
	id, n := g.waitUsed(g.rx)
	assert.EqualValues(t, 0, id)
	assert.EqualValues(t, abi.VirtioNetHdrSize+50, n)
	_, nb := g.rxHeader(bufs[0])
	assert.EqualValues(t, 1, nb)
	assert.Equal(t, testFrame(50), g.mem[bufs[0]+abi.VirtioNetHdrSize:bufs[0]+abi.VirtioNetHdrSize+50])
	assert.EqualValues(t, 1, g.dev.Stats.RXDropped.Load())

	// A chain of several descriptors holds one frame, header split off.
	h, d := g.alloc(abi.VirtioNetHdrSize), g.alloc(1500)
	g.rx.post(tdesc{addr: h, len: abi.VirtioNetHdrSize, flags: abi.VirtqDescFWrite}, tdesc{addr: d, len: 1500, flags: abi.VirtqDescFWrite})
	g.kick(g.rx)
	g.be.in <- testFrame(1000)
	_, n = g.waitUsed(g.rx)
	assert.EqualValues(t, abi.VirtioNetHdrSize+1000, n)
	assert.Equal(t, testFrame(1000), g.mem[d:d+1000])
}

func TestNetRXChecksumFlag(t *testing.T) {
	g := newNetGuest(t)
	g.dev.ChecksumsValid = true
	g.start(abi.VirtioNetFGuestCsum)
	bufs := g.postRX(1, 128)
	g.be.in <- testFrame(60)
	g.waitUsed(g.rx)
	flags, _ := g.rxHeader(bufs[0])
	assert.EqualValues(t, abi.VirtioNetHdrFDataValid, flags)

	g2 := newNetGuest(t)
	g2.dev.ChecksumsValid = true
	g2.start(0) // GUEST_CSUM not negotiated: never flag
	bufs = g2.postRX(1, 128)
	g2.be.in <- testFrame(60)
	g2.waitUsed(g2.rx)
	flags, _ = g2.rxHeader(bufs[0])
	assert.Zero(t, flags)
}

func TestNetRXEventIdxSuppression(t *testing.T) {
	g := newNetGuest(t)
	g.start(abi.VirtioNetFMrgRxbuf | abi.VirtioFEventIdx)
	g.rx.setUsedEvent(2) // interrupt when the third buffer is used
	g.postRX(8, 128)
	before := g.irqs.Load()
	g.be.in <- testFrame(60)
	g.waitUsed(g.rx)
	time.Sleep(10 * time.Millisecond)
	assert.Equal(t, before, g.irqs.Load(), "used_event not reached: no interrupt")
	g.be.in <- testFrame(60)
	g.waitUsed(g.rx)
	g.be.in <- testFrame(60)
	g.waitUsed(g.rx)
	require.Eventually(t, func() bool { return g.irqs.Load() > before }, timeout, tick)
}

func TestNetRXBacklogDrops(t *testing.T) {
	be := newChanBackend()
	dev, err := NewNet(be, testMAC, 1500)
	require.NoError(t, err)
	defer be.Close()
	// Nobody activates the device: the backlog fills, then frames drop.
	for range netRXBacklog + 10 {
		be.in <- testFrame(60)
	}
	require.Eventually(t, func() bool { return dev.Stats.RXDropped.Load() == 10 }, timeout, tick)
	assert.EqualValues(t, 10, dev.Stats.RXBacklogFull.Load())
	assert.Zero(t, dev.Stats.RXWaits.Load(), "no receive worker: nothing to wait for")
	be.in <- testFrame(60)[:5] // a runt from the backend is dropped too
	require.Eventually(t, func() bool { return dev.Stats.RXDropped.Load() == 11 }, timeout, tick)
}

// numberedFrame is testFrame(60) with i in its first payload bytes.
func numberedFrame(i int) []byte {
	f := testFrame(60)
	binary.BigEndian.PutUint16(f[14:], uint16(i))
	return f
}

// TestNetRXBacklogBackpressure: while the driver is receiving, a full
// backlog makes the device stop reading the backend instead of dropping:
// every frame arrives, in order, once the guest gives it buffers.
func TestNetRXBacklogBackpressure(t *testing.T) {
	g := newNetGuest(t)
	g.start(abi.VirtioNetFMrgRxbuf)
	const frames = netRXBacklog + 40
	go func() {
		for i := range frames {
			select {
			case g.be.in <- numberedFrame(i):
			case <-g.be.done:
				return
			}
		}
	}()
	// No receive buffers yet: the backlog fills and the reader waits.
	require.Eventually(t, func() bool { return g.dev.Stats.RXWaits.Load() > 0 }, timeout, tick)
	const round = 16 // the ring's size
	var bufs []uint64
	for range round {
		bufs = append(bufs, g.alloc(128))
	}
	for next := 0; next < frames; {
		for _, a := range bufs {
			g.rx.post(tdesc{addr: a, len: 128, flags: abi.VirtqDescFWrite})
		}
		g.kick(g.rx)
		for _, a := range bufs[:min(round, frames-next)] {
			_, n := g.waitUsed(g.rx)
			require.EqualValues(t, abi.VirtioNetHdrSize+60, n)
			require.Equal(t, numberedFrame(next), g.mem[a+abi.VirtioNetHdrSize:a+abi.VirtioNetHdrSize+60], "frame %d", next)
			next++
		}
	}
	assert.Zero(t, g.dev.Stats.RXDropped.Load())
	assert.EqualValues(t, frames, g.dev.Stats.RXFrames.Load())
}

// TestNetRXBacklogResetStopsWaiting: a reader waiting for room gives up
// when the driver resets the device (nobody would make room): it drops
// and goes on reading the backend.
func TestNetRXBacklogResetStopsWaiting(t *testing.T) {
	g := newNetGuest(t)
	g.start(abi.VirtioNetFMrgRxbuf)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := 0; ; i++ {
			select {
			case g.be.in <- numberedFrame(i):
			case <-stop:
				return
			}
		}
	}()
	require.Eventually(t, func() bool { return g.dev.Stats.RXWaits.Load() > 0 }, timeout, tick)
	assert.Zero(t, g.dev.Stats.RXDropped.Load())
	g.w32(abi.VirtioMMIOStatus, 0)
	// The backend keeps being drained, into drops.
	require.Eventually(t, func() bool { return g.dev.Stats.RXBacklogFull.Load() > 100 }, timeout, tick)
	assert.Equal(t, g.dev.Stats.RXDropped.Load(), g.dev.Stats.RXBacklogFull.Load())
}

// Misbehaving drivers: the device marks itself DEVICE_NEEDS_RESET and keeps
// the launcher alive.

func TestNetRXReadableBufferNeedsReset(t *testing.T) {
	g := newNetGuest(t)
	g.start(abi.VirtioNetFMrgRxbuf)
	a := g.alloc(128)
	g.rx.post(tdesc{addr: a, len: 128}) // device-readable receive buffer
	g.kick(g.rx)
	g.be.in <- testFrame(60)
	require.Eventually(t, g.needsReset, timeout, tick)
	assert.ErrorContains(t, g.m.Err(), "device-readable")
}

func TestNetRXTinyBufferNeedsReset(t *testing.T) {
	g := newNetGuest(t)
	g.start(abi.VirtioNetFMrgRxbuf)
	g.postRX(1, 4)
	g.be.in <- testFrame(60)
	require.Eventually(t, g.needsReset, timeout, tick)
	assert.ErrorContains(t, g.m.Err(), "header")
}

func TestNetBadAddressesNeedReset(t *testing.T) {
	for _, tc := range []struct {
		name string
		bad  func(g *netGuest)
		msg  string
	}{
		{"tx buffer outside memory", func(g *netGuest) {
			g.tx.post(tdesc{addr: uint64(len(g.mem)) - 4, len: 64})
			g.kick(g.tx)
		}, "outside guest memory"},
		{"tx length overflows", func(g *netGuest) {
			g.tx.post(tdesc{addr: 0xffffffff_fffffff0, len: 0x20})
			g.kick(g.tx)
		}, "outside guest memory"},
		{"rx buffer outside memory", func(g *netGuest) {
			g.rx.post(tdesc{addr: 1 << 40, len: 1500, flags: abi.VirtqDescFWrite})
			g.kick(g.rx)
			g.be.in <- testFrame(60)
		}, "outside guest memory"},
		{"tx avail index jump", func(g *netGuest) {
			binary.LittleEndian.PutUint16(g.mem[g.tx.avail+2:], 1000)
			g.kick(g.tx)
		}, "jumped"},
		{"rx head out of range", func(g *netGuest) {
			binary.LittleEndian.PutUint16(g.mem[g.rx.avail+4:], 99)
			binary.LittleEndian.PutUint16(g.mem[g.rx.avail+2:], 1)
			g.kick(g.rx)
			g.be.in <- testFrame(60)
		}, "out of range"},
		{"tx descriptor loop", func(g *netGuest) {
			putDesc(g.mem, g.tx.desc, 0, tdesc{addr: ngData, len: 64, flags: abi.VirtqDescFNext, next: 0})
			binary.LittleEndian.PutUint16(g.mem[g.tx.avail+2:], 1)
			g.kick(g.tx)
		}, "loop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newNetGuest(t)
			g.start(abi.VirtioNetFMrgRxbuf | abi.VirtioNetFCsum)
			tc.bad(g)
			require.Eventually(t, g.needsReset, timeout, tick)
			assert.ErrorContains(t, g.m.Err(), tc.msg)
			assert.ErrorContains(t, g.dev.Err(), tc.msg, "the device keeps it for the launcher")
			// A reset brings the device back.
			g.w32(abi.VirtioMMIOStatus, 0)
			g.start(abi.VirtioNetFMrgRxbuf)
			g.send([abi.VirtioNetHdrSize]byte{}, testFrame(60))
			g.waitUsed(g.tx)
		})
	}
}

type discardBackend struct{}

func (discardBackend) ReadFrame([]byte) (int, error) { select {} }
func (discardBackend) WriteFrame([]byte) error       { return nil }

// BenchmarkNetTXFrame is the transmit cost of one full-size frame with a
// checksum to complete: gather, checksum, hand to the backend.
func BenchmarkNetTXFrame(b *testing.B) {
	mem := guestMemory(b, 1<<16)
	f, start, off := udpPacket(make([]byte, 1472))
	hdr := mem[0x1000 : 0x1000+abi.VirtioNetHdrSize]
	hdr[0] = abi.VirtioNetHdrFNeedsCsum
	binary.LittleEndian.PutUint16(hdr[6:], start)
	binary.LittleEndian.PutUint16(hdr[8:], off)
	copy(mem[0x2000:], f)
	c := &Chain{Segs: []Segment{{Addr: 0x1000, Data: hdr}, {Addr: 0x2000, Data: mem[0x2000 : 0x2000+len(f)]}}}
	tx := &netTX{n: &Net{backend: discardBackend{}}, features: abi.VirtioNetFCsum, buf: make([]byte, abi.VirtioNetHdrSize+MaxFrame)}
	b.SetBytes(int64(len(f)))
	for b.Loop() {
		tx.send(c)
	}
}

// BenchmarkNetRXFrame is the receive cost of one full-size frame into
// mergeable 2 KiB buffers, ring handling included.
func BenchmarkNetRXFrame(b *testing.B) {
	mem := guestMemory(b, 1<<20)
	const size = 256
	q, err := NewQueue(mem, 0, QueueConfig{Size: size, Desc: 0, Driver: 0x1000 * 4, Device: 0x1000 * 5}, abi.VirtioNetFMrgRxbuf|abi.VirtioFEventIdx)
	require.NoError(b, err)
	for i := range uint16(size) {
		putDesc(mem, 0, i, tdesc{addr: 0x10000 + 2048*uint64(i), len: 2048, flags: abi.VirtqDescFWrite})
		binary.LittleEndian.PutUint16(mem[q.avail+4+2*uint64(i):], i)
	}
	rx := &netRX{n: &Net{}, q: q, irq: &failInterrupter{}, features: abi.VirtioNetFMrgRxbuf | abi.VirtioFEventIdx}
	frame := append(make([]byte, abi.VirtioNetHdrSize), testFrame(1514)...)
	b.SetBytes(int64(len(frame)))
	var idx uint16
	for b.Loop() {
		// Recycle: the driver makes the buffer available again.
		idx++
		binary.LittleEndian.PutUint16(mem[q.avail+2:], idx)
		if done, err := rx.deliver(frame); !done || err != nil {
			b.Fatal(done, err)
		}
	}
}

// offloadBackend is a chanBackend whose frames carry virtio-net headers.
type offloadBackend struct {
	*chanBackend
	offloads chan [4]bool
}

func (b *offloadBackend) SetOffloads(csum, tso4, tso6, ecn bool) error {
	b.offloads <- [4]bool{csum, tso4, tso6, ecn}
	return nil
}

func newOffloadGuest(t *testing.T) (*netGuest, *offloadBackend) {
	be := &offloadBackend{chanBackend: newChanBackend(), offloads: make(chan [4]bool, 4)}
	dev, err := NewNet(be, testMAC, 1500)
	require.NoError(t, err)
	t.Cleanup(be.Close)
	return &netGuest{testDriver: newTestDriver(t, dev), dev: dev, be: be.chanBackend, data: ngData}, be
}

func gsoHeader(flags, gso uint8) (h [abi.VirtioNetHdrSize]byte) {
	_, start, off := udpPacket(nil)
	h[0], h[1] = flags, gso
	binary.LittleEndian.PutUint16(h[2:], 54)   // hdr_len
	binary.LittleEndian.PutUint16(h[4:], 1448) // gso_size
	binary.LittleEndian.PutUint16(h[6:], start)
	binary.LittleEndian.PutUint16(h[8:], off)
	return h
}

func TestNetOffloadFeatures(t *testing.T) {
	g, be := newOffloadGuest(t)
	g.w32(abi.VirtioMMIODeviceFeaturesSel, 0)
	offered := uint64(g.r32(abi.VirtioMMIODeviceFeatures))
	for _, f := range []uint64{abi.VirtioNetFHostTSO4, abi.VirtioNetFHostTSO6, abi.VirtioNetFHostECN,
		abi.VirtioNetFGuestTSO4, abi.VirtioNetFGuestTSO6, abi.VirtioNetFGuestECN, abi.VirtioNetFCsum, abi.VirtioNetFGuestCsum} {
		assert.NotZero(t, offered&f, "feature %#x offered with an offload backend", f)
	}
	g.start(abi.VirtioNetFGuestCsum | abi.VirtioNetFGuestTSO4 | abi.VirtioNetFCsum)
	assert.Equal(t, [4]bool{true, true, false, false}, <-be.offloads, "the backend learns what the driver accepts")

	plain := newNetGuest(t)
	plain.w32(abi.VirtioMMIODeviceFeaturesSel, 0)
	assert.Zero(t, uint64(plain.r32(abi.VirtioMMIODeviceFeatures))&netOffloadFeatures, "no TSO without an offload backend")
}

func TestNetOffloadTX(t *testing.T) {
	g, _ := newOffloadGuest(t)
	g.start(abi.VirtioNetFCsum | abi.VirtioNetFHostTSO4)
	f, _, _ := udpPacket(make([]byte, 100))
	hdr := gsoHeader(abi.VirtioNetHdrFNeedsCsum, abi.VirtioNetHdrGSOTCPv4)
	hdr[10] = 7 // num_buffers is cleared on the way out
	g.send(hdr, f)
	g.waitUsed(g.tx)
	got := <-g.be.out
	wantHdr := gsoHeader(abi.VirtioNetHdrFNeedsCsum, abi.VirtioNetHdrGSOTCPv4)
	want := append(wantHdr[:], f...)
	assert.Equal(t, want, got, "header passed through, checksum left to the backend")

	// Asking for what was not negotiated is dropped.
	for _, h := range [][abi.VirtioNetHdrSize]byte{
		gsoHeader(abi.VirtioNetHdrFNeedsCsum, abi.VirtioNetHdrGSOTCPv6),
		gsoHeader(abi.VirtioNetHdrFNeedsCsum, abi.VirtioNetHdrGSOTCPv4|abi.VirtioNetHdrGSOECN),
		gsoHeader(abi.VirtioNetHdrFNeedsCsum, 3), // UDP fragmentation offload
	} {
		g.send(h, f)
		g.waitUsed(g.tx)
	}
	assert.EqualValues(t, 3, g.dev.Stats.TXDropped.Load())
	assert.Empty(t, g.be.out)
}

func TestNetOffloadRX(t *testing.T) {
	f, start, off := udpPacket(make([]byte, 50))

	// A driver that takes partial checksums and super-frames gets the
	// backend's header as is.
	g, _ := newOffloadGuest(t)
	g.start(abi.VirtioNetFMrgRxbuf | abi.VirtioNetFGuestCsum | abi.VirtioNetFGuestTSO4)
	bufs := g.postRX(2, 256)
	h := gsoHeader(abi.VirtioNetHdrFNeedsCsum, abi.VirtioNetHdrGSOTCPv4)
	g.be.in <- append(h[:], f...)
	_, n := g.waitUsed(g.rx)
	assert.EqualValues(t, abi.VirtioNetHdrSize+len(f), n)
	h[10] = 1 // num_buffers
	assert.Equal(t, h[:], g.mem[bufs[0]:bufs[0]+abi.VirtioNetHdrSize])
	assert.Equal(t, f, g.mem[bufs[0]+abi.VirtioNetHdrSize:bufs[0]+uint64(n)])

	// A driver without GUEST_CSUM gets the checksum completed and no
	// flags; without GUEST_TSO4 a super-frame is dropped.
	g2, _ := newOffloadGuest(t)
	g2.start(abi.VirtioNetFMrgRxbuf)
	bufs = g2.postRX(2, 256)
	h = gsoHeader(abi.VirtioNetHdrFNeedsCsum, abi.VirtioNetHdrGSOTCPv4)
	g2.be.in <- append(h[:], f...)
	h = gsoHeader(abi.VirtioNetHdrFNeedsCsum, 0)
	g2.be.in <- append(h[:], f...)
	_, n = g2.waitUsed(g2.rx)
	assert.Zero(t, g2.mem[bufs[0]], "no NEEDS_CSUM, no DATA_VALID")
	got := g2.mem[bufs[0]+abi.VirtioNetHdrSize : bufs[0]+uint64(n)]
	assert.True(t, udpChecksumOK(got))
	assert.Equal(t, f[:start+off], got[:start+off])
	assert.EqualValues(t, 1, g2.dev.Stats.RXDropped.Load())
}

// batchBackend is a chanBackend that takes bursts (NetBatchBackend):
// Flush passes the queued frames on and reports how many it had.
type batchBackend struct {
	*chanBackend
	pending [][]byte
	flushed chan int
	fail    atomic.Bool
}

func (b *batchBackend) QueueFrame(f []byte) error {
	b.pending = append(b.pending, append([]byte(nil), f...))
	return nil
}

func (b *batchBackend) Flush() error {
	p := b.pending
	b.pending = nil
	b.flushed <- len(p)
	if b.fail.Load() {
		return errors.New("gone")
	}
	for _, f := range p {
		b.out <- f
	}
	return nil
}

// TestNetTXBatch: with a NetBatchBackend, the frames of one pass over the
// transmit ring go out in one Flush, in order, counted when it succeeds
// and dropped when it fails.
func TestNetTXBatch(t *testing.T) {
	bb := &batchBackend{chanBackend: newChanBackend(), flushed: make(chan int, 16)}
	dev, err := NewNet(bb, testMAC, 1500)
	require.NoError(t, err)
	t.Cleanup(bb.Close)
	dev.TXPoll = 0 // a pass per notification
	g := &netGuest{testDriver: newTestDriver(t, dev), dev: dev, be: bb.chanBackend, data: ngData}
	g.start(abi.VirtioNetFCsum | abi.VirtioFEventIdx)
	var frames [][]byte
	for i := range 5 {
		f := testFrame(60 + i)
		frames = append(frames, f)
		h, a := g.alloc(abi.VirtioNetHdrSize), g.alloc(len(f))
		copy(g.mem[a:], f)
		g.tx.post(tdesc{addr: h, len: abi.VirtioNetHdrSize}, tdesc{addr: a, len: uint32(len(f))})
	}
	g.kick(g.tx)
	select {
	case n := <-bb.flushed:
		assert.Equal(t, 5, n, "one flush for the burst")
	case <-time.After(timeout):
		t.Fatal("no flush")
	}
	for i, f := range frames {
		assert.Equal(t, f, <-g.be.out, "frame %d", i)
	}
	require.Eventually(t, func() bool { return dev.Stats.TXFrames.Load() == 5 }, timeout, tick)

	bb.fail.Store(true)
	g.send([abi.VirtioNetHdrSize]byte{}, testFrame(70))
	g.waitUsed(g.tx)
	assert.Equal(t, 1, <-bb.flushed)
	require.Eventually(t, func() bool { return dev.Stats.TXDropped.Load() == 1 }, timeout, tick)
	assert.EqualValues(t, 5, dev.Stats.TXFrames.Load())
}
