package virtionet

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/unigo-os/unigo/abi"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/unigo-os/unigo/drivers/hw"
	"github.com/unigo-os/unigo/drivers/virtio"
)

// Header is struct virtio_net_hdr without num_buffers: the offload
// metadata that travels with a frame. The zero Header means a complete
// frame with its checksums filled in.
type Header struct {
	Flags      uint8
	GSOType    uint8
	HdrLen     uint16 // GSO: length of the Ethernet+IP+TCP headers
	GSOSize    uint16 // GSO: payload bytes per segment (the MSS)
	CsumStart  uint16
	CsumOffset uint16
}

func (h Header) put(b []byte) {
	b[0], b[1] = h.Flags, h.GSOType
	binary.LittleEndian.PutUint16(b[2:], h.HdrLen)
	binary.LittleEndian.PutUint16(b[4:], h.GSOSize)
	binary.LittleEndian.PutUint16(b[6:], h.CsumStart)
	binary.LittleEndian.PutUint16(b[8:], h.CsumOffset)
	binary.LittleEndian.PutUint16(b[10:], 0)
}

func parseHeader(b []byte) (Header, uint16) {
	return Header{
		Flags:      b[0],
		GSOType:    b[1],
		HdrLen:     binary.LittleEndian.Uint16(b[2:]),
		GSOSize:    binary.LittleEndian.Uint16(b[4:]),
		CsumStart:  binary.LittleEndian.Uint16(b[6:]),
		CsumOffset: binary.LittleEndian.Uint16(b[8:]),
	}, binary.LittleEndian.Uint16(b[10:])
}

// Offloads are the negotiated offloads.
type Offloads struct {
	// TXChecksum: Send may pass abi.VirtioNetHdrFNeedsCsum (VIRTIO_NET_F_CSUM).
	TXChecksum bool
	// TSO4, TSO6: Send may pass abi.VirtioNetHdrGSOTCPv4/abi.VirtioNetHdrGSOTCPv6 frames up to
	// MaxSendFrame (VIRTIO_NET_F_HOST_TSO4/6).
	TSO4, TSO6 bool
	// RXChecksum: received frames may carry abi.VirtioNetHdrFNeedsCsum or
	// abi.VirtioNetHdrFDataValid (VIRTIO_NET_F_GUEST_CSUM).
	RXChecksum bool
	// RXTSO4, RXTSO6: received frames may be coalesced TCP segments
	// larger than the MTU, with GSOType set (VIRTIO_NET_F_GUEST_TSO4/6).
	RXTSO4, RXTSO6 bool
	// MergeableRX: large received frames arrive in several buffers
	// (VIRTIO_NET_F_MRG_RXBUF); invisible to the callback.
	MergeableRX bool
	// EventIdx: notification suppression (VIRTIO_F_EVENT_IDX).
	EventIdx bool
	// QueuePairs in use (more than one with VIRTIO_NET_F_MQ).
	QueuePairs int
}

// Options adjust Open.
type Options struct {
	// LevelIRQ attaches the interrupt line as level-triggered (QEMU's
	// virtio-mmio lines are level signals); default edge, as Linux does
	// for command-line virtio-mmio devices and as the unigo launcher and
	// Firecracker signal them. Edge works on QEMU too (the driver
	// acknowledges the device before it looks for work, so no interrupt
	// is lost), costs no IOAPIC writes per interrupt, and is what the
	// kernel serves anyway on hosts that end interrupts on delivery
	// (PVM; kernel/host.go).
	LevelIRQ bool
	// NoRXChecksum and NoRXTSO refuse the receive offloads, for a
	// consumer that wants every frame complete and at most MTU-sized.
	NoRXChecksum, NoRXTSO bool
	// MaxQueuePairs caps the queue pairs (0: one per CPU).
	MaxQueuePairs int
}

// MaxSendFrame is the largest frame Send takes (a 64 KiB TSO frame plus
// its Ethernet header).
const MaxSendFrame = 65535 + 14 + 4

// ErrQueueFull is returned by Send when the transmit queues stay full.
var ErrQueueFull = errors.New("virtionet: transmit queue full")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("virtionet: device closed")

