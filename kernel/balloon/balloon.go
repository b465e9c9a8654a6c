package balloon

import (
	"sync/atomic"

	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/kmem"
	"github.com/unigo-os/unigo/kernel/spinlock"
	"github.com/unigo-os/unigo/kernel/vmmio"
	"github.com/unigo-os/unigo/rt"
)

const (
	// MaxRanges is the most ranges (descriptors) one report carries.
	MaxRanges = 128
	// Interval is the least time between the starts of two rounds.
	Interval = 1_000_000_000 // ns
	// MinReport is the least surplus over the reserve worth a round.
	MinReport = 2 << 20
	// MinReserve is the least memory left unreported on the free lists;
	// the reserve is the larger of it and 1/32 of RAM.
	MinReserve = 4 << 20
	// maxChains and maxCall bound the chains one call posts and the time
	// it takes (the CPU may run with interrupts disabled).
	maxChains = 1024
	maxCall   = 5_000_000 // ns
	// maxWait is how long a call waits for the device to use a chain
	// (the unigo launcher serves a notification on another thread).
	maxWait = 500_000 // ns
	// maxReclaim is how long, all told, an allocation that found no
	// memory waits for the report in flight (Reclaim).
	maxReclaim = 100_000_000 // ns
)

// Split-ring layout for a queue of up to MaxRanges descriptors: the
// descriptor table (16 bytes each), the available ring (flags, idx,
// ring, used_event), the used ring (flags, idx, ring of {id, len},
// avail_event, 4-byte aligned).
const (
	descOff  = 0
	availOff = descOff + 16*MaxRanges
	usedOff  = (availOff + 6 + 2*MaxRanges + 3) &^ 3
	ringSize = usedOff + 6 + 8*MaxRanges
	memWords = (ringSize+15)/8 + 2
)

// Descriptor flags (VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE).
const (
	descFNext  = 1
	descFWrite = 2
)

// Faults: how a device broke the protocol.
const (
	faultNone = iota
	faultAhead
	faultBadID
	faultTooLong
)

var faultText = [...]string{
	faultNone:    "",
	faultAhead:   "used index runs ahead of the report in flight",
	faultBadID:   "used entry names a descriptor not in flight",
	faultTooLong: "used entry longer than the report",
}

// Balloon is the driver's state and memory. The kernel has one (Dev);
// tests make their own.
type Balloon struct {
	// lock lets one CPU at a time run the policy (TryIdle) or wait for
	// the report in flight (Reclaim).
	lock spinlock.Lock

	regs   vmmio.Regs // the MMIO window (0: no transport, as in host tests)
	Active bool       // set up: Idle reports
	GSI    uint32     // its interrupt line
	qnum   uint32     // the reporting queue's number

	num               uint16 // descriptors in the queue (a power of two)
	desc, avail, used uintptr
	availIdx          uint16
	lastUsed          uint16

	// The report in flight: its ranges, their number (0: none) and bytes.
	ranges   [MaxRanges]kmem.Range
	inflight int
	bytes    uint64
	stuck    bool // a Reclaim waited for it in vain

	Reserve uintptr // bytes left unreported on the free lists
	round   bool    // a round is under way (no wait for Interval)
	next    int64   // when the next round may start (Nanotime)

	broken   bool
	fault    uint8
	FaultNew bool // set until the fault was reported (TryIdle, FaultText)

	// Counters for unigo.stats.
	Reports       atomic.Uint64 // chains the device used
	ReportedBytes atomic.Uint64 // bytes in them

	mem [memWords]uint64

	onKick func() // tests: the simulated device (regs 0)
}

// Dev is the kernel's balloon device.
var Dev Balloon

// reset lays the queue out over b's memory with num descriptors.
func (b *Balloon) reset(num uint16) {
	base := (kctx.PtrOf(&b.mem[0]) + 15) &^ 15
	b.num, b.desc, b.avail, b.used = num, base+descOff, base+availOff, base+usedOff
	b.availIdx, b.lastUsed, b.inflight, b.bytes, b.stuck = 0, 0, 0, 0, false
	b.round, b.next, b.broken, b.fault, b.FaultNew = false, 0, false, faultNone, false
	clear(b.mem[:])
}

// fail gives the device up. The ranges of the report in flight are
// never handed out again (the device may still discard them): kmem
// forgets them.
func (b *Balloon) fail(fault uint8) {
	if !b.broken {
		b.broken, b.fault, b.FaultNew = true, fault, true
		kmem.Forget(b.ranges[:b.inflight])
		b.inflight = 0
	}
}

// FaultText says why the device was given up ("" if it was not).
func (b *Balloon) FaultText() string {
	if int(b.fault) >= len(faultText) {
		return ""
	}
	return faultText[b.fault]
}

// Broken reports whether the device was given up.
func (b *Balloon) Broken() bool { return b.broken }

