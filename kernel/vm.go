package kernel

import (
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/kmem"
	"github.com/unigo-os/unigo/kernel/platform"
	"github.com/unigo-os/unigo/kernel/spinlock"
	"github.com/unigo-os/unigo/rt"
)

// Virtual memory. One address space (one page table) for everything:
//
//	[0, 512 GiB)            identity map of physical memory (kernel data,
//	                        the image, kernel stacks, page tables); 2 MiB
//	                        pages, except the first 2 MiB, mapped with 4 KiB
//	                        pages so that page 0 stays unmapped (nil faults).
//	[512 GiB, 128 TiB)      the program's mmap space: the Go heap arenas
//	                        (hinted at 0xc000000000), and mappings placed
//	                        top-down from mmapTop. Demand-paged.
//
// All pages are user-accessible: the Go runtime and the kernel's Go code
// both run at CPL 3 (see rt/boot_amd64.s).
const (
	ptePresent = 1 << 0
	pteWrite   = 1 << 1
	pteUser    = 1 << 2
	ptePWT     = 1 << 3
	ptePCD     = 1 << 4
	pteHuge    = 1 << 7
	pteNX      = 1 << 63
	pteAddr    = 0x000ffffffffff000

	pageSize  = 4096
	hugeSize  = 2 << 20
	userBase  = 512 << 30
	userTop   = 0x7ffffffff000
	mmapTop   = 0x7f0000000000
	stackTop  = 0x7ffffff00000
	stackSize = 8 << 20
)

// Protection bits as in mmap(2).
const (
	protRead  = 1
	protWrite = 2
	protExec  = 4
)

// vma is a range [start, end) with one protection. The table is sorted
// and non-overlapping; maxVMAs bounds it (Go makes few, large mappings).
type vma struct {
	start, end uintptr
	prot       uint32
}

const maxVMAs = 4096

// Fault-around window (pages, a power of two), and the fraction of RAM
// (1/faultAroundReserve) below which faults map single pages only, so
// that speculation never costs memory a tight workload needs.
const (
	faultAround        = 16
	faultAroundReserve = 3
)

var (
	vmLock  spinlock.Lock
	pml4    uintptr
	vmas    [maxVMAs]vma
	nvmas   int
	nxOK    bool
	vmStats struct{ faults, pages, maxPages uint64 }
)

// pteFor returns the page-table entry for va at level 1 (4 KiB pages),
// creating intermediate tables when create is set. It returns nil if a
// table is missing and create is false, or memory is exhausted, or a huge
// page maps va.
func pteFor(va uintptr, create bool) *uint64 {
	table := pml4
	for level := 3; level >= 1; level-- {
		idx := (va >> (12 + 9*uint(level))) & 511
		e := kctx.At[uint64](table + idx*8)
		if *e&ptePresent == 0 {
			if !create {
				return nil
			}
			p := kmem.AllocPage()
			if p == 0 {
				return nil
			}
			*e = uint64(p) | ptePresent | pteWrite | pteUser
		} else if *e&pteHuge != 0 {
			return nil
		}
		table = uintptr(*e & pteAddr)
	}
	return kctx.At[uint64](table + ((va >> 12) & 511 * 8))
}

func leafFlags(prot uint32) uint64 {
	f := uint64(ptePresent | pteUser)
	if prot&protWrite != 0 {
		f |= pteWrite
	}
	if prot&protExec == 0 && nxOK {
		f |= pteNX
	}
	return f
}

// vmInit adopts the boot page tables and completes the identity map up to
// ramTop.
func vmInit() {
	pml4 = uintptr(rt.ReadCR3() & pteAddr)
	_, _, _, d := rt.Cpuid(0x80000001, 0)
	nxOK = d&(1<<20) != 0
	pdpt := uintptr(*kctx.At[uint64](pml4) & pteAddr)
	// The boot map covers 1 GiB; add 2 MiB mappings for the rest of RAM.
	for gb := uintptr(1); gb < (platform.RAMTop+(1<<30)-1)>>30 && gb < 512; gb++ {
		pd := kmem.AllocPage()
		if pd == 0 {
			kctx.Panic("out of memory building the identity map")
		}
		for i := uintptr(0); i < 512; i++ {
			*kctx.At[uint64](pd + i*8) = uint64(gb<<30+i<<21) | ptePresent | pteWrite | pteUser | pteHuge
		}
		*kctx.At[uint64](pdpt + gb*8) = uint64(pd) | ptePresent | pteWrite | pteUser
	}
	// Split the first 2 MiB into 4 KiB pages and unmap page 0.
	pd0 := uintptr(*kctx.At[uint64](pdpt) & pteAddr)
	pt := kmem.AllocPage()
	for i := uintptr(1); i < 512; i++ {
		*kctx.At[uint64](pt + i*8) = uint64(i<<12) | ptePresent | pteWrite | pteUser
	}
	*kctx.At[uint64](pd0) = uint64(pt) | ptePresent | pteWrite | pteUser
	rt.WriteCR3(uint64(pml4))
}

