package mm

import (
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/kmem"
	"github.com/unigo-os/unigo/rt"
)

// Huge pages for anonymous memory. A fault maps a whole 2 MiB page (one
// PDE, a kmem.HugeOrder block) when the aligned 2 MiB range around it
// lies inside one writable anonymous VMA, no page table serves the range
// yet, memory is plentiful, and the VMA has shown sequential use: the
// page just below the range is present. So a mapping filled upwards (a
// Go heap arena, a large buffer) takes one fault per 2 MiB after its
// first 2 MiB, while sparse touches (the runtime's large, mostly unused
// reservations) and stacks, which grow down, keep 4 KiB pages and cost
// no memory they do not use. Within a page table, the fault-around window
// grows with the run of present pages below the fault (faultWindow).
// madvise(MADV_HUGEPAGE) waives the sequential-use condition for a range,
// MADV_NOHUGEPAGE (which the Go runtime puts on its sparse metadata)
// forbids 2 MiB pages there (Advise).
//
// munmap, mprotect and madvise(MADV_DONTNEED) act on 4 KiB pages: a
// 2 MiB page that their range covers only in part is first split
// (SplitHuge) into a page table of 512 entries mapping the same frames
// with the same flags; the frames are then freed one by one. One wholly
// covered is unmapped, or reprotected, whole. A page table whose whole
// 2 MiB range is unmapped is freed, so the range may get a huge page
// again.

// hostTest is set by the host-side tests, which build page tables in
// ordinary memory and cannot load CR3 or invalidate TLB entries.
var hostTest bool

// flushTLB flushes this CPU's TLB (non-global entries).
func flushTLB() {
	if !hostTest {
		rt.WriteCR3(uint64(PML4))
	}
}

// hugeOK reports whether a fault at va in anonymous VMA i may map the
// whole 2 MiB page around it (see above). Caller holds VMLock and has
// seen no page table for the range.
func hugeOK(i int, va uintptr) bool {
	v := &VMAs[i]
	r := va &^ (HugeSize - 1)
	if v.Prot&ProtWrite == 0 || v.Huge < 0 || r < v.Start || r+HugeSize > v.End || r+HugeSize < r {
		return false
	}
	if kmem.FreeBytes() <= kmem.TotalBytes()/faultAroundReserve+HugeSize {
		return false
	}
	return v.Huge > 0 || r > v.Start && leafFor(r-PageSize)&PtePresent != 0
}

// faultWindow returns how many pages (a power of two, at most a page
// table's 512) a fault at page, whose PTE is at pte, maps around itself:
// 0 for an isolated touch, else twice the run of present pages just
// below it in the same page table and VMA starting at vmaStart (probed
// at doubling distances), and at least faultAround. Sequential faults
// thus double the window until it covers the page table.
func faultWindow(page, pte, vmaStart uintptr) uintptr {
	region := page &^ (HugeSize - 1)
	w := uintptr(0)
	for d := uintptr(1); d < HugeSize/PageSize; d <<= 1 {
		if page-region < d*PageSize || page-d*PageSize < vmaStart || *kctx.At[uint64](pte - d*8)&PtePresent == 0 {
			break
		}
		w = 2 * d
	}
	if w != 0 && w < faultAround {
		w = faultAround
	}
	return w
}

// splitHuge replaces the 2 MiB page that pde maps with a page table of
// 512 entries mapping the same frames with the same flags. It fails only
// when no frame is left for the table.
func splitHuge(pde *uint64) bool {
	pt := kmem.AllocPage()
	if pt == 0 {
		return false
	}
	e := *pde
	base := e & PteAddr &^ (HugeSize - 1)
	flags := e &^ (PteAddr | pteHuge)
	for i := uint64(0); i < HugeSize/PageSize; i++ {
		*kctx.At[uint64](pt + uintptr(i)*8) = base + i*PageSize | flags
	}
	// No TLB may hold the 2 MiB entry and 4 KiB ones for the same
	// address: the PDE is cleared and every TLB flushed before the table
	// goes in, as Linux does. A CPU touching the range meanwhile faults
	// and waits for VMLock, then finds the page present.
	*pde = 0
	flushTLB()
	shootdownHook()
	*pde = uint64(pt) | PteTable
	Stats.Splits++
	return true
}

// SplitHuge splits the 2 MiB pages that [start, end) covers only in part
// (at most two: the ones holding start and end), so that the range's
// pages can be unmapped or reprotected one by one. It fails when a page
// table cannot be allocated; munmap, mprotect and madvise call it first
// and fail with ENOMEM then, before changing anything. Caller holds
// VMLock.
func SplitHuge(start, end uintptr) bool {
	for _, va := range [2]uintptr{start, end} {
		if va&(HugeSize-1) == 0 {
			continue
		}
		pde := pdeFor(va, false)
		if pde != nil && *pde&(PtePresent|pteHuge) == PtePresent|pteHuge && !splitHuge(pde) {
			return false
		}
	}
	return true
}

// SplitAllHuge splits every 2 MiB page that [start, end) touches, so that
// the range's page-table entries can be moved one by one (mremap). It
// fails, with the pages split so far left split (invisible to the
// program), when a page table cannot be allocated. Caller holds VMLock.
func SplitAllHuge(start, end uintptr) bool {
	for va := start &^ (HugeSize - 1); va < end; va += HugeSize {
		pde := pdeFor(va, false)
		if pde != nil && *pde&(PtePresent|pteHuge) == PtePresent|pteHuge && !splitHuge(pde) {
			return false
		}
	}
	return true
}