// post takes free ranges beyond the reserve and posts them as one chain.
// It reports whether there was anything to post.
func (b *Balloon) post() bool {
	n := kmem.TakeDirty(b.ranges[:min(int(b.num), MaxRanges)], b.Reserve, ^uintptr(0))
	if n == 0 {
		return false
	}
	b.bytes = 0
	for i := 0; i < n; i++ {
		d := b.desc + uintptr(i)*16
		*kctx.At[uint64](d) = uint64(b.ranges[i].Addr)
		*kctx.At[uint32](d + 8) = uint32(b.ranges[i].Len)
		flags, next := uint16(descFWrite|descFNext), uint16(i+1)
		if i == n-1 {
			flags, next = descFWrite, 0
		}
		*kctx.At[uint16](d + 12) = flags
		*kctx.At[uint16](d + 14) = next
		b.bytes += uint64(b.ranges[i].Len)
	}
	b.inflight, b.stuck = n, false
	*kctx.At[uint16](b.avail + 4 + 2*uintptr(b.availIdx%b.num)) = 0
	b.availIdx++
	// The entry before the index: an atomic store is a release.
	atomic.StoreUint32(kctx.At[uint32](b.avail), uint32(b.availIdx)<<16)
	return true
}

// collect takes the report in flight off the used ring once the device
// used it, and marks its ranges reported. It reports whether nothing is
// in flight any more.
func (b *Balloon) collect() bool {
	if b.inflight == 0 {
		return true
	}
	idx := uint16(atomic.LoadUint32(kctx.At[uint32](b.used)) >> 16)
	if idx == b.lastUsed {
		return false
	}
	if idx-b.lastUsed != 1 {
		b.fail(faultAhead)
		return false
	}
	e := b.used + 4 + 8*uintptr(b.lastUsed%b.num)
	if id := *kctx.At[uint32](e); id != 0 {
		b.fail(faultBadID)
		return false
	}
	if n := *kctx.At[uint32](e + 4); uint64(n) > b.bytes {
		b.fail(faultTooLong)
		return false
	}
	b.lastUsed++
	b.ackInterrupt()
	kmem.MarkReported(b.ranges[:b.inflight])
	b.Reports.Add(1)
	b.ReportedBytes.Add(b.bytes)
	b.inflight = 0
	return true
}

// Idle runs the reporting policy (doc.go); clock is the time, busy
// reports whether work is waiting for a CPU, which ends the call early.
// Callers serialise calls.
func (b *Balloon) Idle(clock func() int64, busy func() bool) {
	now := clock()
	if !b.Active || b.broken {
		return
	}
	if !b.collect() {
		return
	}
	if !b.round {
		if now < b.next {
			return
		}
		b.next = now + Interval
		if kmem.DirtyBytes() < int64(b.Reserve)+MinReport {
			return
		}
		b.round = true
	}
	for i := 0; i < maxChains; i++ {
		if !b.post() {
			b.round = false
			return
		}
		b.kick()
		if !b.await(clock, busy) || clock()-now >= maxCall {
			return
		}
	}
}

// await waits up to maxWait for the chain in flight to be used, and
// reports whether it was and no work waits.
func (b *Balloon) await(clock func() int64, busy func() bool) bool {
	for end := clock() + maxWait; ; rt.Pause() {
		if b.collect() {
			return !busy()
		}
		if b.broken || busy() || clock() >= end {
			return false
		}
	}
}

// Reclaim is kmem's reclaim hook (kmem.SetReclaim), for an allocation
// that found no memory while a report may be in flight. It waits for the
// report to come back, which makes its ranges allocatable again,
// collecting it itself unless another CPU runs the policy meanwhile
// (TryIdle), and reports whether lent memory came back. All its waiting,
// for the lock and for the device, ends maxReclaim after the call.
func (b *Balloon) Reclaim(clock func() int64) bool {
	if !b.Active {
		return false
	}
	lent := kmem.LentBytes()
	for end := clock() + maxReclaim; ; rt.Pause() {
		if b.lock.TryLock() {
			ok := b.awaitReport(clock, end)
			b.lock.Unlock()
			return ok
		}
		if kmem.LentBytes() < lent {
			return true
		}
		if clock() >= end {
			return false
		}
	}
}

// awaitReport waits until end for the device to use the report in flight
// and reports whether it did. A report once waited for in vain is not
// waited for again: failing allocations (huge page attempts fail
// routinely) would each wait. Caller holds b.lock.
func (b *Balloon) awaitReport(clock func() int64, end int64) bool {
	if b.inflight == 0 {
		return false
	}
	if b.stuck {
		return b.collect()
	}
	for ; ; rt.Pause() {
		if b.collect() {
			return true
		}
		if b.broken || clock() >= end {
			b.stuck = true
			return false
		}
	}
}

// TryIdle runs the policy (Idle) unless another CPU is at it or waits for
// the report (Reclaim), and returns the reason the device was given up
// if that is news ("" otherwise), once.
func (b *Balloon) TryIdle(clock func() int64, busy func() bool) string {
	if !b.Active || !b.lock.TryLock() {
		return ""
	}
	b.Idle(clock, busy)
	why := ""
	if b.FaultNew {
		b.FaultNew = false
		why = b.FaultText()
	}
	b.lock.Unlock()
	return why
}

// SetReserve sets the reserve for total bytes of RAM.
func (b *Balloon) SetReserve(total uintptr) {
	b.Reserve = max(MinReserve, total/32)
}