// Stats counts what the driver saw.
type Stats struct {
	RXFrames, RXBytes, TXFrames, TXBytes uint64
	// RXDropped counts received frames dropped as malformed (runt
	// buffers, impossible buffer counts, oversized merged frames).
	RXDropped uint64
	// TXFull counts Send calls that returned ErrQueueFull.
	TXFull uint64
}

// Device is one virtio-net device.
type Device struct {
	dev      *virtio.Device
	mac      [6]byte
	mtu      int
	offloads Offloads
	features uint64

	rx   []*rxQueue
	tx   []*txQueue
	ctrl *virtio.Queue

	txNext  atomic.Uint32
	started atomic.Bool
	closed  atomic.Bool
	done    chan struct{}
	closeMu sync.Mutex

	stats struct {
		rxFrames, rxBytes, txFrames, txBytes, rxDropped, txFull atomic.Uint64
	}
}

// Probe finds and opens every virtio-net device with default Options.
// No device is not an error (an empty list); run as a Linux process it
// fails with hw.ErrNotUnigo.
func Probe() ([]*Device, error) { return ProbeWith(Options{}) }

// ProbeWith finds and opens every virtio-net device.
func ProbeWith(o Options) ([]*Device, error) {
	infos, err := virtio.Devices(abi.VirtioDeviceNet)
	if err != nil {
		return nil, err
	}
	var out []*Device
	for _, info := range infos {
		d, err := Open(info, o)
		if err != nil {
			for _, d := range out {
				d.Close()
			}
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// Open sets up the virtio-net device at info: features, queues, receive
// buffers. Frames can be sent at once; call Start to receive.
func Open(info hw.VirtioMMIO, o Options) (*Device, error) {
	vd, err := virtio.Open(info, o.LevelIRQ)
	if err != nil {
		return nil, err
	}
	if vd.ID() != abi.VirtioDeviceNet {
		return nil, fmt.Errorf("virtionet: %v is device type %d, not a network device", info, vd.ID())
	}
	d := &Device{dev: vd, done: make(chan struct{})}
	if err := d.setup(o); err != nil {
		d.free()
		vd.Close()
		return nil, fmt.Errorf("virtionet: %v: %w", info, err)
	}
	return d, nil
}

func (d *Device) setup(o Options) error {
	want := uint64(abi.VirtioNetFCsum | abi.VirtioNetFGuestCsum | abi.VirtioNetFMTU | abi.VirtioNetFMAC | abi.VirtioNetFStatus |
		abi.VirtioNetFHostTSO4 | abi.VirtioNetFHostTSO6 | abi.VirtioNetFGuestTSO4 | abi.VirtioNetFGuestTSO6 |
		abi.VirtioNetFMrgRxbuf | abi.VirtioNetFCtrlVQ | abi.VirtioNetFMQ | abi.VirtioFEventIdx)
	if o.NoRXChecksum {
		want &^= abi.VirtioNetFGuestCsum | abi.VirtioNetFGuestTSO4 | abi.VirtioNetFGuestTSO6
	}
	if o.NoRXTSO {
		want &^= abi.VirtioNetFGuestTSO4 | abi.VirtioNetFGuestTSO6
	}
	// Feature dependencies (virtio 1.x, 5.1.3.1): drop what the device
	// offers without its prerequisite, and receive TSO without mergeable
	// buffers (it would need 64 KiB receive buffers).
	f := d.dev.Offered() & want
	drop := uint64(0)
	if f&abi.VirtioNetFCsum == 0 {
		drop |= abi.VirtioNetFHostTSO4 | abi.VirtioNetFHostTSO6
	}
	if f&abi.VirtioNetFGuestCsum == 0 || f&abi.VirtioNetFMrgRxbuf == 0 {
		drop |= abi.VirtioNetFGuestTSO4 | abi.VirtioNetFGuestTSO6
	}
	if f&abi.VirtioNetFCtrlVQ == 0 {
		drop |= abi.VirtioNetFMQ
	}
	f, err := d.dev.Negotiate(f &^ drop)
	if err != nil {
		return err
	}
	d.features = f

	d.mtu = 1500
	var maxPairs uint16 = 1
	d.dev.ReadConfig(func() {
		if f&abi.VirtioNetFMAC != 0 {
			for i := range d.mac {
				d.mac[i] = d.dev.Config8(abi.VirtioNetCfgMAC + uintptr(i))
			}
		}
		if f&abi.VirtioNetFMQ != 0 {
			maxPairs = d.dev.Config16(abi.VirtioNetCfgMaxPairs)
		}
		if f&abi.VirtioNetFMTU != 0 {
			d.mtu = int(d.dev.Config16(abi.VirtioNetCfgMTU))
		}
	})
	if f&abi.VirtioNetFMAC == 0 {
		rand.Read(d.mac[:])
		d.mac[0] = d.mac[0]&^1 | 2 // unicast, locally administered
	}
	if d.mtu < 68 {
		return fmt.Errorf("device reports MTU %d", d.mtu)
	}
	pairs := 1
	if f&abi.VirtioNetFMQ != 0 {
		limit := o.MaxQueuePairs
		if limit <= 0 {
			limit = runtime.NumCPU()
		}
		pairs = max(1, min(int(maxPairs), limit))
	}
	d.offloads = Offloads{
		TXChecksum:  f&abi.VirtioNetFCsum != 0,
		TSO4:        f&abi.VirtioNetFHostTSO4 != 0,
		TSO6:        f&abi.VirtioNetFHostTSO6 != 0,
		RXChecksum:  f&abi.VirtioNetFGuestCsum != 0,
		RXTSO4:      f&abi.VirtioNetFGuestTSO4 != 0,
		RXTSO6:      f&abi.VirtioNetFGuestTSO6 != 0,
		MergeableRX: f&abi.VirtioNetFMrgRxbuf != 0,
		EventIdx:    f&abi.VirtioFEventIdx != 0,
		QueuePairs:  pairs,
	}

	bufSize := 2048 // mergeable buffers: a small frame in one
	if !d.offloads.MergeableRX {
		bufSize = 2048
		for bufSize < abi.VirtioNetHdrSize+14+4+d.mtu {
			bufSize *= 2
		}
		if bufSize > hw.MaxDMA {
			return fmt.Errorf("MTU %d needs receive buffers larger than %d bytes without MRG_RXBUF", d.mtu, hw.MaxDMA)
		}
	}
	for i := 0; i < pairs; i++ {
		q, err := d.dev.SetupQueue(2*i, 256)
		if err != nil {
			return err
		}
		rq, err := newRXQueue(q, bufSize)
		if err != nil {
			return err
		}
		d.rx = append(d.rx, rq)
		q, err = d.dev.SetupQueue(2*i+1, 256)
		if err != nil {
			return err
		}
		tq, err := newTXQueue(q)
		if err != nil {
			return err
		}
		d.tx = append(d.tx, tq)
	}
	if f&abi.VirtioNetFCtrlVQ != 0 {
		ctrlIndex := 2
		if f&abi.VirtioNetFMQ != 0 {
			ctrlIndex = 2 * int(maxPairs)
		}
		if d.ctrl, err = d.dev.SetupQueue(ctrlIndex, 64); err != nil {
			return err
		}
	}
	for _, rq := range d.rx {
		rq.fill()
	}
	if err := d.dev.Start(); err != nil {
		return err
	}
	for _, rq := range d.rx {
		d.dev.Kick(rq.q)
	}
	for _, tq := range d.tx {
		tq.q.DisableInterrupts() // completions are collected by Send
	}
	if pairs > 1 {
		if err := d.setQueuePairs(pairs); err != nil {
			return err
		}
	}
	return nil
}

// setQueuePairs tells the device how many queue pairs to use
// (VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET) and waits for its answer.
func (d *Device) setQueuePairs(n int) error {
	buf, err := hw.AllocDMA(8)
	if err != nil {
		return err
	}
	defer buf.Free()
	b := buf.Bytes
	b[0], b[1] = 4, 0 // class VIRTIO_NET_CTRL_MQ, command VQ_PAIRS_SET
	binary.LittleEndian.PutUint16(b[2:], uint16(n))
	b[4] = 0xff
	if err := d.ctrl.Add(0,
		virtio.Buffer{Addr: buf.Phys, Len: 2},
		virtio.Buffer{Addr: buf.Phys + 2, Len: 2},
		virtio.Buffer{Addr: buf.Phys + 4, Len: 1, Write: true}); err != nil {
		return err
	}
	d.dev.Kick(d.ctrl)
	deadline := time.Now().Add(2 * time.Second)
	for {
		_, n, ok, err := d.ctrl.Pop()
		if err != nil {
			return err
		}
		if ok {
			if n < 1 || b[4] != 0 {
				return fmt.Errorf("device refused %d queue pairs", n)
			}
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("no answer to the multiqueue command")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// MAC is the device's MAC address (random, locally administered, if the
// device has none).
func (d *Device) MAC() [6]byte { return d.mac }

// MTU is the largest IP packet the device takes without TSO (1500 unless
// the device reports one).
func (d *Device) MTU() int { return d.mtu }

// Offloads are the negotiated offloads.
func (d *Device) Offloads() Offloads { return d.offloads }

// LinkUp reports the link status (always up if the device has no status).
func (d *Device) LinkUp() bool {
	if d.features&abi.VirtioNetFStatus == 0 {
		return true
	}
	var s uint16
	d.dev.ReadConfig(func() { s = d.dev.Config16(abi.VirtioNetCfgStatus) })
	return s&abi.VirtioNetSLinkUp != 0
}

// Stats returns the counters.
func (d *Device) Stats() Stats {
	s := &d.stats
	return Stats{RXFrames: s.rxFrames.Load(), RXBytes: s.rxBytes.Load(), TXFrames: s.txFrames.Load(),
		TXBytes: s.txBytes.Load(), RXDropped: s.rxDropped.Load(), TXFull: s.txFull.Load()}
}

// Frame is one frame for SendBatch: the concatenation of Parts, with
// its offload header.
type Frame struct {
	Header Header
	Parts  [][]byte
}

// Send queues one frame, given as the concatenation of parts, with its
// offload header. It copies the frame, so the parts may be reused when it
// returns. If every transmit queue is full it waits up to a millisecond
// for the device, then returns ErrQueueFull.
func (d *Device) Send(h Header, parts ...[]byte) error {
	_, err := d.SendBatch([]Frame{{Header: h, Parts: parts}})
	return err
}

// SendBatch queues frames in order on one transmit queue and notifies the
// device once for all of them. It returns how many were queued; on an
// error the rest were not (ErrQueueFull as for Send, or a frame the
// negotiated offloads do not allow).
func (d *Device) SendBatch(frames []Frame) (int, error) {
	if d.closed.Load() {
		return 0, ErrClosed
	}
	if d.dev.Broken() {
		return 0, virtio.ErrBroken
	}
	start := int(d.txNext.Add(1)) % len(d.tx)
	var tq *txQueue
	for i := range d.tx {
		c := d.tx[(start+i)%len(d.tx)]
		if c.mu.TryLock() {
			tq = c
			break
		}
	}
	if tq == nil {
		tq = d.tx[start]
		tq.mu.Lock()
	}
	defer tq.mu.Unlock()
	sent := 0
	defer func() {
		if sent > 0 {
			d.kick(tq.q)
		}
	}()
	for _, f := range frames {
		if d.closed.Load() { // Close freed the queue while we waited for it
			return sent, ErrClosed
		}
		n, err := d.check(f)
		if err != nil {
			return sent, err
		}
		var deadline time.Time
		for {
			err = tq.add(f.Header, n, f.Parts)
			if err != ErrQueueFull {
				break
			}
			if deadline.IsZero() {
				deadline = time.Now().Add(time.Millisecond)
			} else if time.Now().After(deadline) {
				d.stats.txFull.Add(1)
				break
			}
			if sent > 0 {
				d.kick(tq.q) // let the device start on what is queued
			}
			tq.mu.Unlock()
			runtime.Gosched()
			tq.mu.Lock()
			if d.closed.Load() {
				return sent, ErrClosed
			}
		}
		if err != nil {
			return sent, err
		}
		sent++
		d.stats.txFrames.Add(1)
		d.stats.txBytes.Add(uint64(n))
	}
	return sent, nil
}

// check validates a frame against the negotiated offloads and returns
// its length.
func (d *Device) check(f Frame) (int, error) {
	n := 0
	for _, p := range f.Parts {
		n += len(p)
	}
	h := f.Header
	if n == 0 || n > MaxSendFrame {
		return 0, fmt.Errorf("virtionet: frame of %d bytes", n)
	}
	if h.Flags&abi.VirtioNetHdrFNeedsCsum != 0 && !d.offloads.TXChecksum {
		return 0, errors.New("virtionet: checksum offload not negotiated")
	}
	if g := h.GSOType &^ abi.VirtioNetHdrGSOECN; g != abi.VirtioNetHdrGSONone &&
		!(g == abi.VirtioNetHdrGSOTCPv4 && d.offloads.TSO4 || g == abi.VirtioNetHdrGSOTCPv6 && d.offloads.TSO6) {
		return 0, fmt.Errorf("virtionet: GSO type %d not negotiated", h.GSOType)
	}
	if h.GSOType == abi.VirtioNetHdrGSONone && n > d.mtu+14+4 {
		return 0, fmt.Errorf("virtionet: frame of %d bytes exceeds the MTU %d", n, d.mtu)
	}
	return n, nil
}

// Start begins delivering received frames to rx on a driver goroutine.
// rx must not retain frame after it returns. Start may be called once.
func (d *Device) Start(rx func(h Header, frame []byte)) error {
	d.closeMu.Lock()
	defer d.closeMu.Unlock()
	if d.closed.Load() {
		return ErrClosed
	}
	if d.started.Load() {
		return errors.New("virtionet: already started")
	}
	d.started.Store(true)
	go d.run(rx)
	return nil
}

// rxBudget is how many receive buffers the driver goroutine takes from a
// queue before it lets other goroutines (the sockets it just fed) run, and
// pollWindow how long it keeps looking at the queues, interrupts still
// off, after the last buffer it found: a frame arriving meanwhile then
// costs no interrupt, and the vCPU no halt (NAPI's budget and busy poll).
const (
	rxBudget   = 64
	pollWindow = 50 * time.Microsecond
)

// run is the driver goroutine: deliver what the device has received and
// hand the buffers back; while frames keep coming, poll with interrupts
// off, yielding between rounds; once the queues stayed empty for
// pollWindow, ask for an interrupt and wait for it.
func (d *Device) run(rx func(Header, []byte)) {
	defer close(d.done)
	last := time.Now()
	for {
		got, full := 0, false
		for _, rq := range d.rx {
			n := rq.drain(d, rx, rxBudget)
			got += n
			full = full || n == rxBudget
		}
		if d.closed.Load() || d.dev.Broken() {
			return
		}
		if full {
			runtime.Gosched()
			continue
		}
		now := time.Now()
		if got > 0 {
			last = now
		}
		if now.Sub(last) < pollWindow {
			runtime.Gosched()
			continue
		}
		more := false
		for _, rq := range d.rx {
			if rq.q.EnableInterrupts() {
				more = true
			}
		}
		if more {
			continue
		}
		if _, err := d.dev.WaitInterrupt(); err != nil {
			return // closed, or the device broke (already reported)
		}
		for _, rq := range d.rx {
			rq.q.DisableInterrupts() // without EVENT_IDX: off while polling
		}
		last = time.Now()
	}
}

// kick publishes a queue's new chains to the device.
func (d *Device) kick(q *virtio.Queue) {
	if d.dev != nil {
		d.dev.Kick(q)
	}
}

// Close stops the device and frees its memory. Sends in progress fail;
// the receive goroutine ends.
func (d *Device) Close() error {
	d.closeMu.Lock()
	defer d.closeMu.Unlock()
	if d.closed.Swap(true) {
		return nil
	}
	err := d.dev.Stop() // the device lets go of every buffer
	if d.started.Load() {
		<-d.done
	}
	for _, tq := range d.tx {
		tq.mu.Lock() // no Send is using the queue's memory
	}
	d.free()
	if cerr := d.dev.Close(); err == nil {
		err = cerr
	}
	for _, tq := range d.tx {
		tq.mu.Unlock() // waiting senders see closed and fail
	}
	return err
}

func (d *Device) free() {
	for _, rq := range d.rx {
		rq.free()
	}
	for _, tq := range d.tx {
		tq.free()
	}
}
