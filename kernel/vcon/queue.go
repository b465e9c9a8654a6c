package vcon

import (
	"sync/atomic"

	"github.com/unigo-os/unigo/kernel/kctx"
)

// QueueSize is the number of descriptors of each queue.
const QueueSize = 8

// Split-ring layout of one queue in queueMem: the descriptor table (16
// bytes each, 16-byte aligned), the available ring (flags, idx, ring,
// used_event) and the used ring (flags, idx, ring of {id, len},
// avail_event, 4-byte aligned).
const (
	descOff   = 0
	availOff  = descOff + 16*QueueSize
	usedOff   = (availOff + 6 + 2*QueueSize + 3) &^ 3
	queueSize = usedOff + 6 + 8*QueueSize
	// queueMemWords holds one queue and the slack to align it to 16.
	queueMemWords = (queueSize+15)/8 + 2
)

const descFWrite = 2 // VIRTQ_DESC_F_WRITE: the device writes the buffer

// queue is one split virtqueue whose descriptor i always points at
// buffer i (bufs + i*bufLen).
type queue struct {
	desc, avail, used uintptr
	bufs              uintptr
	bufLen            uint32
	write             bool // device-writable buffers (receive queues)
	availIdx          uint16
	lastUsed          uint16
	inflight          [QueueSize]bool
}

// init lays the queue out in mem (queueMemWords words) over buffers of
// bufLen bytes at bufs.
func (q *queue) init(mem uintptr, bufs uintptr, bufLen uint32, write bool) {
	base := (mem + 15) &^ 15
	*q = queue{desc: base + descOff, avail: base + availOff, used: base + usedOff, bufs: bufs, bufLen: bufLen, write: write}
	for i := uintptr(0); i < queueSize; i++ {
		*kctx.At[byte](base + i) = 0
	}
}

// buf is buffer i's address.
func (q *queue) buf(i uint16) uintptr { return q.bufs + uintptr(i)*uintptr(q.bufLen) }

// post hands descriptor i, with n bytes of its buffer, to the device.
// The caller checked that i is not in flight.
func (q *queue) post(i uint16, n uint32) {
	d := q.desc + uintptr(i)*16
	*kctx.At[uint64](d) = uint64(q.buf(i))
	*kctx.At[uint32](d + 8) = n
	flags := uint16(0)
	if q.write {
		flags = descFWrite
	}
	*kctx.At[uint16](d + 12) = flags
	*kctx.At[uint16](d + 14) = 0
	q.inflight[i] = true
	*kctx.At[uint16](q.avail + 4 + 2*uintptr(q.availIdx%QueueSize)) = i
	q.availIdx++
	// The entry before the index: an atomic store is a release.
	atomic.StoreUint32(kctx.At[uint32](q.avail), uint32(q.availIdx)<<16)
}

// Faults: how a device broke the protocol.
const (
	faultNone = iota
	faultAhead
	faultNotInFlight
	faultTooLong
	faultFull
)

var faultText = [...]string{
	faultNone:        "",
	faultAhead:       "used index runs ahead of the buffers given",
	faultNotInFlight: "used entry names a descriptor not in flight",
	faultTooLong:     "used entry longer than its buffer",
	faultFull:        "full",
}

// pop takes the next used entry: its descriptor and the bytes written.
// ok is false when there is none; fault is set when the device broke the
// protocol (the entry is not taken).
func (q *queue) pop() (id uint16, n uint32, ok bool, fault uint8) {
	idx := uint16(atomic.LoadUint32(kctx.At[uint32](q.used)) >> 16)
	if idx == q.lastUsed {
		return 0, 0, false, faultNone
	}
	inflight := uint16(0)
	for _, f := range q.inflight {
		if f {
			inflight++
		}
	}
	if idx-q.lastUsed > inflight {
		return 0, 0, false, faultAhead
	}
	e := q.used + 4 + 8*uintptr(q.lastUsed%QueueSize)
	id32 := *kctx.At[uint32](e)
	n = *kctx.At[uint32](e + 4)
	if id32 >= QueueSize || !q.inflight[id32] {
		return 0, 0, false, faultNotInFlight
	}
	if q.write && n > q.bufLen {
		return 0, 0, false, faultTooLong
	}
	if !q.write {
		n = 0 // the device only read it
	}
	q.lastUsed++
	q.inflight[id32] = false
	return uint16(id32), n, true, faultNone
}

// free returns a descriptor not in flight, or false.
func (q *queue) free() (uint16, bool) {
	for i, f := range q.inflight {
		if !f {
			return uint16(i), true
		}
	}
	return 0, false
}
