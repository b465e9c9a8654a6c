package kmem

import (
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// Free page reporting: free memory the host has been told it may take
// back (kernel/balloon). Such frames leave the free lists and are kept as
// bits of their range's bitmap, "reported"; their contents are undefined
// until they are handed out again (cleared, like any reused block).

// Range is a run of free memory, page-aligned, a multiple of PageSize.
type Range struct{ Addr, Len uintptr }

// maxRangeLen bounds one Range (a virtio descriptor's length is 32 bits).
const maxRangeLen = 1 << 30

// hugeWords is the number of bitmap words covering one 2 MiB block.
const hugeWords = (PageSize << HugeOrder) / PageSize / 64

// EnableReporting gives every range its reported-frame bitmap (taken from
// the allocator, one bit per frame) and turns reporting on; ranges added
// later get theirs when added. It fails if a bitmap cannot be allocated;
// a range without one (added later, when memory ran out) never has its
// blocks reported.
func EnableReporting() bool {
	lock.Lock()
	defer lock.Unlock()
	if reporting {
		return true
	}
	for i := 0; i < nranges; i++ {
		if !bitmapLocked(&ranges[i]) {
			return false
		}
	}
	reporting = true
	return true
}

// bitmapLocked allocates r's bitmap (zeroed).
func bitmapLocked(r *memRange) bool {
	if r.bm != 0 {
		return true
	}
	base := r.start &^ (PageSize<<HugeOrder - 1)
	words := ((r.end-base)/PageSize + 63) / 64
	words = (words + hugeWords - 1) &^ (hugeWords - 1)
	order := orderFor(words * 8)
	if order > MaxOrder {
		return false
	}
	p, zero := allocLocked(order)
	if p == 0 {
		return false
	}
	if !zero {
		memclr(p, PageSize<<order)
	}
	r.bm, r.bmBase, r.bmWords, r.hint, r.nrep = p, base, words, words, 0
	return true
}

// rangeOf returns the range holding [p, p+n) with a bitmap, or nil.
func rangeOf(p, n uintptr) *memRange {
	for i := 0; i < nranges; i++ {
		r := &ranges[i]
		if r.bm != 0 && p >= r.start && p+n >= p && p+n <= r.end {
			return r
		}
	}
	return nil
}

func (r *memRange) word(i uintptr) *uint64 {
	return (*uint64)(unsafe.Pointer(r.bm + i*8))
}

// lentBytes counts the bytes TakeDirty lent and neither MarkReported nor
// ReturnDirty took back yet: free, but in no list (written under lock).
var lentBytes atomic.Int64

// reclaimFn is func() bool (SetReclaim).
var reclaimFn uintptr

// SetReclaim installs f, which an allocation that finds no memory while
// blocks are lent calls before it fails: it waits, for a bounded time,
// until the reporter has given lent blocks back (the device used the
// report) and reports whether it gave some back. Call it once at boot.
func SetReclaim(f func() bool) { reclaimFn = *(*uintptr)(unsafe.Pointer(&f)) }

func reclaim() bool {
	h := reclaimFn
	return h != 0 && (*(*func() bool)(unsafe.Pointer(&h)))()
}

// LentBytes reports the bytes lent by TakeDirty and not yet taken back.
func LentBytes() int64 { return lentBytes.Load() }

// Forget drops ranges taken with TakeDirty that will never come back
// (the device that had them broke and may still discard them): they
// stop counting as free.
func Forget(rs []Range) {
	lock.Lock()
	for _, x := range rs {
		lentBytes.Add(-int64(x.Len))
		freeBytes.Add(-int64(x.Len))
	}
	lock.Unlock()
}

// TakeDirty takes free blocks off the free lists for reporting, largest
// first, while more than reserve bytes stay on them and at most max bytes
// are taken, into out as ranges sorted by address, adjacent blocks
// merged. It returns the number of ranges. The blocks belong to the
// caller until it passes them to MarkReported (the host took them) or
// ReturnDirty (it did not).
func TakeDirty(out []Range, reserve, maxBytes uintptr) int {
	lock.Lock()
	n := 0
	taken := uintptr(0)
	if reporting {
	orders:
		for o := MaxOrder; o >= 0; o-- {
			size := uintptr(PageSize) << o
			for freeLists[o] != 0 && uintptr(listBytes.Load()) >= reserve+size && taken+size <= maxBytes {
				p := freeLists[o]
				if rangeOf(p, size) == nil {
					continue orders // a range without a bitmap: leave this list
				}
				// Free lists are LIFO and frames are usually freed in
				// address order, so a block often extends the last range
				// downwards.
				switch {
				case n > 0 && p+size == out[n-1].Addr && out[n-1].Len+size <= maxRangeLen:
					out[n-1].Addr, out[n-1].Len = p, out[n-1].Len+size
				case n > 0 && out[n-1].Addr+out[n-1].Len == p && out[n-1].Len+size <= maxRangeLen:
					out[n-1].Len += size
				case n < len(out):
					out[n] = Range{p, size}
					n++
				default:
					break orders
				}
				popLocked(o)
				taken += size
			}
		}
	}
	lentBytes.Add(int64(taken))
	lock.Unlock()
	return mergeRanges(out[:n])
}

// mergeRanges sorts rs by address (insertion sort: few, mostly ordered)
// and merges adjacent ones; it returns how many remain.
func mergeRanges(rs []Range) int {
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].Addr < rs[j-1].Addr; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
	n := 0
	for _, r := range rs {
		if n > 0 && rs[n-1].Addr+rs[n-1].Len == r.Addr && rs[n-1].Len+r.Len <= maxRangeLen {
			rs[n-1].Len += r.Len
			continue
		}
		rs[n] = r
		n++
	}
	return n
}

