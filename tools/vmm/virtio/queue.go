package virtio

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/tools/vmm/arch"
)

// MaxIndirect caps the number of descriptors in one indirect table. The spec
// only bounds it by the table length; a cap keeps a single request from
// making the host walk an arbitrarily large table.
const MaxIndirect = 1024

// ProtocolError is a driver's violation of the virtio protocol: a malformed
// ring or descriptor chain. Devices hand it to Interrupter.Fail.
type ProtocolError struct {
	Queue  int
	Reason string
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("virtio: queue %d: %s", e.Queue, e.Reason)
}

// Segment is one buffer of a descriptor chain. Data aliases guest memory; its
// capacity equals its length so a device cannot write past the buffer.
// Len is the descriptor's length: len(Data), except on a queue set to
// AddressesOnly, where a buffer not wholly within guest RAM has nil Data.
type Segment struct {
	Addr     uint64
	Len      uint64
	Data     []byte
	Writable bool
}

// Chain is one request taken from a queue's available ring: the device-
// readable segments followed by the device-writable ones.
type Chain struct {
	Head uint16
	Segs []Segment
}

// ReadableLen is the total length of the device-readable segments.
func (c *Chain) ReadableLen() uint64 {
	var n uint64
	for _, s := range c.Segs {
		if !s.Writable {
			n += uint64(len(s.Data))
		}
	}
	return n
}

// WritableLen is the total length of the device-writable segments.
func (c *Chain) WritableLen() uint64 {
	var n uint64
	for _, s := range c.Segs {
		if s.Writable {
			n += uint64(len(s.Data))
		}
	}
	return n
}

// Queue is a split virtqueue living in guest memory. Its methods other than
// Kick and Kicks must only be called from the queue's one worker goroutine.
type Queue struct {
	// Index is the queue number on its device.
	Index int
	// Size is the number of descriptors, a power of two.
	Size uint16

	mem                []byte
	desc, avail, used  uint64
	eventIdx, indirect bool
	notifyOnEmpty      bool // ask for notifications only when out of chains
	manualArm          bool // ask for notifications only in arm (ServePolling)
	addressesOnly      bool // buffers outside guest RAM are nil-Data segments (AddressesOnly)

	lastAvail uint16 // next available-ring slot the device consumes
	usedIdx   uint16 // device's copy of used->idx
	signalled uint16 // used->idx when the driver was last considered for an interrupt
	broken    error  // first protocol error; the queue is dead after it

	kick  chan struct{}
	fence uint32 // target of the locked instruction in barrier
}

// QueueConfig is what the driver programmed for one queue: its size and the
// guest-physical addresses of the descriptor table, the driver (available)
// ring and the device (used) ring.
type QueueConfig struct {
	Size                 uint16
	Desc, Driver, Device uint64
}

// inRange reports whether [addr, addr+n) lies within guest RAM in mem,
// the guest memory mapping.
func inRange(mem []byte, addr, n uint64) bool {
	return arch.InRAM(uint64(len(mem)), addr, n)
}

// Validate checks a queue configuration against the spec's rules and guest
// memory: a power-of-two size no larger than max, aligned rings (16, 2 and 4
// bytes) lying entirely within mem.
func (c QueueConfig) Validate(mem []byte, max uint16) error {
	n := uint64(c.Size)
	switch {
	case c.Size == 0:
		return fmt.Errorf("queue size 0")
	case c.Size&(c.Size-1) != 0:
		return fmt.Errorf("queue size %d is not a power of two", c.Size)
	case c.Size > max || c.Size > abi.VirtqMaxSize:
		return fmt.Errorf("queue size %d exceeds maximum %d", c.Size, max)
	case c.Desc%16 != 0:
		return fmt.Errorf("descriptor table %#x not 16-byte aligned", c.Desc)
	case c.Driver%2 != 0:
		return fmt.Errorf("driver ring %#x not 2-byte aligned", c.Driver)
	case c.Device%4 != 0:
		return fmt.Errorf("device ring %#x not 4-byte aligned", c.Device)
	case !inRange(mem, c.Desc, abi.VirtqDescSize*n):
		return fmt.Errorf("descriptor table %#x+%#x outside guest memory", c.Desc, abi.VirtqDescSize*n)
	case !inRange(mem, c.Driver, 6+2*n):
		return fmt.Errorf("driver ring %#x+%#x outside guest memory", c.Driver, 6+2*n)
	case !inRange(mem, c.Device, 6+8*n):
		return fmt.Errorf("device ring %#x+%#x outside guest memory", c.Device, 6+8*n)
	}
	return nil
}

