package virtio

import (
	"errors"
	"fmt"
	"github.com/unigo-os/unigo/abi"
	"unsafe"
)

// Split virtqueue (virtio 1.x, section 2.7), driver side.
//
// The rings live in memory the device can write at any time, so the code
// here reads from them only what the protocol says the device produces
// (the used ring, and the avail_event word), reads each such value once,
// and checks it before use: the descriptor free list and the per-chain
// bookkeeping are private (Go memory), never read back from the shared
// descriptor table. A used-ring entry naming a descriptor that is not the
// head of a chain in flight, claiming more bytes than the chain's
// device-writable buffers hold, or a used index running ahead of what is
// in flight, breaks the queue: the first such fault is reported once, and
// from then on the queue returns ErrBroken and hands out nothing.
//
// Nothing here touches device registers or the kernel, so the queue runs
// on the host against a plain byte slice (queue_test.go, the fuzz target).
// A Queue is not safe for concurrent use; its owner serialises calls.

// MaxQueueSize is the largest queue this package sets up.
const MaxQueueSize = 1024

// ErrQueueFull is returned by Add when too few descriptors are free.
var ErrQueueFull = errors.New("virtio: queue full")

// ErrBroken is returned once the device has been caught misbehaving.
var ErrBroken = errors.New("virtio: device broken")

// Buffer is one device-visible buffer of a chain.
type Buffer struct {
	Addr  uint64 // physical address
	Len   uint32
	Write bool // device writes it (else reads it)
}

type desc struct {
	addr  uint64
	len   uint32
	flags uint16
	next  uint16
}

// chain is the driver's private record of a descriptor chain.
type chain struct {
	token    uint64
	writable uint64 // device-writable bytes in the chain
	n        uint16 // descriptors
	inflight bool
}

// Layout returns the offsets of the available and used rings and the
// total size of the ring memory for a queue of size entries (descriptor
// table at offset 0).
func Layout(size int) (avail, used, total int) {
	avail = 16 * size
	used = (avail + 6 + 2*size + 3) &^ 3
	total = used + 6 + 8*size
	return
}

// Queue is one split virtqueue.
type Queue struct {
	index    int
	size     uint16
	phys     uint64
	eventIdx bool

	desc       []desc
	availFlags *uint16
	availIdx   *uint16
	availRing  []uint16
	usedEvent  *uint16 // driver -> device: interrupt after this used index
	usedFlags  *uint16
	usedIdx    *uint16
	usedRing   []uint32 // id, len pairs
	availEvent *uint16  // device -> driver: notify after this avail index

	nextFree  []uint16 // private free list links
	chainNext []uint16 // private chain links (valid while in flight)
	chains    []chain
	freeHead  uint16
	numFree   uint16
	inflight  uint16
	shadowIdx uint16 // next avail index to publish
	kickedIdx uint16 // avail index at the last Kick decision
	lastUsed  uint16

	broken error
	report func(error)
}

// NewQueue lays out a queue of size entries (a power of two, at most
// MaxQueueSize) in ring, the zeroed ring memory (at least Layout(size)'s
// total bytes, 16-byte aligned) at physical address phys. eventIdx says
// VIRTIO_F_EVENT_IDX was negotiated. report receives the first device
// fault (nil: print it on stderr).
func NewQueue(index, size int, ring []byte, phys uint64, eventIdx bool, report func(error)) (*Queue, error) {
	if size <= 0 || size > MaxQueueSize || size&(size-1) != 0 {
		return nil, fmt.Errorf("virtio: queue size %d: want a power of two up to %d", size, MaxQueueSize)
	}
	availOff, usedOff, total := Layout(size)
	if len(ring) < total {
		return nil, fmt.Errorf("virtio: queue of %d entries needs %d bytes of ring memory, got %d", size, total, len(ring))
	}
	if uintptr(unsafe.Pointer(&ring[0]))&15 != 0 {
		return nil, errors.New("virtio: ring memory not 16-byte aligned")
	}
	if report == nil {
		report = func(err error) { printReport(err) }
	}
	base := unsafe.Pointer(&ring[0])
	u16 := func(off int) *uint16 { return (*uint16)(unsafe.Add(base, off)) }
	q := &Queue{
		index:      index,
		size:       uint16(size),
		phys:       phys,
		eventIdx:   eventIdx,
		desc:       unsafe.Slice((*desc)(base), size),
		availFlags: u16(availOff),
		availIdx:   u16(availOff + 2),
		availRing:  unsafe.Slice(u16(availOff+4), size),
		usedEvent:  u16(availOff + 4 + 2*size),
		usedFlags:  u16(usedOff),
		usedIdx:    u16(usedOff + 2),
		usedRing:   unsafe.Slice((*uint32)(unsafe.Add(base, usedOff+4)), 2*size),
		availEvent: u16(usedOff + 4 + 8*size),
		nextFree:   make([]uint16, size),
		chainNext:  make([]uint16, size),
		chains:     make([]chain, size),
		numFree:    uint16(size),
		report:     report,
	}
	for i := range q.nextFree {
		q.nextFree[i] = uint16(i + 1)
	}
	return q, nil
}

// Index is the queue's number on its device.
func (q *Queue) Index() int { return q.index }

// Size is the number of descriptors.
func (q *Queue) Size() int { return int(q.size) }

// Free is the number of free descriptors.
func (q *Queue) Free() int { return int(q.numFree) }

// InFlight is the number of chains the device holds.
func (q *Queue) InFlight() int { return int(q.inflight) }