// MarkReported records ranges taken with TakeDirty as given back to the
// host: they are free again, served after the free lists (cleared).
func MarkReported(rs []Range) {
	lock.Lock()
	for _, x := range rs {
		lentBytes.Add(-int64(x.Len))
		// A range may span memory ranges that touch (TakeDirty merges
		// adjacent blocks): each part goes to its own bitmap.
		for i := 0; i < nranges; i++ {
			r := &ranges[i]
			lo, hi := max(x.Addr, r.start), min(x.Addr+x.Len, r.end)
			if r.bm == 0 || lo >= hi {
				continue
			}
			first := (lo - r.bmBase) / PageSize
			for f := first; f < first+(hi-lo)/PageSize; f++ {
				w := r.word(f / 64)
				if *w&(1<<(f%64)) == 0 {
					*w |= 1 << (f % 64)
					r.nrep++
					reportedBytes.Add(PageSize)
				}
			}
			r.hint = min(r.hint, first/64)
		}
	}
	lock.Unlock()
}

// ReturnDirty puts ranges taken with TakeDirty back on the free lists, as
// the largest aligned blocks they form.
func ReturnDirty(rs []Range) {
	lock.Lock()
	for _, x := range rs {
		lentBytes.Add(-int64(x.Len))
		for q, end := x.Addr, x.Addr+x.Len; q < end; {
			o := 0
			for o < MaxOrder && q&(PageSize<<(o+1)-1) == 0 && q+PageSize<<(o+1) <= end {
				o++
			}
			pushLocked(q, o)
			q += PageSize << o
		}
	}
	lock.Unlock()
}

// takeReportedLocked takes an aligned block of 1<<order reported frames,
// or returns 0.
func takeReportedLocked(order int) uintptr {
	frames := uintptr(1) << order
	for i := 0; i < nranges; i++ {
		r := &ranges[i]
		if r.bm == 0 || r.nrep < frames {
			continue
		}
		f, ok := r.scan(order)
		if !ok {
			continue
		}
		for g := f; g < f+frames; g++ {
			*r.word(g / 64) &^= 1 << (g % 64)
		}
		r.nrep -= frames
		size := int64(frames * PageSize)
		reportedBytes.Add(-size)
		reusedBytes.Add(size)
		freeBytes.Add(-size)
		return r.bmBase + f*PageSize
	}
	return 0
}

// scan finds the first frame of an aligned run of 1<<order reported
// frames.
func (r *memRange) scan(order int) (uintptr, bool) {
	if order >= 6 {
		nw := uintptr(1) << (order - 6)
		for i := r.hint &^ (nw - 1); i+nw <= r.bmWords; i += nw {
			all := true
			for j := i; j < i+nw && all; j++ {
				all = *r.word(j) == ^uint64(0)
			}
			if all {
				return i * 64, true
			}
		}
		return 0, false
	}
	k := uint(1) << order
	m := uint64(1)<<k - 1
	for i := r.hint; i < r.bmWords; i++ {
		w := *r.word(i)
		if w == 0 {
			if order == 0 && i == r.hint {
				r.hint++ // nothing reported below: skip it next time
			}
			continue
		}
		if order == 0 {
			return i*64 + uintptr(bits.TrailingZeros64(w)), true
		}
		for s := uint(0); s < 64; s += k {
			if (w>>s)&m == m {
				return i*64 + uintptr(s), true
			}
		}
	}
	return 0, false
}

// DirtyBytes reports the bytes on the free lists: free, not reported.
func DirtyBytes() int64 { return listBytes.Load() }

// ReportedBytes reports the bytes free and given back to the host.
func ReportedBytes() int64 { return reportedBytes.Load() }

// ReusedBytes reports the reported bytes handed out again since boot.
func ReusedBytes() int64 { return reusedBytes.Load() }
