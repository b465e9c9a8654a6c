package mm

import (
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/kmem"
)

// ImageHuge is set at boot from abi.HugeImageParam: the host backs the
// image with huge pages, so ProtectImage keeps 2 MiB pages where it can.
var ImageHuge bool

// The program image, as kernelMain found it.
var (
	ImageStart, ImageEnd uintptr // physical extent of the loaded image
	ImageEntry           uintptr // ELF entry: the Go runtime's _rt0_amd64_linux
	ImagePhdr            uintptr
	ImagePhnum           uintptr
)

// ProtectImage maps the image's segments with the permissions their
// program headers ask for, as a Linux loader would: text read-only and
// executable, read-only data not writable, everything but text not
// executable. Writes to constant data then fault like they do on Linux.
// With ImageHuge, a 2 MiB identity page that lies wholly within the
// image's memory stays one 2 MiB page when its segments agree on
// writability (imageHugeLeaf); the others are split into 4 KiB pages. Fewer, larger pages matter on a
// host with shadow paging, where each guest page the program first
// touches costs a hypervisor fault and a 2 MiB page lets the host fill in
// its neighbours (docs/BENCHMARKS.md, "Host huge pages behind guest RAM").
func ProtectImage() {
	pdpt := uintptr(*kctx.At[uint64](PML4) & PteAddr)
	for base := ImageStart &^ (HugeSize - 1); base < ImageEnd; base += HugeSize {
		pde := kctx.At[uint64](uintptr(*kctx.At[uint64](pdpt + (base>>30)*8)&PteAddr) + ((base>>21)&511)*8)
		if *pde&pteHuge == 0 {
			continue // already split (the first 2 MiB)
		}
		if leaf, ok := imageHugeLeaf(base); ok && ImageHuge {
			*pde = uint64(base) | leaf | pteHuge
			continue
		}
		pt := kmem.AllocPage()
		if pt == 0 {
			kctx.Panic("out of memory protecting the image")
		}
		for i := uintptr(0); i < 512; i++ {
			*kctx.At[uint64](pt + i*8) = uint64(base+i*PageSize) | pteRAM
		}
		*pde = uint64(pt) | PteTable
	}
	for i := uintptr(0); i < ImagePhnum; i++ {
		ph := ImagePhdr + i*56
		if *kctx.At[uint32](ph) != 1 { // PT_LOAD
			continue
		}
		start, end := segmentPages(ph)
		leaf := segmentLeaf(*kctx.At[uint32](ph + 4))
		for va := start; va < end; va += PageSize {
			if e := imagePTE(pdpt, va); e != nil {
				*e = uint64(va) | leaf
			}
		}
	}
	flushTLB()
}

// segmentPages returns the page-aligned extent of the PT_LOAD at ph.
func segmentPages(ph uintptr) (start, end uintptr) {
	paddr := uintptr(*kctx.At[uint64](ph + 24))
	return paddr &^ (PageSize - 1), PageRound(paddr + uintptr(*kctx.At[uint64](ph + 40)))
}

// segmentLeaf gives the leaf flags for a segment's p_flags.
func segmentLeaf(flags uint32) uint64 {
	leaf := uint64(PtePresent | PteUser | pteAccessed)
	if flags&2 != 0 { // PF_W
		leaf |= PteWrite | pteDirty
	}
	if flags&1 == 0 && NXOK { // not PF_X
		leaf |= pteNX
	}
	return leaf
}

// imageHugeLeaf returns the leaf flags for one 2 MiB page mapping
// [base, base+HugeSize), and whether the image may be mapped so: the range
// lies within [ImageStart, ImageEnd) (so no frame of kmem's is in it) and
// the PT_LOAD segments meeting it are all writable or all not. The page is
// executable if any of them is: read-only data sharing a 2 MiB page with
// text becomes executable, but nothing becomes writable that was not, and
// nothing writable becomes executable.
func imageHugeLeaf(base uintptr) (uint64, bool) {
	if base < ImageStart || base+HugeSize > ImageEnd || base+HugeSize < base {
		return 0, false
	}
	var leaf uint64
	n := 0
	for i := uintptr(0); i < ImagePhnum; i++ {
		ph := ImagePhdr + i*56
		if *kctx.At[uint32](ph) != 1 { // PT_LOAD
			continue
		}
		if start, end := segmentPages(ph); end <= base || start >= base+HugeSize {
			continue
		}
		l := segmentLeaf(*kctx.At[uint32](ph + 4))
		if n > 0 && (l^leaf)&PteWrite != 0 {
			return 0, false
		}
		if n == 0 {
			leaf = l
		}
		leaf &= l | ^uint64(pteNX) // executable if any is
		n++
	}
	return leaf, n > 0
}

// ImageHugeEnd is where the image's memory may end so that its last
// 2 MiB page can be a 2 MiB page (ProtectImage, with ImageHuge): ImageEnd rounded up to
// 2 MiB when the segment that ends last is writable (the rest of its page
// is then mapped as that segment, like its BSS), else ImageEnd. The boot
// moves ImageEnd there when the range is RAM that nothing else uses; the
// few pages in between are then the image's, not kmem's.
func ImageHugeEnd() uintptr {
	if !ImageHuge {
		return ImageEnd
	}
	var last uint32
	var lastEnd uintptr
	for i := uintptr(0); i < ImagePhnum; i++ {
		ph := ImagePhdr + i*56
		if *kctx.At[uint32](ph) != 1 { // PT_LOAD
			continue
		}
		if _, end := segmentPages(ph); end >= lastEnd {
			last, lastEnd = *kctx.At[uint32](ph + 4), end
		}
	}
	if last&2 == 0 || lastEnd != ImageEnd {
		return ImageEnd
	}
	return (ImageEnd + HugeSize - 1) &^ (HugeSize - 1)
}

// imagePTE returns the 4 KiB entry for va in the identity map, or nil.
func imagePTE(pdpt, va uintptr) *uint64 {
	pde := *kctx.At[uint64](uintptr(*kctx.At[uint64](pdpt + (va>>30)*8)&PteAddr) + ((va>>21)&511)*8)
	if pde&PtePresent == 0 || pde&pteHuge != 0 {
		return nil
	}
	return kctx.At[uint64](uintptr(pde&PteAddr) + ((va>>12)&511)*8)
}

// ImageText returns the bounds of the image's executable PT_LOAD.
func ImageText() (lo, hi uintptr) {
	for i := uintptr(0); i < ImagePhnum; i++ {
		ph := ImagePhdr + i*56
		if *kctx.At[uint32](ph) != 1 || *kctx.At[uint32](ph + 4)&1 == 0 { // PT_LOAD, PF_X
			continue
		}
		start := uintptr(*kctx.At[uint64](ph + 24))
		end := start + uintptr(*kctx.At[uint64](ph + 32)) // p_filesz
		if start >= ImageStart && end <= ImageEnd && end > start {
			return start, end
		}
	}
	return 0, 0
}
