package virtio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
)

// virtio-net feature bits (virtio spec 5.1.3).
const (
	NetFeatureCSUM      = 1 << 0  // VIRTIO_NET_F_CSUM: driver may send partially checksummed packets
	NetFeatureGuestCSUM = 1 << 1  // VIRTIO_NET_F_GUEST_CSUM: device may send packets flagged DATA_VALID
	NetFeatureMTU       = 1 << 3  // VIRTIO_NET_F_MTU: config mtu is valid
	NetFeatureMAC       = 1 << 5  // VIRTIO_NET_F_MAC: config mac is valid
	NetFeatureMrgRxbuf  = 1 << 15 // VIRTIO_NET_F_MRG_RXBUF: a packet may span several receive chains
	NetFeatureStatus    = 1 << 16 // VIRTIO_NET_F_STATUS: config status is valid

	netFeatures = NetFeatureCSUM | NetFeatureGuestCSUM | NetFeatureMTU | NetFeatureMAC |
		NetFeatureMrgRxbuf | NetFeatureStatus
)

// virtio_net_hdr flags and GSO types (virtio spec 5.1.6).
const (
	NetHdrFlagNeedsCSUM = 1 // csum_start/csum_offset say where to put the checksum
	NetHdrFlagDataValid = 2 // the packet's checksums are known good
	NetHdrGSONone       = 0

	// NetHdrSize is the size of struct virtio_net_hdr_v1, which every
	// packet starts with once VIRTIO_F_VERSION_1 is negotiated.
	NetHdrSize = 12
)

// Layout of the virtio-net configuration space (struct virtio_net_config).
const (
	netCfgMAC    = 0
	netCfgStatus = 6
	netCfgPairs  = 8
	netCfgMTU    = 10
	netCfgSize   = 12

	netStatusLinkUp = 1
)

const (
	// NetQueueRX and NetQueueTX are the queue indices of receiveq1 and
	// transmitq1; there is one pair and no control queue.
	NetQueueRX = 0
	NetQueueTX = 1

	// MaxFrame is the largest Ethernet frame (without virtio-net header)
	// the device moves in either direction: a 64 KiB IP packet plus an
	// Ethernet header with a VLAN tag. Larger transmit requests are dropped.
	MaxFrame = 65535 + 18

	minFrame = 14 // an Ethernet header

	// netRXBacklog is how many received frames wait for guest buffers
	// before further frames are dropped, like a NIC's receive FIFO.
	netRXBacklog = 256
)

// NetBackend carries Ethernet frames, without virtio-net header, between the
// device and the outside world (a user-mode network stack, a TAP device).
// The device calls ReadFrame from one goroutine and WriteFrame from another.
type NetBackend interface {
	// ReadFrame blocks until a frame arrives and copies it into buf
	// (MaxFrame bytes long), returning its length. An error means the
	// backend is closed: the device stops reading.
	ReadFrame(buf []byte) (int, error)
	// WriteFrame sends one complete frame with valid checksums. It may
	// block while the backend is congested; it must not keep frame.
	WriteFrame(frame []byte) error
}

// NetStats counts what the device did with frames, for tests and the
// launcher's diagnostics.
type NetStats struct {
	TXFrames, TXDropped atomic.Uint64 // guest to backend
	RXFrames, RXDropped atomic.Uint64 // backend to guest
}

