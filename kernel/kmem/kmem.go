package kmem

import (
	"sync/atomic"
	"unsafe"

	"github.com/unigo-os/unigo/kernel/spinlock"
)

const (
	// PageSize is the size of a frame.
	PageSize = 4096
	// MaxOrder is the largest block order: 1<<MaxOrder frames (2 MiB).
	MaxOrder = 9
	// HugeOrder is the order of a 2 MiB block, which kernel/mm maps as one
	// huge page.
	HugeOrder = 9

	maxRanges   = 64
	minClass    = 4  // 16 bytes
	maxClass    = 11 // 2048 bytes
	numClasses  = maxClass - minClass + 1
	pageShift   = 12
	pageMask    = PageSize - 1
	classBlocks = PageSize
)

type memRange struct {
	start     uintptr // where the range begins
	next, end uintptr // bump pointer and end of the range
	zero      bool    // [next, end) reads as zeros (AddZeroRange)

	// The reported-frame bitmap (EnableReporting): bit i is frame
	// bmBase+i*PageSize, set while that frame is free and given back to
	// the host. bmBase is the range's start rounded down to 2 MiB, so a
	// huge block is 8 whole words at a multiple of 8.
	bm, bmBase uintptr
	bmWords    uintptr
	hint       uintptr // no reported frame in words below hint
	nrep       uintptr // reported frames in the range
}

var (
	lock      spinlock.Lock
	ranges    [maxRanges]memRange
	nranges   int
	freeLists [MaxOrder + 1]uintptr // heads of per-order free lists
	classes   [numClasses]uintptr   // heads of per-size-class free lists

	freeBytes  atomic.Int64 // bytes available: bump space + free lists + reported
	totalBytes atomic.Int64

	reporting     bool         // EnableReporting succeeded
	listBytes     atomic.Int64 // bytes on the page free lists (written under lock)
	reportedBytes atomic.Int64 // bytes free and given back to the host
	reusedBytes   atomic.Int64 // reported bytes handed out again, ever
)

// AddRange donates [base, base+size) to the allocator. base and size are
// rounded inwards to page boundaries. Ranges beyond maxRanges are ignored and
// reported by the return value.
func AddRange(base, size uintptr) bool { return addRange(base, size, false) }

// AddZeroRange is AddRange for memory known to read as zeros (RAM as the
// hypervisor hands it over): blocks carved from it the first time are not
// cleared again, so a host that backs guest RAM on demand commits their
// pages only when they are written (a huge page mostly unused, the pages
// fault-around maps and nobody touches).
func AddZeroRange(base, size uintptr) bool { return addRange(base, size, true) }

func addRange(base, size uintptr, zero bool) bool {
	end := (base + size) &^ pageMask
	base = (base + pageMask) &^ pageMask
	if end <= base {
		return true
	}
	lock.Lock()
	defer lock.Unlock()
	if nranges == maxRanges {
		return false
	}
	ranges[nranges] = memRange{start: base, next: base, end: end, zero: zero}
	nranges++
	freeBytes.Add(int64(end - base))
	totalBytes.Add(int64(end - base))
	if reporting {
		bitmapLocked(&ranges[nranges-1])
	}
	return true
}

// AllocPages returns a zeroed block of 1<<order frames aligned to its size,
// or 0 if memory is exhausted.
func AllocPages(order int) uintptr {
	if order < 0 || order > MaxOrder {
		return 0
	}
	p, zero := allocPages(order)
	if p != 0 && !zero {
		memclr(p, PageSize<<order)
	}
	return p
}

// allocPages is allocLocked under the lock; when memory runs out while
// blocks are lent to the reporter, it waits for them (reclaim) and tries
// again.
func allocPages(order int) (uintptr, bool) {
	for {
		lent := lentBytes.Load()
		lock.Lock()
		p, zero := allocLocked(order)
		lock.Unlock()
		if p != 0 || !reclaimed(lent) {
			return p, zero
		}
	}
}

// reclaimed is for an allocation that found no memory: with lent bytes
// lent to the reporter when it looked, it waits for the reporter (reclaim)
// and reports whether memory may have come back, so that it is worth
// trying again.
func reclaimed(lent int64) bool {
	return lent != 0 && (reclaim() || lentBytes.Load() < lent)
}

// AllocPagesDirty is AllocPages without the clearing: a recycled block
// keeps what its last owner wrote. For buffers whose bytes are only read
// back after being written, such as the socket rings, where clearing
// 64 KiB per allocation was a visible share of a request's CPU.
func AllocPagesDirty(order int) uintptr {
	if order < 0 || order > MaxOrder {
		return 0
	}
	p, _ := allocPages(order)
	return p
}

// AllocPage returns a zeroed frame, or 0 if memory is exhausted.
func AllocPage() uintptr { return AllocPages(0) }

// FreePages returns a block obtained from AllocPages(order).
func FreePages(p uintptr, order int) {
	if p == 0 {
		return
	}
	lock.Lock()
	pushLocked(p, order)
	lock.Unlock()
	freeBytes.Add(int64(PageSize << order))
}