// mapDevice identity-maps the 2 MiB region holding pa, uncached.
func mapDevice(pa uintptr) {
	pa &^= hugeSize - 1
	pdpt := uintptr(*kctx.At[uint64](pml4) & pteAddr)
	gb := pa >> 30
	e := kctx.At[uint64](pdpt + gb*8)
	if *e&ptePresent == 0 {
		pd := kmem.AllocPage()
		*e = uint64(pd) | ptePresent | pteWrite | pteUser
	}
	pd := uintptr(*e & pteAddr)
	*kctx.At[uint64](pd + ((pa>>21)&511)*8) = uint64(pa) | ptePresent | pteWrite | pteUser | pteHuge | ptePCD | ptePWT
	rt.Invlpg(pa)
}

// findVMA returns the index of the VMA containing va, or -1.
func findVMA(va uintptr) int {
	lo, hi := 0, nvmas
	for lo < hi {
		m := (lo + hi) / 2
		if vmas[m].end <= va {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < nvmas && vmas[lo].start <= va {
		return lo
	}
	return -1
}

func insertVMA(i int, v vma) bool {
	if nvmas == maxVMAs {
		return false
	}
	copy(vmas[i+1:nvmas+1], vmas[i:nvmas])
	vmas[i] = v
	nvmas++
	return true
}

func deleteVMA(i int) {
	copy(vmas[i:nvmas-1], vmas[i+1:nvmas])
	nvmas--
}

// setRange makes [start, end) have protection prot (prot < 0: unmapped),
// splitting and merging VMAs. It does not touch page tables. Caller holds
// vmLock. It fails only when the table is full.
func setRange(start, end uintptr, prot int) bool {
	// Carve [start, end) out of every overlapping VMA.
	for i := 0; i < nvmas; i++ {
		v := vmas[i]
		if v.end <= start || v.start >= end {
			continue
		}
		switch {
		case v.start >= start && v.end <= end:
			deleteVMA(i)
			i--
		case v.start < start && v.end > end:
			vmas[i].end = start
			if !insertVMA(i+1, vma{start: end, end: v.end, prot: v.prot}) {
				return false
			}
			i++
		case v.start < start:
			vmas[i].end = start
		default:
			vmas[i].start = end
		}
	}
	if prot < 0 {
		return true
	}
	i := 0
	for i < nvmas && vmas[i].start < start {
		i++
	}
	if !insertVMA(i, vma{start: start, end: end, prot: uint32(prot)}) {
		return false
	}
	// Merge with neighbours of equal protection.
	if i+1 < nvmas && vmas[i+1].start == end && vmas[i+1].prot == uint32(prot) {
		vmas[i].end = vmas[i+1].end
		deleteVMA(i + 1)
	}
	if i > 0 && vmas[i-1].end == start && vmas[i-1].prot == uint32(prot) {
		vmas[i-1].end = vmas[i].end
		deleteVMA(i)
	}
	return true
}

// rangeFree reports whether no VMA overlaps [start, end).
func rangeFree(start, end uintptr) bool {
	for i := 0; i < nvmas; i++ {
		if vmas[i].start < end && vmas[i].end > start {
			return false
		}
	}
	return true
}

// findGap returns the highest free range of size bytes below mmapTop.
func findGap(size uintptr) uintptr {
	top := uintptr(mmapTop)
	for i := nvmas - 1; i >= -1; i-- {
		lo := uintptr(userBase)
		if i >= 0 {
			lo = vmas[i].end
			if vmas[i].start >= top {
				continue
			}
		}
		if top >= size && top-size >= lo {
			return top - size
		}
		if i >= 0 && vmas[i].start < top {
			top = vmas[i].start
		}
	}
	return 0
}

// unmapPages removes the mappings of [start, end) from the page table and
// frees the frames. Caller holds vmLock. A frame is freed only once no CPU
// can still reach it through a stale TLB entry: the PTEs of a batch are
// cleared, every CPU's TLB flushed (tlbShootdown), then the batch freed.
func unmapPages(start, end uintptr) {
	var batch [64]uintptr
	n := 0
	flush := func() {
		if n == 0 {
			return
		}
		rt.WriteCR3(uint64(pml4))
		tlbShootdown()
		for _, pa := range batch[:n] {
			kmem.FreePage(pa)
		}
		n = 0
	}
	for va := start; va < end; {
		// Skip whole missing tables quickly.
		pte := pteFor(va, false)
		if pte == nil {
			va = (va + hugeSize) &^ (hugeSize - 1)
			continue
		}
		if *pte&ptePresent != 0 {
			batch[n] = uintptr(*pte & pteAddr)
			*pte = 0
			vmStats.pages--
			n++
			if n == len(batch) {
				flush()
			}
		}
		va += pageSize
	}
	flush()
}

// protectPages applies prot to the present pages of [start, end).
func protectPages(start, end uintptr, prot uint32) {
	n := 0
	for va := start; va < end; {
		pte := pteFor(va, false)
		if pte == nil {
			va = (va + hugeSize) &^ (hugeSize - 1)
			continue
		}
		if *pte&ptePresent != 0 {
			*pte = *pte&pteAddr | leafFlags(prot)
			n++
		}
		va += pageSize
	}
	if n > 0 {
		rt.WriteCR3(uint64(pml4))
		tlbShootdown()
	}
}

// faultIn makes the page at va present if a VMA allows the access.
// It reports false for an invalid access. Caller holds vmLock.
func faultIn(va uintptr, write bool) bool {
	i := findVMA(va)
	if i < 0 {
		return false
	}
	prot := vmas[i].prot
	if prot&(protRead|protWrite|protExec) == 0 || (write && prot&protWrite == 0) {
		return false
	}
	pte := pteFor(va, true)
	if pte == nil {
		return false
	}
	if *pte&ptePresent != 0 {
		return true // raced or spurious
	}
	p := kmem.AllocPage()
	if p == 0 {
		return false
	}
	flags := leafFlags(prot)
	*pte = uint64(p) | flags
	n := uint64(1)
	// Fault-around for ascending touches: when the page just below va is
	// already present, map the rest of the aligned window too, within the
	// same VMA (so with the same protection) and while memory is
	// plentiful. The Go runtime fills its heap spans upwards, and one trap
	// (expensive under emulation) then serves a whole window. Isolated
	// touches and stacks (which grow down: the tops of thousands of thread
	// stacks) still get one page per fault, so memory is not wasted on
	// them.
	if kmem.FreeBytes() > kmem.TotalBytes()/faultAroundReserve {
		page := va &^ (pageSize - 1)
		lo := page + pageSize
		hi := page&^(faultAround*pageSize-1) + faultAround*pageSize
		if hi > vmas[i].end {
			hi = vmas[i].end
		}
		// The window lies in one page table (it is aligned and smaller
		// than 2 MiB), so the neighbours' entries are next to pte; the
		// page below must be in the same table and VMA too.
		pa := kctx.PtrOf(pte)
		if page&(hugeSize-1) == 0 || page <= vmas[i].start || *kctx.At[uint64](pa - 8)&ptePresent == 0 {
			hi = lo
		}
		for a := lo; a < hi; a += pageSize {
			e := kctx.At[uint64](pa + (a-page)/pageSize*8)
			if *e&ptePresent != 0 {
				continue
			}
			q := kmem.AllocPage()
			if q == 0 {
				break
			}
			*e = uint64(q) | flags
			n++
		}
	}
	vmStats.pages += n
	if vmStats.pages > vmStats.maxPages {
		vmStats.maxPages = vmStats.pages
	}
	vmStats.faults++
	return true
}

// userOK makes [addr, addr+n) accessible to the kernel (faulting pages in)
// and reports whether the whole range is valid user memory.
func userOK(addr, n uintptr, write bool) bool {
	if n == 0 {
		return true
	}
	if addr+n < addr || addr+n > userTop {
		return false
	}
	if addr < userBase {
		// Below userBase only the image itself is program memory. It is
		// always mapped, but its text and read-only data are not
		// writable (protectImage): a system call told to write there
		// gets EFAULT, as on Linux, instead of faulting in the kernel.
		if addr < imageStart || addr+n > imageEnd {
			return false
		}
		for va := addr &^ (pageSize - 1); write && va < addr+n; va += pageSize {
			if pte := pteFor(va, false); pte == nil || *pte&pteWrite == 0 {
				return false
			}
		}
		return true
	}
	vmLock.Lock()
	defer vmLock.Unlock()
	for va := addr &^ (pageSize - 1); va < addr+n; va += pageSize {
		pte := pteFor(va, false)
		if pte != nil && *pte&ptePresent != 0 && (!write || *pte&pteWrite != 0) {
			continue
		}
		if !faultIn(va, write) {
			return false
		}
	}
	return true
}