// Net is the virtio network device (device ID 1) with one receive and one
// transmit queue. Frames the guest transmits get their checksum filled in
// (VIRTIO_NET_F_CSUM) and go to the backend; frames from the backend go into
// the guest's receive buffers, spread over several of them when the driver
// negotiated VIRTIO_NET_F_MRG_RXBUF.
//
// Queue work runs on two worker goroutines started in Activate, never on a
// vCPU thread. A reader goroutine, running for the device's whole life,
// drains the backend into a bounded backlog so a guest without receive
// buffers (not booted yet, or slow) makes the device drop frames rather
// than stall the backend.
type Net struct {
	Stats NetStats

	// ChecksumsValid says the backend's frames always carry correct
	// checksums (the user-mode stack computes every one). With
	// VIRTIO_NET_F_GUEST_CSUM negotiated, received packets are then
	// flagged DATA_VALID and the guest may skip verifying them. Set it
	// before the driver activates the device.
	ChecksumsValid bool

	mac     net.HardwareAddr
	mtu     uint16
	backend NetBackend
	rx      chan []byte

	stop    chan struct{}
	wg      sync.WaitGroup
	lastErr atomic.Pointer[error]
}

// Err returns the driver's protocol violation that last broke the device
// (it is then DEVICE_NEEDS_RESET), for the launcher's diagnostics, or nil.
func (n *Net) Err() error {
	if p := n.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// String summarises the frame counters.
func (n *Net) String() string {
	return fmt.Sprintf("tx %d frames (%d dropped), rx %d frames (%d dropped)",
		n.Stats.TXFrames.Load(), n.Stats.TXDropped.Load(), n.Stats.RXFrames.Load(), n.Stats.RXDropped.Load())
}

// recordingInterrupter keeps the error a worker reports before passing it
// on to the transport.
type recordingInterrupter struct {
	Interrupter
	n *Net
}

func (r recordingInterrupter) Fail(err error) {
	r.n.lastErr.Store(&err)
	r.Interrupter.Fail(err)
}

// NewNet returns a virtio-net device with the given MAC and MTU on backend
// and starts reading the backend.
func NewNet(backend NetBackend, mac net.HardwareAddr, mtu uint16) (*Net, error) {
	if len(mac) != 6 {
		return nil, fmt.Errorf("virtio-net: MAC %v is not 6 bytes", mac)
	}
	if mtu < 68 || int(mtu)+18 > MaxFrame {
		return nil, fmt.Errorf("virtio-net: MTU %d out of range", mtu)
	}
	n := &Net{mac: mac, mtu: mtu, backend: backend, rx: make(chan []byte, netRXBacklog)}
	go n.readBackend()
	return n, nil
}

// readBackend moves frames from the backend into the backlog until the
// backend is closed.
func (n *Net) readBackend() {
	buf := make([]byte, MaxFrame)
	for {
		l, err := n.backend.ReadFrame(buf)
		if err != nil {
			return
		}
		if l < minFrame || l > len(buf) {
			n.Stats.RXDropped.Add(1)
			continue
		}
		select {
		case n.rx <- append([]byte(nil), buf[:l]...):
		default:
			n.Stats.RXDropped.Add(1)
		}
	}
}

func (n *Net) ID() uint32       { return DeviceIDNet }
func (n *Net) Features() uint64 { return netFeatures }
func (n *Net) NumQueues() int   { return 2 }
func (n *Net) QueueMax() uint16 { return 256 }

// ReadConfig serves struct virtio_net_config: mac, status (link always up),
// max_virtqueue_pairs and mtu. Everything is read-only.
func (n *Net) ReadConfig(off uint64, data []byte) {
	var cfg [netCfgSize]byte
	copy(cfg[netCfgMAC:], n.mac)
	binary.LittleEndian.PutUint16(cfg[netCfgStatus:], netStatusLinkUp)
	binary.LittleEndian.PutUint16(cfg[netCfgPairs:], 1)
	binary.LittleEndian.PutUint16(cfg[netCfgMTU:], n.mtu)
	clear(data)
	if off < netCfgSize {
		copy(data, cfg[off:])
	}
}

// WriteConfig ignores writes: no field of the net configuration is
// driver-writable.
func (n *Net) WriteConfig(off uint64, data []byte) {}

// Activate starts the receive and transmit workers.
func (n *Net) Activate(features uint64, mem []byte, queues []*Queue, irq Interrupter) error {
	if len(queues) != 2 || queues[NetQueueRX] == nil || queues[NetQueueTX] == nil {
		return errors.New("virtio-net: receive or transmit queue not set up")
	}
	n.stop = make(chan struct{})
	irq = recordingInterrupter{irq, n}
	rx := &netRX{n: n, q: queues[NetQueueRX], irq: irq, features: features}
	tx := &netTX{n: n, features: features, buf: make([]byte, NetHdrSize+MaxFrame)}
	n.wg.Add(2)
	go func(stop <-chan struct{}) {
		defer n.wg.Done()
		rx.run(stop)
	}(n.stop)
	go func(q *Queue, stop <-chan struct{}) {
		defer n.wg.Done()
		q.Serve(stop, irq, tx.send)
	}(queues[NetQueueTX], n.stop)
	return nil
}

// Reset stops the workers and waits for them. Frames keep arriving into
// the backlog (and are dropped once it is full) until the next Activate.
func (n *Net) Reset() {
	if n.stop != nil {
		close(n.stop)
		n.wg.Wait()
		n.stop = nil
	}
}

// netTX is the transmit worker's state.
type netTX struct {
	n        *Net
	features uint64
	buf      []byte // gathers one request: header and frame
}

// send handles one transmit chain: virtio-net header plus frame in the
// device-readable buffers. A malformed header or frame is the guest's
// problem, not a protocol violation: the frame is dropped and counted, like
// a NIC drops a runt. It never writes into the chain.
func (t *netTX) send(c *Chain) (uint32, error) {
	total := c.ReadableLen()
	if total < NetHdrSize+minFrame || total > uint64(len(t.buf)) {
		t.n.Stats.TXDropped.Add(1)
		return 0, nil
	}
	p := t.buf[:0]
	for _, s := range c.Segs {
		if !s.Writable {
			p = append(p, s.Data...)
		}
	}
	hdr, frame := p[:NetHdrSize], p[NetHdrSize:]
	if !t.prepare(hdr, frame) {
		t.n.Stats.TXDropped.Add(1)
		return 0, nil
	}
	if err := t.n.backend.WriteFrame(frame); err != nil {
		// The backend is gone (launcher shutting down): drop.
		t.n.Stats.TXDropped.Add(1)
		return 0, nil
	}
	t.n.Stats.TXFrames.Add(1)
	return 0, nil
}

// prepare applies the header to frame: it completes a partial checksum the
// driver asked for with NEEDS_CSUM. It reports false for a header the device
// cannot honour (segmentation, which is not offered; a checksum outside the
// frame; a checksum request without VIRTIO_NET_F_CSUM).
func (t *netTX) prepare(hdr, frame []byte) bool {
	flags, gso := hdr[0], hdr[1]
	if gso != NetHdrGSONone {
		return false
	}
	if flags&NetHdrFlagNeedsCSUM == 0 {
		return true
	}
	if t.features&NetFeatureCSUM == 0 {
		return false
	}
	start := uint64(binary.LittleEndian.Uint16(hdr[6:]))
	off := uint64(binary.LittleEndian.Uint16(hdr[8:]))
	at := start + off
	if start >= uint64(len(frame)) || at+2 > uint64(len(frame)) || off%2 != 0 {
		return false
	}
	// The driver left the pseudo-header sum in the checksum field (Linux's
	// CHECKSUM_PARTIAL): summing from csum_start over it completes it.
	sum := ^foldChecksum(checksum(frame[start:], 0))
	if sum == 0 {
		// As Linux's skb_checksum_help: 0 means "no checksum" for UDP.
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(frame[at:], sum)
	return true
}

// checksum adds b to the running one's-complement sum (RFC 1071) without
// folding.
func checksum(b []byte, sum uint64) uint64 {
	for len(b) >= 8 {
		v := binary.BigEndian.Uint64(b)
		sum += v>>48 + v>>32&0xffff + v>>16&0xffff + v&0xffff
		b = b[8:]
	}
	for len(b) >= 2 {
		sum += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	return sum
}

func foldChecksum(sum uint64) uint16 {
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}

// netRX is the receive worker's state.
type netRX struct {
	n        *Net
	q        *Queue
	irq      Interrupter
	features uint64
	held     []*Chain // chains taken from the ring for the frame being delivered
	heldCap  uint64   // their writable bytes
}

// run delivers backlog frames into guest buffers until stop is closed or
// the driver breaks the protocol.
func (r *netRX) run(stop <-chan struct{}) {
	var frame []byte
	for {
		if frame == nil {
			select {
			case <-stop:
				return
			case frame = <-r.n.rx:
			}
		}
		done, err := r.deliver(frame)
		if err != nil {
			r.irq.Fail(err)
			return
		}
		if !done {
			// No room: tell the driver what is already there, then wait
			// until it adds buffers (Next left avail_event asking for it).
			r.irq.Used(r.q)
			select {
			case <-stop:
				return
			case <-r.q.Kicks():
			}
			continue
		}
		frame = nil
		if len(r.n.rx) == 0 {
			// Interrupt once per burst rather than once per frame.
			r.irq.Used(r.q)
		}
	}
}

// deliver copies frame into receive chains. It reports false, keeping the
// chains taken so far, when the ring ran out of buffers before the frame
// fit; true once the frame was delivered or dropped.
func (r *netRX) deliver(frame []byte) (bool, error) {
	mrg := r.features&NetFeatureMrgRxbuf != 0
	need := uint64(NetHdrSize + len(frame))
	for r.heldCap < need {
		if !mrg && len(r.held) == 1 {
			// Without mergeable buffers the frame must fit one chain:
			// drop it and keep the chain for the next frame.
			r.n.Stats.RXDropped.Add(1)
			return true, nil
		}
		if len(r.held) >= int(r.q.Size) {
			// Even every descriptor of the ring cannot hold it.
			r.n.Stats.RXDropped.Add(1)
			return true, nil
		}
		c, err := r.q.Next()
		if err != nil {
			return false, err
		}
		if c == nil {
			return false, nil
		}
		if c.ReadableLen() != 0 {
			return false, &ProtocolError{Queue: r.q.Index, Reason: "receive chain has device-readable buffers"}
		}
		if c.WritableLen() < NetHdrSize {
			return false, &ProtocolError{Queue: r.q.Index,
				Reason: fmt.Sprintf("receive chain of %d bytes cannot hold the %d-byte header", c.WritableLen(), NetHdrSize)}
		}
		r.held = append(r.held, c)
		r.heldCap += c.WritableLen()
	}

	// Use the shortest prefix of the held chains that holds the frame; any
	// others stay held for the next one.
	k, room := 0, uint64(0)
	for room < need {
		room += r.held[k].WritableLen()
		k++
	}
	var hdr [NetHdrSize]byte
	if r.features&NetFeatureGuestCSUM != 0 && r.n.ChecksumsValid {
		hdr[0] = NetHdrFlagDataValid
	}
	binary.LittleEndian.PutUint16(hdr[10:], uint16(k))
	src := [2][]byte{hdr[:], frame}
	for _, c := range r.held[:k] {
		var written uint32
		for _, s := range c.Segs {
			dst := s.Data
			for len(dst) > 0 && (len(src[0]) > 0 || len(src[1]) > 0) {
				if len(src[0]) == 0 {
					src[0], src[1] = src[1], nil
				}
				n := copy(dst, src[0])
				src[0], dst = src[0][n:], dst[n:]
				written += uint32(n)
			}
		}
		r.q.Put(c, written)
	}
	rest := copy(r.held, r.held[k:])
	clear(r.held[rest:])
	r.held = r.held[:rest]
	r.heldCap -= room
	r.n.Stats.RXFrames.Add(1)
	return true, nil
}