// pushLocked puts the block p of 1<<order frames on its free list.
func pushLocked(p uintptr, order int) {
	*(*uintptr)(unsafe.Pointer(p)) = freeLists[order]
	freeLists[order] = p
	listBytes.Add(int64(PageSize << order))
}

// popLocked takes the head of the free list of order, or returns 0.
func popLocked(order int) uintptr {
	p := freeLists[order]
	if p != 0 {
		freeLists[order] = *(*uintptr)(unsafe.Pointer(p))
		listBytes.Add(-int64(PageSize << order))
	}
	return p
}

// FreePage returns a frame obtained from AllocPage.
func FreePage(p uintptr) { FreePages(p, 0) }

// allocLocked takes a block of 1<<order frames, and says whether it is
// known to be zeroed (fresh memory of an AddZeroRange range).
func allocLocked(order int) (uintptr, bool) {
	if p := popLocked(order); p != 0 {
		freeBytes.Add(-int64(PageSize << order))
		return p, false
	}
	if reporting {
		if p := takeReportedLocked(order); p != 0 {
			return p, false // contents undefined: cleared by the caller
		}
	}
	size := uintptr(PageSize) << order
	for i := 0; i < nranges; i++ {
		r := &ranges[i]
		p := (r.next + size - 1) &^ (size - 1)
		if p < r.next || p+size > r.end || p+size < p {
			continue
		}
		// Frames skipped for alignment go to the free lists as the
		// largest aligned blocks they form.
		for q := r.next; q < p; {
			o := 0
			for o < order && q&(PageSize<<(o+1)-1) == 0 && q+PageSize<<(o+1) <= p {
				o++
			}
			pushLocked(q, o)
			q += PageSize << o
		}
		r.next = p + size
		freeBytes.Add(-int64(size))
		return p, r.zero
	}
	// Split a larger free block.
	for o := order + 1; o <= MaxOrder; o++ {
		p := popLocked(o)
		if p == 0 {
			continue
		}
		for ; o > order; o-- {
			pushLocked(p+uintptr(PageSize)<<(o-1), o-1)
		}
		freeBytes.Add(-int64(size))
		return p, false
	}
	return 0, false
}

// classOf returns the size class index for size bytes.
func classOf(size uintptr) int {
	c := minClass
	for uintptr(1)<<c < size {
		c++
	}
	return c - minClass
}

// Alloc returns a zeroed block of at least size bytes (size <= 2048),
// aligned to its power-of-two size class, or 0 if memory is exhausted.
// Larger requests are served whole pages (use AllocPages directly for
// alignment guarantees).
func Alloc(size uintptr) uintptr {
	if size == 0 {
		size = 1
	}
	if size > 1<<maxClass {
		return AllocPages(orderFor(size))
	}
	c := classOf(size)
	bsize := uintptr(1) << (c + minClass)
	lock.Lock()
	p := classes[c]
	if p == 0 {
		page, _ := allocLocked(0)
		if page == 0 {
			lock.Unlock()
			if reclaimed(lentBytes.Load()) {
				return Alloc(size)
			}
			return 0
		}
		// Thread the page into blocks; the first one is returned.
		for q := page + PageSize - bsize; q > page; q -= bsize {
			*(*uintptr)(unsafe.Pointer(q)) = classes[c]
			classes[c] = q
		}
		p = page
	} else {
		classes[c] = *(*uintptr)(unsafe.Pointer(p))
	}
	lock.Unlock()
	memclr(p, bsize)
	return p
}

// Free returns a block obtained from Alloc(size).
func Free(p, size uintptr) {
	if p == 0 {
		return
	}
	if size == 0 {
		size = 1
	}
	if size > 1<<maxClass {
		FreePages(p, orderFor(size))
		return
	}
	c := classOf(size)
	lock.Lock()
	*(*uintptr)(unsafe.Pointer(p)) = classes[c]
	classes[c] = p
	lock.Unlock()
}

// orderFor returns the smallest order whose block holds size bytes.
func orderFor(size uintptr) int {
	o := 0
	for uintptr(PageSize)<<o < size {
		o++
	}
	return o
}

// FreeBytes reports how many bytes are available (bump space, free page
// lists and reported frames; free small-object blocks are not counted).
func FreeBytes() int64 { return freeBytes.Load() }

// TotalBytes reports how many bytes were donated with AddRange.
func TotalBytes() int64 { return totalBytes.Load() }

// memclr zeroes n bytes at p.
func memclr(p, n uintptr) {
	b := unsafe.Slice((*byte)(unsafe.Pointer(p)), n)
	clear(b)
}

// Fresh calls f with the bump pointer of the range known to be zero
// (AddZeroRange) that contains addr: where the memory it never handed out
// begins. It holds the allocator's lock while f runs, so nothing is
// carved from that memory meanwhile; f must not allocate. f is not called
// when no such range contains addr.
func Fresh(addr uintptr, f func(next uintptr)) {
	lock.Lock()
	defer lock.Unlock()
	for i := 0; i < nranges; i++ {
		if r := &ranges[i]; r.zero && r.start <= addr && addr < r.end {
			f(r.next)
			return
		}
	}
}
