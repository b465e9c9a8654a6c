package mm

import (
	"unsafe"

	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/kmem"
	"github.com/unigo-os/unigo/kernel/memfs"
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
//	                        top-down from mmapTop. Demand-paged, with
//	                        4 KiB pages and 2 MiB ones for anonymous
//	                        memory used sequentially (huge.go).
//
// All pages are user-accessible: the Go runtime and the kernel's Go code
// both run at CPL 3 (see rt/boot_amd64.s).
const (
	PtePresent = 1 << 0
	PteWrite   = 1 << 1
	PteUser    = 1 << 2
	ptePWT     = 1 << 3
	ptePCD     = 1 << 4
	pteHuge    = 1 << 7
	pteNX      = 1 << 63
	// Accessed and dirty, set by the kernel in every entry it makes (the
	// kernel reads neither): the CPU then never writes them back on the
	// first access or write, and under shadow paging the host neither has
	// to set them in the guest's tables nor, since it prefetches only
	// accessed entries, skip the neighbours of a faulting page.
	pteAccessed = 1 << 5
	pteDirty    = 1 << 6
	// PteTable is the entry for a page table under a higher-level one;
	// pteRAM the leaf flags of the identity map of RAM.
	PteTable = PtePresent | PteWrite | PteUser | pteAccessed
	pteRAM   = PtePresent | PteWrite | PteUser | pteAccessed | pteDirty
	PteAddr  = 0x000ffffffffff000
	// Software bits (ignored by the MMU). PteFile: the frame is a file's
	// page (memfs owns it; unmapping does not free it). PteCOW: a file
	// page mapped read-only in a private mapping; a write copies it.
	PteFile = 1 << 9
	PteCOW  = 1 << 10

	PageSize  = 4096
	HugeSize  = 2 << 20
	UserBase  = 512 << 30
	UserTop   = 0x7ffffffff000
	mmapTop   = 0x7f0000000000
	StackTop  = 0x7ffffff00000
	StackSize = 8 << 20
)

// Protection bits as in mmap(2).
const (
	ProtRead  = 1
	ProtWrite = 2
	protExec  = 4
)

// vma is a range [start, end) with one protection. The table is sorted
// and non-overlapping; maxVMAs bounds it (Go makes few, large mappings).
// A file mapping has File (a memfs.Inode, on which it holds a reference)
// and Off, the file offset of Start; Shared marks MAP_SHARED; NoWrite a
// shared mapping of a file opened without write access, which mprotect
// may not make writable. Huge is the madvise advice on 2 MiB pages
// (Advise): 1 MADV_HUGEPAGE, -1 MADV_NOHUGEPAGE, 0 none.
type vma struct {
	Start, End uintptr
	Prot       uint32
	Shared     bool
	NoWrite    bool
	Huge       int8
	File       uintptr
	Off        uintptr
}

const maxVMAs = 4096

// Smallest fault-around window (pages, a power of two; faultWindow grows
// it), and the fraction of RAM (1/faultAroundReserve) below which faults
// map single pages only, and no 2 MiB pages, so that speculation never
// costs memory a tight workload needs.
const (
	faultAround        = 16
	faultAroundReserve = 3
)

var (
	VMLock spinlock.Lock
	PML4   uintptr
	VMAs   [maxVMAs]vma
	nvmas  int
	nfile  int // file VMAs among them
	NXOK   bool
	// Stats: faults served, 4 KiB pages mapped (a 2 MiB page counts 512)
	// and their peak, 2 MiB pages mapped by faults, and splits of them.
	Stats struct{ Faults, Pages, MaxPages, Huge, Splits uint64 }
)

// PageRound rounds n up to a whole number of pages.
func PageRound(n uintptr) uintptr { return (n + PageSize - 1) &^ (PageSize - 1) }

// tableUnder returns the page table that entry e (of a table above
// level 1) points to, allocating an empty one when e is not present and
// create is set. It returns 0 if there is none and create is false, if e
// maps a huge page, or if memory is exhausted.
func tableUnder(e *uint64, create bool) uintptr {
	if *e&PtePresent == 0 {
		if !create {
			return 0
		}
		p := kmem.AllocPage()
		if p == 0 {
			return 0
		}
		*e = uint64(p) | PteTable
	} else if *e&pteHuge != 0 {
		return 0
	}
	return uintptr(*e & PteAddr)
}

// pdeFor returns the page-directory entry for va (level 2: a 2 MiB page
// or a page table), creating the upper tables when create is set. It
// returns nil if a table is missing and create is false, or memory is
// exhausted.
func pdeFor(va uintptr, create bool) *uint64 {
	table := PML4
	for level := 3; level >= 2; level-- {
		idx := (va >> (12 + 9*uint(level))) & 511
		if table = tableUnder(kctx.At[uint64](table+idx*8), create); table == 0 {
			return nil
		}
	}
	return kctx.At[uint64](table + ((va >> 21) & 511 * 8))
}

// pteFor returns the page-table entry for va at level 1 (4 KiB pages),
// creating intermediate tables when create is set. It returns nil if a
// table is missing and create is false, or memory is exhausted, or a huge
// page maps va.
func pteFor(va uintptr, create bool) *uint64 {
	pde := pdeFor(va, create)
	if pde == nil {
		return nil
	}
	pt := tableUnder(pde, create)
	if pt == 0 {
		return nil
	}
	return kctx.At[uint64](pt + ((va >> 12) & 511 * 8))
}

// leafFor returns the entry that maps va: its PTE, or the PDE of the
// 2 MiB page holding it; 0 when va is not mapped. It reads the PDE once,
// so a lockless caller (UserWritableNow) racing with a split sees either
// the 2 MiB page or the table.
func leafFor(va uintptr) uint64 {
	pde := pdeFor(va, false)
	if pde == nil {
		return 0
	}
	e := *pde
	if e&PtePresent == 0 || e&pteHuge != 0 {
		return e
	}
	return *kctx.At[uint64](uintptr(e&PteAddr) + ((va >> 12) & 511 * 8))
}

// leafFlags gives a leaf entry's flags for prot. PROT_NONE keeps the page
// present (its frame stays the mapping's) but without PteUser: the
// program runs at CPL 3, so any access it makes faults, and Fault answers
// SEGV from the VMA; the kernel reaches user memory only after UserOK,
// which refuses PROT_NONE too.
func leafFlags(prot uint32) uint64 {
	f := uint64(PtePresent | PteUser | pteAccessed)
	if prot&(ProtRead|ProtWrite|protExec) == 0 {
		f &^= PteUser
	}
	if prot&ProtWrite != 0 {
		f |= PteWrite | pteDirty
	}
	if prot&protExec == 0 && NXOK {
		f |= pteNX
	}
	return f
}

// MapLimit is the end of what Init can identity-map (one PDPT).
const MapLimit = 512 << 30

// Init adopts the boot page tables and completes the identity map up to
// top (RAMTop, or the end of a boot module placed above RAM).
func Init(top uintptr) {
	PML4 = uintptr(rt.ReadCR3() & PteAddr)
	_, _, _, d := rt.Cpuid(0x80000001, 0)
	NXOK = d&(1<<20) != 0
	pdpt := uintptr(*kctx.At[uint64](PML4) & PteAddr)
	// The boot map covers 1 GiB; add 2 MiB mappings for the rest.
	for gb := uintptr(1); gb < (top+(1<<30)-1)>>30 && gb < MapLimit>>30; gb++ {
		pd := kmem.AllocPage()
		if pd == 0 {
			kctx.Panic("out of memory building the identity map")
		}
		for i := uintptr(0); i < 512; i++ {
			*kctx.At[uint64](pd + i*8) = uint64(gb<<30+i<<21) | pteRAM | pteHuge
		}
		*kctx.At[uint64](pdpt + gb*8) = uint64(pd) | PteTable
	}
	// Split the first 2 MiB into 4 KiB pages and unmap page 0.
	pd0 := uintptr(*kctx.At[uint64](pdpt) & PteAddr)
	pt := kmem.AllocPage()
	for i := uintptr(1); i < 512; i++ {
		*kctx.At[uint64](pt + i*8) = uint64(i<<12) | pteRAM
	}
	*kctx.At[uint64](pd0) = uint64(pt) | PteTable
	rt.WriteCR3(uint64(PML4))
}

// MapDevice identity-maps the 2 MiB region holding pa, uncached.
func MapDevice(pa uintptr) {
	pa &^= HugeSize - 1
	pdpt := uintptr(*kctx.At[uint64](PML4) & PteAddr)
	gb := pa >> 30
	e := kctx.At[uint64](pdpt + gb*8)
	if *e&PtePresent == 0 {
		pd := kmem.AllocPage()
		*e = uint64(pd) | PteTable
	}
	pd := uintptr(*e & PteAddr)
	*kctx.At[uint64](pd + ((pa>>21)&511)*8) = uint64(pa) | pteRAM | pteHuge | ptePCD | ptePWT
	rt.Invlpg(pa)
}

// FindVMA returns the index of the VMA containing va, or -1.
func FindVMA(va uintptr) int {
	lo, hi := 0, nvmas
	for lo < hi {
		m := (lo + hi) / 2
		if VMAs[m].End <= va {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < nvmas && VMAs[lo].Start <= va {
		return lo
	}
	return -1
}

// insertVMA and deleteVMA keep the file references: every file VMA holds
// one on its inode (so that an unlinked, closed file lives while mapped).
func insertVMA(i int, v vma) bool {
	if nvmas == maxVMAs {
		return false
	}
	copy(VMAs[i+1:nvmas+1], VMAs[i:nvmas])
	VMAs[i] = v
	nvmas++
	if v.File != 0 {
		memfs.Ref(memfs.Inode(v.File))
		nfile++
	}
	return true
}

func deleteVMA(i int) {
	f := VMAs[i].File
	copy(VMAs[i:nvmas-1], VMAs[i+1:nvmas])
	nvmas--
	if f != 0 {
		nfile--
		memfs.Unref(memfs.Inode(f))
	}
}

// NumVMAs is the number of VMAs in use (VMAs[:NumVMAs()]). Caller holds
// VMLock.
func NumVMAs() int { return nvmas }

// FileVMAs is the number of file mappings. Changing one (creating,
// splitting, removing) needs the file system's lock as well as VMLock:
// the kernel takes it first whenever FileVMAs is not zero.
func FileVMAs() int { return nfile }

// splitAt splits the VMA that contains va strictly inside into two, so
// that a VMA boundary lies at va. It fails only when the table is full.
func splitAt(va uintptr) bool {
	i := FindVMA(va)
	if i < 0 || VMAs[i].Start == va {
		return true
	}
	v := VMAs[i]
	tail := v
	tail.Start = va
	if v.File != 0 {
		tail.Off += va - v.Start
	}
	if !insertVMA(i+1, tail) {
		return false
	}
	VMAs[i].End = va
	return true
}

// mergeable reports whether b, which starts where a ends, can join a.
func mergeable(a, b *vma) bool {
	if a.End != b.Start || a.Prot != b.Prot || a.Shared != b.Shared || a.NoWrite != b.NoWrite || a.File != b.File || a.Huge != b.Huge {
		return false
	}
	return a.File == 0 || a.Off+(a.End-a.Start) == b.Off
}

// mergeAround merges the VMAs of [start, end) and their neighbours where
// they are compatible.
func mergeAround(start, end uintptr) {
	i := FindVMA(start)
	if i < 0 {
		i = 0
	}
	if i > 0 {
		i--
	}
	for i+1 < nvmas && VMAs[i].Start <= end {
		if mergeable(&VMAs[i], &VMAs[i+1]) {
			VMAs[i].End = VMAs[i+1].End
			deleteVMA(i + 1)
			continue
		}
		i++
	}
}

// SetRange makes [start, end) have protection prot (prot < 0: unmapped),
// anonymous memory, splitting and merging VMAs. It does not touch page
// tables. Caller holds VMLock (and the file system's lock when file VMAs
// exist, see FileVMAs). It fails only when the table is full.
func SetRange(start, end uintptr, prot int) bool {
	return setRange(start, end, prot, vma{})
}

// MapFile makes [start, end) a mapping of file (a memfs.Inode) from
// offset off with protection prot, replacing what was there, and takes
// a reference on the file; noWrite forbids making it writable later.
// Caller holds VMLock and the file system's lock.
func MapFile(start, end uintptr, prot int, file, off uintptr, shared, noWrite bool) bool {
	return setRange(start, end, prot, vma{File: file, Off: off, Shared: shared, NoWrite: noWrite})
}

// MayProtect reports whether mprotect may give the VMAs of [start, end)
// protection prot: not write access to a NoWrite mapping. Caller holds
// VMLock.
func MayProtect(start, end uintptr, prot uint32) bool {
	if prot&ProtWrite == 0 {
		return true
	}
	for i := 0; i < nvmas; i++ {
		if VMAs[i].NoWrite && VMAs[i].Start < end && VMAs[i].End > start {
			return false
		}
	}
	return true
}

func setRange(start, end uintptr, prot int, tmpl vma) bool {
	if !splitAt(start) || !splitAt(end) {
		return false
	}
	// Drop every VMA inside [start, end).
	i := FindVMA(start)
	if i < 0 {
		i = 0
		for i < nvmas && VMAs[i].End <= start {
			i++
		}
	}
	for i < nvmas && VMAs[i].Start < end {
		deleteVMA(i)
	}
	if prot < 0 {
		return true
	}
	v := tmpl
	v.Start, v.End, v.Prot = start, end, uint32(prot)
	if !insertVMA(i, v) {
		return false
	}
	mergeAround(start, end)
	return true
}

// Protect sets the protection of the mapped parts of [start, end) to
// prot, keeping what each maps (mprotect). Caller holds VMLock (and the
// file system's lock when file VMAs exist). It fails only when the table
// is full.
func Protect(start, end uintptr, prot uint32) bool {
	return update(start, end, func(v *vma) { v.Prot = prot })
}

// Advise records madvise advice on 2 MiB pages for the mapped parts of
// [start, end): huge > 0 (MADV_HUGEPAGE) lets faults map 2 MiB pages
// without waiting for sequential use, huge < 0 (MADV_NOHUGEPAGE) forbids
// them (2 MiB pages already mapped stay, as on Linux), 0 restores the
// default. Caller holds VMLock (and the file system's lock when file VMAs
// exist). It fails only when the table is full.
func Advise(start, end uintptr, huge int8) bool {
	return update(start, end, func(v *vma) { v.Huge = huge })
}

// update changes, with set, an attribute of the mapped parts of [start,
// end), keeping what each maps: the VMAs across its ends are split there
// first, and neighbours that end up alike merge. It fails only when the
// table is full.
func update(start, end uintptr, set func(*vma)) bool {
	if !splitAt(start) || !splitAt(end) {
		return false
	}
	for i := 0; i < nvmas; i++ {
		if VMAs[i].Start >= start && VMAs[i].End <= end {
			set(&VMAs[i])
		}
	}
	mergeAround(start, end)
	return true
}

// RangeFree reports whether no VMA overlaps [start, end).
func RangeFree(start, end uintptr) bool {
	for i := 0; i < nvmas; i++ {
		if VMAs[i].Start < end && VMAs[i].End > start {
			return false
		}
	}
	return true
}

// FindGap returns the highest free range of size bytes below mmapTop,
// 2 MiB-aligned when size is at least 2 MiB (as Linux places anonymous
// mappings), so that its whole 2 MiB ranges can be huge pages.
func FindGap(size uintptr) uintptr {
	align := uintptr(PageSize)
	if size >= HugeSize {
		align = HugeSize
	}
	top := uintptr(mmapTop)
	for i := nvmas - 1; i >= -1; i-- {
		lo := uintptr(UserBase)
		if i >= 0 {
			lo = VMAs[i].End
			if VMAs[i].Start >= top {
				continue
			}
		}
		if top >= size && (top-size)&^(align-1) >= lo {
			return (top - size) &^ (align - 1)
		}
		if i >= 0 && VMAs[i].Start < top {
			top = VMAs[i].Start
		}
	}
	return 0
}

// UnmapPages removes the mappings of [start, end) from the page table and
// frees the frames, except files' pages (PteFile), which memfs owns, and
// the page tables whose whole 2 MiB range it covers. A 2 MiB page the
// range covers in part is split first (SplitHuge; if that fails it stays
// mapped, so callers split first and fail instead). Caller holds VMLock.
// A frame is freed only once no CPU can still reach it through a stale
// TLB entry: the entries of a batch are cleared, every CPU's TLB flushed
// (shootdown: the platform's TLB shootdown, which makes every other CPU
// flush and waits), then the batch freed.
func UnmapPages(start, end uintptr, shootdown func()) {
	SplitHuge(start, end)
	var batch [64]uintptr // blocks to free after the flush, and their orders
	var orders [64]uint8
	n := 0
	dirty := false // file pages unmapped: they need a flush but no free
	flush := func() {
		if n == 0 && !dirty {
			return
		}
		flushTLB()
		shootdown()
		for k, pa := range batch[:n] {
			kmem.FreePages(pa, int(orders[k]))
		}
		n, dirty = 0, false
	}
	free := func(pa uintptr, order int) {
		batch[n], orders[n] = pa, uint8(order)
		n++
		if n == len(batch) {
			flush()
		}
	}
	for va := start; va < end; {
		next := (va + HugeSize) &^ (HugeSize - 1)
		pde := pdeFor(va, false)
		if pde == nil || *pde&PtePresent == 0 {
			va = next // skip whole missing tables quickly
			continue
		}
		whole := va&(HugeSize-1) == 0 && next <= end
		if e := *pde; e&pteHuge != 0 {
			if whole {
				*pde = 0
				Stats.Pages -= HugeSize / PageSize
				free(uintptr(e&PteAddr), kmem.HugeOrder)
			}
			va = next
			continue
		}
		pt := uintptr(*pde & PteAddr)
		for ; va < next && va < end; va += PageSize {
			pte := kctx.At[uint64](pt + ((va>>12)&511)*8)
			if e := *pte; e&PtePresent != 0 {
				*pte = 0
				Stats.Pages--
				if e&PteFile == 0 {
					free(uintptr(e&PteAddr), 0)
				} else {
					dirty = true
				}
			}
		}
		if whole {
			*pde = 0
			free(pt, 0)
		}
	}
	flush()
}

// ProtectPages applies prot to the present pages of [start, end), then
// flushes every CPU's TLB (shootdown). A 2 MiB page the range covers in
// part is split first (as in UnmapPages), one it covers whole changes
// whole.
func ProtectPages(start, end uintptr, prot uint32, shootdown func()) {
	SplitHuge(start, end)
	n := 0
	for va := start; va < end; {
		next := (va + HugeSize) &^ (HugeSize - 1)
		pde := pdeFor(va, false)
		if pde == nil || *pde&PtePresent == 0 {
			va = next
			continue
		}
		if e := *pde; e&pteHuge != 0 {
			if va&(HugeSize-1) == 0 && next <= end {
				*pde = e&PteAddr | leafFlags(prot) | pteHuge
				n++
			}
			va = next
			continue
		}
		pt := uintptr(*pde & PteAddr)
		for ; va < next && va < end; va += PageSize {
			pte := kctx.At[uint64](pt + ((va>>12)&511)*8)
			if e := *pte; e&PtePresent != 0 {
				f := leafFlags(prot)
				if e&PteCOW != 0 {
					f &^= PteWrite // stays copy-on-write
				}
				*pte = e&(PteAddr|PteFile|PteCOW) | f
				n++
			}
		}
	}
	if n > 0 {
		flushTLB()
		shootdown()
	}
}

// Results of Fault.
const (
	FaultOK       = iota
	FaultSEGV     // no VMA, or one that forbids the access (or no memory)
	FaultBus      // a file mapping's page beyond the end of the file
	FaultNeedFile // a file page must be looked up: retry with the file system's lock
)

// Fault makes the page at va present if a VMA allows the access, and
// says why not otherwise. Anonymous memory gets a 2 MiB page when hugeOK
// allows, else a 4 KiB page and the fault-around window after it. Caller holds VMLock; fileLocked says it holds
// the file system's lock too, which a file page that is not mapped yet
// needs (FaultNeedFile without it). A write to a copy-on-write page of a
// private file mapping needs only VMLock: the file's page cannot be freed
// while it is mapped.
func Fault(va uintptr, write, fileLocked bool) int {
	i := FindVMA(va)
	if i < 0 {
		return FaultSEGV
	}
	prot := VMAs[i].Prot
	if prot&(ProtRead|ProtWrite|protExec) == 0 || (write && prot&ProtWrite == 0) {
		return FaultSEGV
	}
	if VMAs[i].File != 0 {
		pte := pteFor(va, true)
		if pte == nil {
			return FaultSEGV
		}
		return faultFile(i, va, write, fileLocked, pte)
	}
	pde := pdeFor(va, true)
	if pde == nil {
		return FaultSEGV
	}
	flags := leafFlags(prot)
	n := uint64(1)
	switch {
	case *pde&(PtePresent|pteHuge) == PtePresent|pteHuge:
		return FaultOK // raced or spurious
	case *pde&PtePresent == 0 && hugeOK(i, va):
		if p := kmem.AllocPages(kmem.HugeOrder); p != 0 {
			*pde = uint64(p) | flags | pteHuge
			Stats.Huge++
			n = HugeSize / PageSize
			break
		}
		fallthrough
	default:
		pte := pteFor(va, true)
		if pte == nil {
			return FaultSEGV
		}
		if *pte&PtePresent != 0 {
			return FaultOK // raced or spurious
		}
		p := kmem.AllocPage()
		if p == 0 {
			return FaultSEGV
		}
		*pte = uint64(p) | flags
		n += faultAroundPages(i, va, pte, flags)
	}
	Stats.Pages += n
	if Stats.Pages > Stats.MaxPages {
		Stats.MaxPages = Stats.Pages
	}
	Stats.Faults++
	return FaultOK
}

// faultAroundPages maps pages after va's, whose entry is pte, in
// anonymous VMA i: the rest of the aligned window faultWindow chooses,
// within the VMA and the page table, while memory is plentiful. The Go
// runtime fills its heap spans upwards, and one trap (expensive under
// emulation) then serves a whole window, which doubles with each
// sequential fault. Isolated touches and stacks (which grow down: the
// tops of thousands of thread stacks) still get one page per fault, so
// memory is not wasted on them. It returns how many pages it mapped.
func faultAroundPages(i int, va uintptr, pte *uint64, flags uint64) uint64 {
	if kmem.FreeBytes() <= kmem.TotalBytes()/faultAroundReserve {
		return 0
	}
	page := va &^ (PageSize - 1)
	pa := kctx.PtrOf(pte)
	w := faultWindow(page, pa, VMAs[i].Start)
	if w == 0 {
		return 0
	}
	// The window is aligned and at most a page table, so the entries of
	// its pages are next to pte.
	hi := page&^(w*PageSize-1) + w*PageSize
	if hi > VMAs[i].End {
		hi = VMAs[i].End
	}
	n := uint64(0)
	for a := page + PageSize; a < hi; a += PageSize {
		e := kctx.At[uint64](pa + (a-page)/PageSize*8)
		if *e&PtePresent != 0 {
			continue
		}
		q := kmem.AllocPage()
		if q == 0 {
			break
		}
		*e = uint64(q) | flags
		n++
	}
	return n
}

// faultFile serves a fault in file VMA i. Shared mappings map the file's
// own page (PteFile) with the VMA's protection; private ones map it
// read-only (PteCOW) and give a write its own copy. Pages at or beyond
// the end of the file raise SIGBUS, as on Linux.
func faultFile(i int, va uintptr, write, fileLocked bool, pte *uint64) int {
	v := &VMAs[i]
	page := va &^ (PageSize - 1)
	flags := leafFlags(v.Prot)
	if e := *pte; e&PtePresent != 0 {
		if !write || e&PteWrite != 0 {
			return FaultOK // raced or spurious
		}
		if e&PteCOW == 0 {
			return FaultSEGV
		}
		q := kmem.AllocPage()
		if q == 0 {
			return FaultSEGV
		}
		copy(kctx.BytesAt(q, PageSize), kctx.BytesAt(uintptr(e&PteAddr), PageSize))
		*pte = uint64(q) | flags
		rt.Invlpg(page)
		shootdownHook()
		Stats.Faults++
		return FaultOK
	}
	if !fileLocked {
		return FaultNeedFile
	}
	off := v.Off + (page - v.Start)
	ino := memfs.Inode(v.File)
	if int64(off) >= memfs.Size(ino) {
		return FaultBus
	}
	p, err := memfs.PageAt(ino, uint64(off/PageSize))
	if err != 0 {
		return FaultBus // no memory for the page: SIGBUS, as tmpfs
	}
	switch {
	case v.Shared:
		*pte = uint64(p) | flags | PteFile
	case write:
		q := kmem.AllocPage()
		if q == 0 {
			return FaultSEGV
		}
		copy(kctx.BytesAt(q, PageSize), kctx.BytesAt(p, PageSize))
		*pte = uint64(q) | flags
	default:
		*pte = uint64(p) | flags&^PteWrite | PteFile | PteCOW
	}
	Stats.Pages++
	if Stats.Pages > Stats.MaxPages {
		Stats.MaxPages = Stats.Pages
	}
	Stats.Faults++
	return FaultOK
}

// UnmapFile removes from every mapping of file the pages at file offsets
// from off on, before the file shrinks and frees them (memfs's shrink
// hook). Private copies of those pages go too: beyond the end of the
// file they raise SIGBUS. Caller holds VMLock and the file system's lock.
func UnmapFile(file, off uintptr, shootdown func()) {
	off = PageRound(off)
	for i := 0; i < nvmas; i++ {
		v := VMAs[i]
		if v.File != file || v.Off+(v.End-v.Start) <= off {
			continue
		}
		start := v.Start
		if v.Off < off {
			start += off - v.Off
		}
		UnmapPages(start, v.End, shootdown)
	}
}

// UserWritableNow reports, without VMLock, whether [addr, addr+n) lies in
// present, writable user pages above UserBase: the common case of
// a check that must otherwise take the lock. False is not final: callers
// fall back to UserOK, which faults pages in.
func UserWritableNow(addr, n uintptr) bool {
	if n == 0 || addr < UserBase || addr+n < addr || addr+n > UserTop {
		return false
	}
	return userMappedNow(addr, n, true)
}

// userMappedNow reports, without VMLock, whether every page of [addr,
// addr+n) (above UserBase, not wrapping) is present and user-accessible,
// and writable if write. A page-table walk racing with an unmap may read
// a table being freed; a wrong true is then no worse than the unmap
// landing just after a locked check: the check's answer is only as good
// as the moment it was made, under the lock or not.
func userMappedNow(addr, n uintptr, write bool) bool {
	want := uint64(PtePresent | PteUser)
	if write {
		want |= PteWrite
	}
	for va := addr &^ (PageSize - 1); va < addr+n; va += PageSize {
		if leafFor(va)&want != want {
			return false
		}
	}
	return true
}

// UserOK makes [addr, addr+n) accessible to the kernel (faulting pages in)
// and reports whether the whole range is valid user memory.
func UserOK(addr, n uintptr, write bool) bool {
	if n == 0 {
		return true
	}
	if addr+n < addr || addr+n > UserTop {
		return false
	}
	if addr < UserBase {
		// Below userBase only the image itself is program memory. It is
		// always mapped, but its text and read-only data are not
		// writable (ProtectImage): a system call told to write there
		// gets EFAULT, as on Linux, instead of faulting in the kernel.
		if addr < ImageStart || addr+n > ImageEnd {
			return false
		}
		for va := addr &^ (PageSize - 1); write && va < addr+n; va += PageSize {
			if leafFor(va)&PteWrite == 0 {
				return false
			}
		}
		return true
	}
	// Most checks find every page mapped: they need not contend for
	// VMLock, which every CPU's system calls would otherwise take.
	if userMappedNow(addr, n, write) {
		return true
	}
	VMLock.Lock()
	defer VMLock.Unlock()
	for va := addr &^ (PageSize - 1); va < addr+n; va += PageSize {
		if e := leafFor(va); e&(PtePresent|PteUser) == PtePresent|PteUser && (!write || e&PteWrite != 0) {
			continue
		}
		switch Fault(va, write, false) {
		case FaultOK:
		case FaultNeedFile:
			// A file page: take the file system's lock first (lock
			// order), then fault again.
			VMLock.Unlock()
			ok := lockFilesHook()
			VMLock.Lock()
			if !ok {
				return false
			}
			r := Fault(va, write, true)
			unlockFilesHook()
			if r != FaultOK {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// Hooks the kernel installs at boot (SetHooks), held as the addresses of
// static funcvals: storing func values would need write barriers.
var (
	shootdownFn, lockFilesFn, unlockFilesFn uintptr
)

// SetHooks installs the kernel's TLB shootdown (flush every other CPU's
// TLB and wait) and the file system's lock for UserOK's faults on file
// pages: lock takes it, or reports false when it cannot (the caller
// already holds it: the access fails with EFAULT). All are top-level
// functions.
func SetHooks(shootdown func(), lockFiles func() bool, unlockFiles func()) {
	shootdownFn = *(*uintptr)(unsafe.Pointer(&shootdown))
	lockFilesFn = *(*uintptr)(unsafe.Pointer(&lockFiles))
	unlockFilesFn = *(*uintptr)(unsafe.Pointer(&unlockFiles))
}

func shootdownHook() {
	if h := shootdownFn; h != 0 {
		(*(*func())(unsafe.Pointer(&h)))()
	}
}

func lockFilesHook() bool {
	if h := lockFilesFn; h != 0 {
		return (*(*func() bool)(unsafe.Pointer(&h)))()
	}
	return false
}

func unlockFilesHook() {
	if h := unlockFilesFn; h != 0 {
		(*(*func())(unsafe.Pointer(&h)))()
	}
}
