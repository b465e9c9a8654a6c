package virtio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/unigo-os/unigo/abi"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// virtio-net feature bits (virtio spec 5.1.3).
const (

	// Segmentation offloads, offered only with a NetOffloadBackend (the
	// device never segments or coalesces itself).

	netFeatures = abi.VirtioNetFCsum | abi.VirtioNetFGuestCsum | abi.VirtioNetFMTU | abi.VirtioNetFMAC |
		abi.VirtioNetFMrgRxbuf | abi.VirtioNetFStatus
	netOffloadFeatures = abi.VirtioNetFGuestTSO4 | abi.VirtioNetFGuestTSO6 | abi.VirtioNetFGuestECN |
		abi.VirtioNetFHostTSO4 | abi.VirtioNetFHostTSO6 | abi.VirtioNetFHostECN
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

	// DefaultTXPoll is Net.TXPoll's default: a guest answering a request
	// usually sends its next frame within it, so a burst costs it one
	// notification instead of one per frame.
	DefaultTXPoll = 50 * time.Microsecond
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

// NetBatchBackend is a NetBackend that takes a burst of transmitted
// frames in one go: the device queues each frame of a pass over the
// transmit ring (QueueFrame copies it; the backend sends early when its
// batch is full) and calls Flush when the pass ends, before it polls or
// waits for the driver again.
type NetBatchBackend interface {
	NetBackend
	QueueFrame(frame []byte) error
	// Flush sends the queued frames; an error means they were lost.
	Flush() error
}

// NetOffloadBackend is a NetBackend whose frames carry a virtio_net_hdr_v1
// (abi.VirtioNetHdrSize bytes) in front, in both directions: a TAP device opened with
// IFF_VNET_HDR. The device then passes checksum and segmentation requests
// through instead of completing checksums itself, and offers TSO both ways:
// the host kernel segments the guest's super-frames and hands it unsegmented
// ones. ReadFrame's buf is abi.VirtioNetHdrSize+MaxFrame bytes long.
type NetOffloadBackend interface {
	NetBackend
	// SetOffloads says which offloads the driver accepts in received
	// frames' headers: partial checksums, TCPv4/TCPv6 segmentation and
	// ECN. It is called on every activation, with what was negotiated.
	SetOffloads(csum, tso4, tso6, ecn bool) error
}

// NetStats counts what the device did with frames, for tests and the
// launcher's diagnostics.
type NetStats struct {
	TXFrames, TXDropped atomic.Uint64 // guest to backend
	RXFrames, RXDropped atomic.Uint64 // backend to guest
	// RXBacklogFull counts the frames of RXDropped that found the backlog
	// full with no receive worker to make room (Net.queueRX).
	RXBacklogFull atomic.Uint64
	// RXWaits counts the frames that found the backlog full while a
	// receive worker ran, and waited for room instead of being dropped.
	RXWaits atomic.Uint64
}

// Net is the virtio network device (device ID 1) with one receive and one
// transmit queue. Frames the guest transmits go to the backend, with their
// partial checksum completed (VIRTIO_NET_F_CSUM) for a plain backend, with
// their header for a NetOffloadBackend (which then also gets TSO
// super-frames); frames from the backend go into the guest's receive
// buffers, spread over several of them when the driver negotiated
// VIRTIO_NET_F_MRG_RXBUF.
//
// Queue work runs on two worker goroutines started in Activate, never on a
// vCPU thread. A reader goroutine, running for the device's whole life,
// drains the backend into a bounded backlog. A full backlog makes the
// reader wait while the guest is receiving (it is slow: the backend holds
// the frames, nothing is lost) and drop frames while it is not (not booted
// yet, reset), so a guest that never takes frames cannot stall the backend.
type Net struct {
	Stats NetStats

	// ChecksumsValid says the backend's frames always carry correct
	// checksums (the user-mode stack computes every one). With
	// VIRTIO_NET_F_GUEST_CSUM negotiated, received packets are then
	// flagged DATA_VALID and the guest may skip verifying them. Set it
	// before the driver activates the device.
	ChecksumsValid bool

	// TXPoll is how long the transmit worker keeps polling the transmit
	// queue after its last frame before it asks the driver for a
	// notification again (Queue.ServePolling); 0 waits for every
	// notification. NewNet sets DefaultTXPoll; change it before the
	// driver activates the device.
	TXPoll time.Duration

	mac     net.HardwareAddr
	mtu     uint16
	backend NetBackend
	offload NetOffloadBackend // backend, if its frames carry headers
	batch   NetBatchBackend   // backend, if it takes bursts
	rx      chan []byte       // header (zero for a plain backend) and frame

	stop chan struct{}
	wg   sync.WaitGroup
	// rxDone is closed when the current activation's receive worker
	// returns; nil while the device is not active.
	rxDone  atomic.Pointer[chan struct{}]
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

// String summarises the frame counters, and the backend's if it has a
// String method.
func (n *Net) String() string {
	if s, ok := n.backend.(fmt.Stringer); ok {
		return n.counters() + "; " + s.String()
	}
	return n.counters()
}

func (n *Net) counters() string {
	return fmt.Sprintf("tx %d frames (%d dropped), rx %d frames (%d dropped, %d of them at a full backlog; %d waited for room)",
		n.Stats.TXFrames.Load(), n.Stats.TXDropped.Load(), n.Stats.RXFrames.Load(), n.Stats.RXDropped.Load(),
		n.Stats.RXBacklogFull.Load(), n.Stats.RXWaits.Load())
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
	n := &Net{mac: mac, mtu: mtu, backend: backend, rx: make(chan []byte, netRXBacklog), TXPoll: DefaultTXPoll}
	n.offload, _ = backend.(NetOffloadBackend)
	n.batch, _ = backend.(NetBatchBackend)
	go n.readBackend()
	return n, nil
}

// readBackend moves frames from the backend into the backlog until the
// backend is closed.
func (n *Net) readBackend() {
	buf := make([]byte, abi.VirtioNetHdrSize+MaxFrame)
	for {
		var l int
		var err error
		if n.offload != nil {
			l, err = n.offload.ReadFrame(buf)
		} else {
			clear(buf[:abi.VirtioNetHdrSize])
			l, err = n.backend.ReadFrame(buf[abi.VirtioNetHdrSize:])
			l += abi.VirtioNetHdrSize
		}
		if err != nil {
			return
		}
		if l < abi.VirtioNetHdrSize+minFrame || l > len(buf) {
			n.Stats.RXDropped.Add(1)
			continue
		}
		n.queueRX(append([]byte(nil), buf[:l]...))
	}
}

// queueRX puts a frame from the backend in the backlog. When the backlog
// is full and a receive worker runs, it waits for room: the backend's
// reader stops, so its own queue and then its sender hold the frames
// (backpressure, as on a flow-controlled link), rather than the device
// dropping them for TCP to retransmit after a timeout. With no worker
// running (not activated yet, reset, or broken by the driver), nothing
// would make room, so a full backlog drops the frame, as a NIC without
// buffers does.
func (n *Net) queueRX(frame []byte) {
	select {
	case n.rx <- frame:
		return
	default:
	}
	if done := n.rxDone.Load(); done != nil {
		n.Stats.RXWaits.Add(1)
		select {
		case n.rx <- frame:
			return
		case <-*done:
		}
	}
	n.Stats.RXDropped.Add(1)
	n.Stats.RXBacklogFull.Add(1)
}

func (n *Net) ID() uint32 { return abi.VirtioDeviceNet }
func (n *Net) Features() uint64 {
	if n.offload != nil {
		return netFeatures | netOffloadFeatures
	}
	return netFeatures
}
func (n *Net) NumQueues() int   { return 2 }
func (n *Net) QueueMax() uint16 { return 256 }

// ReadConfig serves struct virtio_net_config: mac, status (link always up),
// max_virtqueue_pairs and mtu. Everything is read-only.
func (n *Net) ReadConfig(off uint64, data []byte) {
	var cfg [abi.VirtioNetCfgSize]byte
	copy(cfg[abi.VirtioNetCfgMAC:], n.mac)
	binary.LittleEndian.PutUint16(cfg[abi.VirtioNetCfgStatus:], abi.VirtioNetSLinkUp)
	binary.LittleEndian.PutUint16(cfg[abi.VirtioNetCfgMaxPairs:], 1)
	binary.LittleEndian.PutUint16(cfg[abi.VirtioNetCfgMTU:], n.mtu)
	clear(data)
	if off < abi.VirtioNetCfgSize {
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
	if n.offload != nil {
		if err := n.offload.SetOffloads(features&abi.VirtioNetFGuestCsum != 0, features&abi.VirtioNetFGuestTSO4 != 0,
			features&abi.VirtioNetFGuestTSO6 != 0, features&abi.VirtioNetFGuestECN != 0); err != nil {
			return fmt.Errorf("virtio-net: backend offloads: %w", err)
		}
	}
	n.stop = make(chan struct{})
	irq = recordingInterrupter{irq, n}
	// The receive worker needs a notification only when it ran out of
	// buffers, not for every buffer the driver hands back.
	queues[NetQueueRX].NotifyOnEmpty()
	rx := &netRX{n: n, q: queues[NetQueueRX], irq: irq, features: features}
	tx := &netTX{n: n, features: features, buf: make([]byte, abi.VirtioNetHdrSize+MaxFrame)}
	rxDone := make(chan struct{})
	n.rxDone.Store(&rxDone)
	n.wg.Add(2)
	go func(stop <-chan struct{}) {
		defer n.wg.Done()
		defer close(rxDone)
		rx.run(stop)
	}(n.stop)
	go func(q *Queue, stop <-chan struct{}) {
		defer n.wg.Done()
		q.ServePolling(stop, irq, tx.send, tx.flush, n.TXPoll)
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
		n.rxDone.Store(nil)
	}
}

// netTX is the transmit worker's state.
type netTX struct {
	n        *Net
	features uint64
	buf      []byte // gathers one request: header and frame
	queued   uint64 // frames queued with a NetBatchBackend since the last flush
}

// flush sends the frames queued in this pass over the ring.
func (t *netTX) flush() {
	if t.queued == 0 {
		return
	}
	if err := t.n.batch.Flush(); err != nil {
		t.n.Stats.TXDropped.Add(t.queued)
	} else {
		t.n.Stats.TXFrames.Add(t.queued)
	}
	t.queued = 0
}

// send handles one transmit chain: virtio-net header plus frame in the
// device-readable buffers. A malformed header or frame is the guest's
// problem, not a protocol violation: the frame is dropped and counted, like
// a NIC drops a runt. It never writes into the chain.
func (t *netTX) send(c *Chain) (uint32, error) {
	total := c.ReadableLen()
	if total < abi.VirtioNetHdrSize+minFrame || total > uint64(len(t.buf)) {
		t.n.Stats.TXDropped.Add(1)
		return 0, nil
	}
	p := t.buf[:0]
	for _, s := range c.Segs {
		if !s.Writable {
			p = append(p, s.Data...)
		}
	}
	hdr, frame := p[:abi.VirtioNetHdrSize], p[abi.VirtioNetHdrSize:]
	out := frame
	if t.n.offload != nil {
		// The backend takes the header: it checksums and segments.
		if !headerAllowed(hdr, t.features&abi.VirtioNetFCsum != 0, t.features&abi.VirtioNetFHostTSO4 != 0,
			t.features&abi.VirtioNetFHostTSO6 != 0, t.features&abi.VirtioNetFHostECN != 0) {
			t.n.Stats.TXDropped.Add(1)
			return 0, nil
		}
		binary.LittleEndian.PutUint16(hdr[10:], 0) // num_buffers means nothing here
		out = p
	} else if !headerAllowed(hdr, t.features&abi.VirtioNetFCsum != 0, false, false, false) || !completeChecksum(hdr, frame) {
		t.n.Stats.TXDropped.Add(1)
		return 0, nil
	}
	if t.n.batch != nil {
		if err := t.n.batch.QueueFrame(out); err != nil {
			t.n.Stats.TXDropped.Add(1)
			return 0, nil
		}
		t.queued++
		return 0, nil
	}
	if err := t.n.backend.WriteFrame(out); err != nil {
		// The backend is gone (launcher shutting down) or refused the
		// header (a TAP checks it too): drop.
		t.n.Stats.TXDropped.Add(1)
		return 0, nil
	}
	t.n.Stats.TXFrames.Add(1)
	return 0, nil
}

// headerAllowed reports whether a virtio-net header asks only for what was
// negotiated: a partial checksum with csum, segmentation of the given kinds.
func headerAllowed(hdr []byte, csum, tso4, tso6, ecn bool) bool {
	flags, gso := hdr[0], hdr[1]
	if flags&abi.VirtioNetHdrFNeedsCsum != 0 && !csum {
		return false
	}
	if gso&abi.VirtioNetHdrGSOECN != 0 && !ecn {
		return false
	}
	switch gso &^ abi.VirtioNetHdrGSOECN {
	case abi.VirtioNetHdrGSONone:
		return gso == abi.VirtioNetHdrGSONone
	case abi.VirtioNetHdrGSOTCPv4:
		return tso4
	case abi.VirtioNetHdrGSOTCPv6:
		return tso6
	}
	return false
}

// completeChecksum completes the partial checksum the header asks for with
// NEEDS_CSUM, if any, and clears the flag. It reports false for a checksum
// position outside the frame.
func completeChecksum(hdr, frame []byte) bool {
	if hdr[0]&abi.VirtioNetHdrFNeedsCsum == 0 {
		return true
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
	hdr[0] &^= abi.VirtioNetHdrFNeedsCsum
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

// fixHeader makes pkt's header say only what the driver negotiated: for a
// plain backend, DATA_VALID when the backend vouches for checksums; for an
// offload backend, its header, with a partial checksum completed here if
// the driver cannot take one. It reports false for a frame the driver cannot
// be given (a super-frame it did not negotiate). It is idempotent.
func (r *netRX) fixHeader(pkt []byte) bool {
	hdr, frame := pkt[:abi.VirtioNetHdrSize], pkt[abi.VirtioNetHdrSize:]
	guestCSUM := r.features&abi.VirtioNetFGuestCsum != 0
	if r.n.offload == nil {
		hdr[0] = 0
		if guestCSUM && r.n.ChecksumsValid {
			hdr[0] = abi.VirtioNetHdrFDataValid
		}
		return true
	}
	if !guestCSUM && !completeChecksum(hdr, frame) {
		return false
	}
	if !headerAllowed(hdr, guestCSUM, r.features&abi.VirtioNetFGuestTSO4 != 0,
		r.features&abi.VirtioNetFGuestTSO6 != 0, r.features&abi.VirtioNetFGuestECN != 0) {
		return false
	}
	if !guestCSUM {
		hdr[0] = 0 // no DATA_VALID either
	}
	return true
}

// deliver copies pkt, a virtio-net header and a frame, into receive
// chains. It reports false, keeping the chains taken so far, when the ring
// ran out of buffers before the frame fit; true once the frame was
// delivered or dropped.
func (r *netRX) deliver(pkt []byte) (bool, error) {
	if len(pkt) < abi.VirtioNetHdrSize || !r.fixHeader(pkt) {
		r.n.Stats.RXDropped.Add(1)
		return true, nil
	}
	mrg := r.features&abi.VirtioNetFMrgRxbuf != 0
	need := uint64(len(pkt))
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
		if c.WritableLen() < abi.VirtioNetHdrSize {
			return false, &ProtocolError{Queue: r.q.Index,
				Reason: fmt.Sprintf("receive chain of %d bytes cannot hold the %d-byte header", c.WritableLen(), abi.VirtioNetHdrSize)}
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
	binary.LittleEndian.PutUint16(pkt[10:], uint16(k))
	src := pkt
	for _, c := range r.held[:k] {
		var written uint32
		for _, s := range c.Segs {
			n := copy(s.Data, src)
			src = src[n:]
			written += uint32(n)
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