// Addresses returns the physical addresses of the descriptor table, the
// available ring and the used ring, for the transport's registers.
func (q *Queue) Addresses() (desc, avail, used uint64) {
	a, u, _ := Layout(int(q.size))
	return q.phys, q.phys + uint64(a), q.phys + uint64(u)
}

// Broken returns the fault that broke the queue, or nil.
func (q *Queue) Broken() error { return q.broken }

// fail breaks the queue and reports the first fault.
func (q *Queue) fail(format string, args ...any) {
	if q.broken != nil {
		return
	}
	q.broken = fmt.Errorf("virtio queue %d: "+format, append([]any{q.index}, args...)...)
	q.report(q.broken)
}

// Break marks the queue broken from outside (the transport found the
// device misbehaving elsewhere); nothing is reported.
func (q *Queue) Break(err error) {
	if q.broken == nil {
		q.broken = err
	}
}

// Add makes bufs one chain (device-readable buffers must come before
// device-writable ones) and queues it; token comes back from Pop with the
// chain. The chain is visible to the device once Kick has been called.
func (q *Queue) Add(token uint64, bufs ...Buffer) error {
	if q.broken != nil {
		return ErrBroken
	}
	n := len(bufs)
	if n == 0 {
		return errors.New("virtio: empty chain")
	}
	if n > int(q.numFree) {
		return ErrQueueFull
	}
	head := q.freeHead
	id := head
	var writable uint64
	for i := 1; i < n; i++ {
		if !bufs[i].Write && bufs[i-1].Write {
			return errors.New("virtio: device-readable buffer after a writable one")
		}
	}
	for i, b := range bufs {
		flags := uint16(0)
		if b.Write {
			flags |= abi.VirtqDescFWrite
			writable += uint64(b.Len)
		}
		next := q.nextFree[id]
		if i < n-1 {
			flags |= abi.VirtqDescFNext
			q.chainNext[id] = next
		}
		q.desc[id] = desc{addr: b.Addr, len: b.Len, flags: flags, next: next}
		if i < n-1 {
			id = next
		} else {
			q.freeHead = next
		}
	}
	q.numFree -= uint16(n)
	q.chains[head] = chain{token: token, writable: writable, n: uint16(n), inflight: true}
	q.inflight++
	q.availRing[q.shadowIdx&(q.size-1)] = head
	q.shadowIdx++
	return nil
}

// Kick publishes the chains added since the last Kick and reports
// whether the device wants to be notified of them (the caller then
// writes the transport's notify register).
func (q *Queue) Kick() bool {
	if q.broken != nil {
		return false
	}
	old, cur := q.kickedIdx, q.shadowIdx
	if old == cur {
		return false
	}
	q.kickedIdx = cur
	// The descriptors and ring slots are visible before the index (x86
	// keeps stores in order); the fence makes the index visible before
	// the loads below.
	store16(q.availIdx, cur)
	fence()
	if q.eventIdx {
		event := load16(q.availEvent)
		return cur-event-1 < cur-old // vring_need_event
	}
	return load16(q.usedFlags)&abi.VirtqUsedFNoNotify == 0
}

// Pop returns the next chain the device has finished with: its token
// and the number of bytes the device says it wrote. ok is false when
// there is none; err is ErrBroken once the device has misbehaved.
func (q *Queue) Pop() (token uint64, written uint32, ok bool, err error) {
	if q.broken != nil {
		return 0, 0, false, ErrBroken
	}
	usedIdx := load16(q.usedIdx)
	if usedIdx == q.lastUsed {
		return 0, 0, false, nil
	}
	if pending := usedIdx - q.lastUsed; pending > q.inflight {
		q.fail("used index %d is %d entries ahead of the %d chains in flight", usedIdx, pending, q.inflight)
		return 0, 0, false, ErrBroken
	}
	slot := int(q.lastUsed&(q.size-1)) * 2
	id := load32(&q.usedRing[slot])
	n := load32(&q.usedRing[slot+1])
	if id >= uint32(q.size) {
		q.fail("used ring names descriptor %d of %d", id, q.size)
		return 0, 0, false, ErrBroken
	}
	c := &q.chains[id]
	if !c.inflight {
		q.fail("used ring names descriptor %d, which is not the head of a chain in flight", id)
		return 0, 0, false, ErrBroken
	}
	if uint64(n) > c.writable {
		q.fail("device wrote %d bytes into a chain of %d writable bytes", n, c.writable)
		return 0, 0, false, ErrBroken
	}
	q.lastUsed++
	// Return the chain's descriptors to the free list (private links).
	tail := uint16(id)
	for i := uint16(1); i < c.n; i++ {
		tail = q.chainNext[tail]
	}
	q.nextFree[tail] = q.freeHead
	q.freeHead = uint16(id)
	q.numFree += c.n
	q.inflight--
	c.inflight = false
	return c.token, n, true, nil
}

// EnableInterrupts asks the device to interrupt when it next uses a
// chain, and reports whether chains were used meanwhile (the caller must
// then Pop again before waiting, or it could wait forever).
func (q *Queue) EnableInterrupts() bool {
	if q.broken != nil {
		return false
	}
	if q.eventIdx {
		store16(q.usedEvent, q.lastUsed)
	} else {
		store16(q.availFlags, 0)
	}
	fence()
	return load16(q.usedIdx) != q.lastUsed
}

// DisableInterrupts asks the device not to interrupt for this queue (a
// hint: the device may still). With EVENT_IDX the event index is left
// behind, which already stops further interrupts until EnableInterrupts.
func (q *Queue) DisableInterrupts() {
	if !q.eventIdx {
		store16(q.availFlags, abi.VirtqAvailFNoInterrupt)
	}
}