// NewQueue validates cfg and returns queue number index over mem. features
// are the negotiated feature bits; abi.VirtioFEventIdx and abi.VirtioFIndirectDesc
// change how the queue behaves.
func NewQueue(mem []byte, index int, cfg QueueConfig, features uint64) (*Queue, error) {
	if err := cfg.Validate(mem, abi.VirtqMaxSize); err != nil {
		return nil, &ProtocolError{Queue: index, Reason: err.Error()}
	}
	return &Queue{
		Index:    index,
		Size:     cfg.Size,
		mem:      mem,
		desc:     cfg.Desc,
		avail:    cfg.Driver,
		used:     cfg.Device,
		eventIdx: features&abi.VirtioFEventIdx != 0,
		indirect: features&abi.VirtioFIndirectDesc != 0,
		kick:     make(chan struct{}, 1),
	}, nil
}

// barrier is a full memory barrier for both the compiler and the CPU: a
// LOCK-prefixed instruction orders all earlier loads and stores before all
// later ones on x86, and the Go compiler never moves memory operations
// across an atomic. The guest driver on the other side uses its own
// barriers (virtio_mb and friends).
func (q *Queue) barrier() { atomic.AddUint32(&q.fence, 0) }

func (q *Queue) load16(a uint64) uint16 { return binary.LittleEndian.Uint16(q.mem[a : a+2]) }

func (q *Queue) store16(a uint64, v uint16) { binary.LittleEndian.PutUint16(q.mem[a:a+2], v) }

func (q *Queue) store32(a uint64, v uint32) { binary.LittleEndian.PutUint32(q.mem[a:a+4], v) }

func (q *Queue) fail(format string, args ...any) error {
	q.broken = &ProtocolError{Queue: q.Index, Reason: fmt.Sprintf(format, args...)}
	return q.broken
}

