package mm

// mremap: resizing a mapping in place, or moving it. A moved mapping
// keeps its pages: their page-table entries move to the new addresses,
// so nothing is copied and nothing faults again. The kernel checks the
// arguments and takes the locks (kernel/mremap.go); these functions
// change the VMA table and the page table under VMLock.

// OneVMA returns the index of the VMA that holds all of [start, end), or
// -1 if no single VMA does (mremap then fails with EFAULT, as on Linux).
func OneVMA(start, end uintptr) int {
	i := FindVMA(start)
	if i < 0 || VMAs[i].End < end {
		return -1
	}
	return i
}

// like returns a VMA that maps what VMA i maps at va: the same
// protection and flags, and for a file the offset of va.
func like(i int, va uintptr) vma {
	v := VMAs[i]
	if v.File != 0 {
		v.Off += va - v.Start
	}
	return v
}

// Resize makes [old, old+oldSize), inside VMA i (OneVMA), newSize bytes
// long at old: a shrink unmaps the tail and frees its pages; a growth
// maps [old+oldSize, old+newSize) like the VMA, which the caller found
// free (RangeFree). It fails when the VMA table is full or a 2 MiB page
// the shrink cuts cannot be split.
func Resize(i int, old, oldSize, newSize uintptr, shootdown func()) bool {
	if newSize < oldSize {
		if !SplitHuge(old+newSize, old+oldSize) {
			return false
		}
		UnmapPages(old+newSize, old+oldSize, shootdown)
	}
	return resizeVMAs(i, old, oldSize, newSize)
}

// resizeVMAs is Resize's change to the VMA table.
func resizeVMAs(i int, old, oldSize, newSize uintptr) bool {
	if newSize <= oldSize {
		return setRange(old+newSize, old+oldSize, -1, vma{})
	}
	return mapLike(i, old+oldSize, old+oldSize, newSize-oldSize)
}

// mapLike maps [dst, dst+size) like VMA i maps src and onwards.
func mapLike(i int, src, dst, size uintptr) bool {
	t := like(i, src)
	return setRange(dst, dst+size, int(t.Prot), t)
}

// Move maps [dst, dst+newSize), which the caller found free, like
// [old, old+oldSize) inside VMA i (OneVMA); moves the present pages of
// the first min(oldSize, newSize) bytes there; and unmaps the old range,
// freeing the pages that did not move. It fails, changing nothing the
// program can see, when memory for page tables or VMA table room runs out.
func Move(i int, old, oldSize, dst, newSize uintptr, shootdown func()) bool {
	n := min(oldSize, newSize)
	// 4 KiB entries only, and page tables for the destination first, so
	// that the move cannot fail halfway.
	if !SplitAllHuge(old, old+oldSize) {
		return false
	}
	for off := uintptr(0); off < n; off = nextPTE(old, off) {
		if src := pteFor(old+off, false); src != nil && *src&PtePresent != 0 && pteFor(dst+off, true) == nil {
			return false
		}
	}
	if !mapLike(i, old, dst, newSize) {
		return false
	}
	for off := uintptr(0); off < n; off = nextPTE(old, off) {
		if src := pteFor(old+off, false); src != nil && *src&PtePresent != 0 {
			*pteFor(dst+off, false) = *src
			*src = 0
		}
	}
	flushTLB()
	shootdown()
	UnmapPages(old, old+oldSize, shootdown)
	return setRange(old, old+oldSize, -1, vma{})
}

// nextPTE returns the offset from base of the next page after base+off
// that may have a page-table entry: the next page, or the next 2 MiB
// boundary when base+off's page table is missing.
func nextPTE(base, off uintptr) uintptr {
	if pteFor(base+off, false) == nil {
		return (base+off+HugeSize)&^(HugeSize-1) - base
	}
	return off + PageSize
}