// Kick records a driver notification. It never blocks and may be called from
// any goroutine; several kicks before the worker runs collapse into one.
func (q *Queue) Kick() {
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// Kicks delivers driver notifications to the queue's worker.
func (q *Queue) Kicks() <-chan struct{} { return q.kick }

// availEventAddr is the avail_event field at the end of the used ring.
func (q *Queue) availEventAddr() uint64 { return q.used + 4 + 8*uint64(q.Size) }

// usedEventAddr is the used_event field at the end of the available ring.
func (q *Queue) usedEventAddr() uint64 { return q.avail + 4 + 2*uint64(q.Size) }

// Pending reports how many chains the driver has made available and the
// device has not taken yet, or an error if the available index is corrupt.
func (q *Queue) Pending() (uint16, error) {
	if q.broken != nil {
		return 0, q.broken
	}
	q.barrier()
	idx := q.load16(q.avail + 2)
	n := idx - q.lastAvail
	if n > q.Size {
		return 0, q.fail("available index jumped from %d to %d with queue size %d", q.lastAvail, idx, q.Size)
	}
	return n, nil
}

// Next takes the next available chain. It returns (nil, nil) when the ring
// is empty and a *ProtocolError if the driver corrupted it; after an error
// the queue is dead and every call returns the same error.
func (q *Queue) Next() (*Chain, error) {
	n, err := q.Pending()
	if err != nil {
		return nil, err
	}
	if n == 0 {
		if !q.eventIdx || !q.notifyOnEmpty || q.manualArm {
			return nil, nil
		}
		// Out of chains: ask for a notification at the next one, then
		// look again (Pending's barrier orders the store before the
		// load), which closes the race with a driver adding one now.
		q.store16(q.availEventAddr(), q.lastAvail)
		if n, err = q.Pending(); err != nil || n == 0 {
			return nil, err
		}
	}
	// The ring entry and the descriptors must be read after the index that
	// published them (Pending's barrier precedes the index load; this one
	// follows it).
	q.barrier()
	head := q.load16(q.avail + 4 + 2*uint64(q.lastAvail%q.Size))
	c, err := q.walk(head)
	if err != nil {
		return nil, err
	}
	q.lastAvail++
	if q.eventIdx && !q.notifyOnEmpty && !q.manualArm {
		// Ask to be notified as soon as the driver adds anything past what
		// we have consumed. The barrier in the next Pending call orders this
		// store before our next look at the available index, which closes
		// the race with a driver adding a buffer right now.
		q.store16(q.availEventAddr(), q.lastAvail)
	}
	return c, nil
}

// NotifyOnEmpty makes the device ask for driver notifications (with
// VIRTIO_F_EVENT_IDX) only once Next has found the ring empty, instead of
// after every chain it takes: a receive queue, whose driver hands buffers
// back all the time but matters to the device only when it has none,
// then costs the guest no notification while it has buffers. Call it
// before the worker starts.
func (q *Queue) NotifyOnEmpty() { q.notifyOnEmpty = true }

// AddressesOnly makes the queue hand a buffer that does not lie wholly
// within guest RAM to the device as a segment with nil Data, instead of
// failing the queue: for a device whose buffers only name guest-physical
// ranges (the balloon's free page reports) and which checks and refuses
// each one itself. Call it before the worker starts.
func (q *Queue) AddressesOnly() { q.addressesOnly = true }

// walk follows the chain starting at head, reading each descriptor once.
func (q *Queue) walk(head uint16) (*Chain, error) {
	if head >= q.Size {
		return nil, q.fail("chain head %d out of range (queue size %d)", head, q.Size)
	}
	c := &Chain{Head: head}
	table, limit := q.desc, uint64(q.Size)
	idx := uint64(head)
	indirect := false
	writable := false
	for count := uint64(0); ; count++ {
		if count >= limit {
			return nil, q.fail("chain from head %d longer than %d descriptors (loop?)", head, limit)
		}
		d := q.mem[table+abi.VirtqDescSize*idx : table+abi.VirtqDescSize*idx+abi.VirtqDescSize]
		addr := binary.LittleEndian.Uint64(d[0:])
		length := uint64(binary.LittleEndian.Uint32(d[8:]))
		flags := binary.LittleEndian.Uint16(d[12:])
		next := uint64(binary.LittleEndian.Uint16(d[14:]))

		if flags&abi.VirtqDescFIndirect != 0 {
			switch {
			case !q.indirect:
				return nil, q.fail("indirect descriptor without VIRTIO_F_INDIRECT_DESC")
			case indirect:
				return nil, q.fail("nested indirect descriptor")
			case count != 0:
				return nil, q.fail("indirect descriptor inside a chain")
			case flags&abi.VirtqDescFNext != 0:
				return nil, q.fail("indirect descriptor with NEXT flag")
			case length == 0 || length%abi.VirtqDescSize != 0:
				return nil, q.fail("indirect table length %d not a non-zero multiple of 16", length)
			case length/abi.VirtqDescSize > MaxIndirect:
				return nil, q.fail("indirect table of %d descriptors exceeds %d", length/abi.VirtqDescSize, MaxIndirect)
			case !inRange(q.mem, addr, length):
				return nil, q.fail("indirect table %#x+%#x outside guest memory", addr, length)
			}
			indirect = true
			table, limit, idx = addr, length/abi.VirtqDescSize, 0
			count = ^uint64(0) // the loop increment makes it 0 for the table's first entry
			continue
		}

		in := inRange(q.mem, addr, length)
		if !in && !q.addressesOnly {
			return nil, q.fail("buffer %#x+%#x outside guest memory", addr, length)
		}
		w := flags&abi.VirtqDescFWrite != 0
		if writable && !w {
			return nil, q.fail("device-readable buffer after a device-writable one")
		}
		writable = w
		s := Segment{Addr: addr, Len: length, Writable: w}
		if in {
			s.Data = q.mem[addr : addr+length : addr+length]
		}
		c.Segs = append(c.Segs, s)
		if flags&abi.VirtqDescFNext == 0 {
			return c, nil
		}
		if next >= limit {
			return nil, q.fail("next descriptor %d out of range (table of %d)", next, limit)
		}
		idx = next
	}
}

// Put returns a chain to the driver through the used ring, reporting written
// bytes written into its device-writable segments (clamped to their total).
func (q *Queue) Put(c *Chain, written uint32) {
	if wl := c.WritableLen(); uint64(written) > wl {
		written = uint32(wl)
	}
	e := q.used + 4 + 8*uint64(q.usedIdx%q.Size)
	q.store32(e, uint32(c.Head))
	q.store32(e+4, written)
	// The element must be visible before the index that publishes it.
	q.barrier()
	q.usedIdx++
	q.store16(q.used+2, q.usedIdx)
}

// NeedInterrupt reports whether the driver wants an interrupt for the chains
// Put since the previous call: with VIRTIO_F_EVENT_IDX when the used index
// crossed the driver's used_event, otherwise unless the driver set
// VIRTQ_AVAIL_F_NO_INTERRUPT.
func (q *Queue) NeedInterrupt() bool {
	// Our used index store must be visible before we read the driver's
	// suppression state, or we could miss a driver re-enabling interrupts.
	q.barrier()
	old, now := q.signalled, q.usedIdx
	q.signalled = now
	if old == now {
		return false
	}
	if q.eventIdx {
		event := q.load16(q.usedEventAddr())
		return now-event-1 < now-old
	}
	return q.load16(q.avail)&abi.VirtqAvailFNoInterrupt == 0
}

// Drain hands up to Size available chains to handle, puts each on the used
// ring with the byte count handle returns and then raises the interrupt the
// driver asked for. more reports that it stopped at the cap with chains
// possibly left. A protocol error or an error from handle is reported to
// irq.Fail and returned; the queue must not be used after it.
func (q *Queue) Drain(irq Interrupter, handle func(*Chain) (uint32, error)) (more bool, err error) {
	for range int(q.Size) {
		c, err := q.Next()
		if err != nil {
			irq.Fail(err)
			return false, err
		}
		if c == nil {
			irq.Used(q)
			return false, nil
		}
		n, err := handle(c)
		if err != nil {
			irq.Fail(err)
			return false, err
		}
		q.Put(c, n)
	}
	irq.Used(q)
	return true, nil
}

// Serve is the worker loop of a queue whose requests the device completes as
// soon as it sees them (virtio-rng's requestq, virtio-net's transmitq): it
// drains the queue each time the driver notifies. It returns when stop is
// closed or after Drain failed.
func (q *Queue) Serve(stop <-chan struct{}, irq Interrupter, handle func(*Chain) (uint32, error)) {
	q.ServePolling(stop, irq, handle, nil, 0)
}

// ServePolling is Serve that, with VIRTIO_F_EVENT_IDX, keeps looking at the
// ring for window after the last chain it found, without asking the driver
// for notifications (avail_event stays behind, so the driver's chains
// cost it no exit), and asks for one only when it goes back to waiting.
// It spends the launcher's CPU time to save the guest's notifications
// while requests keep coming. pass, if not nil, runs after each pass over
// the ring (a backend's flush of what handle queued).
func (q *Queue) ServePolling(stop <-chan struct{}, irq Interrupter, handle func(*Chain) (uint32, error), pass func(), window time.Duration) {
	poll := window > 0 && q.eventIdx
	q.manualArm = poll
	last := time.Now()
	for {
		before := q.lastAvail
		more, err := q.Drain(irq, handle)
		if pass != nil {
			pass()
		}
		if err != nil {
			return
		}
		if poll && q.lastAvail != before {
			last = time.Now()
		}
		if more || poll && time.Since(last) < window {
			// Give a reset the chance to stop us between batches.
			select {
			case <-stop:
				return
			default:
			}
			if !more {
				runtime.Gosched()
			}
			continue
		}
		if poll {
			pending, err := q.arm()
			if err != nil {
				irq.Fail(err)
				return
			}
			if pending {
				continue
			}
		}
		select {
		case <-stop:
			return
		case <-q.kick:
		}
		last = time.Now()
	}
}

// arm asks the driver to notify at its next chain and reports whether one
// is already there (the store precedes Pending's barrier and load).
func (q *Queue) arm() (bool, error) {
	q.store16(q.availEventAddr(), q.lastAvail)
	n, err := q.Pending()
	return n > 0, err
}
