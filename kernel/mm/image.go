package mm

import (
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/kmem"
	"github.com/unigo-os/unigo/rt"
)

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
// The 2 MiB identity pages covering the image are split into 4 KiB pages.
func ProtectImage() {
	pdpt := uintptr(*kctx.At[uint64](PML4) & PteAddr)
	for base := ImageStart &^ (HugeSize - 1); base < ImageEnd; base += HugeSize {
		pde := kctx.At[uint64](uintptr(*kctx.At[uint64](pdpt + (base>>30)*8)&PteAddr) + ((base>>21)&511)*8)
		if *pde&pteHuge == 0 {
			continue // already split (the first 2 MiB)
		}
		pt := kmem.AllocPage()
		if pt == 0 {
			kctx.Panic("out of memory protecting the image")
		}
		for i := uintptr(0); i < 512; i++ {
			*kctx.At[uint64](pt + i*8) = uint64(base+i*PageSize) | PtePresent | PteWrite | PteUser
		}
		*pde = uint64(pt) | PtePresent | PteWrite | PteUser
	}
	for i := uintptr(0); i < ImagePhnum; i++ {
		ph := ImagePhdr + i*56
		if *kctx.At[uint32](ph) != 1 { // PT_LOAD
			continue
		}
		flags := *kctx.At[uint32](ph + 4)
		start := uintptr(*kctx.At[uint64](ph + 24)) &^ (PageSize - 1) // p_paddr
		end := PageRound(uintptr(*kctx.At[uint64](ph + 24) + *kctx.At[uint64](ph + 40)))
		leaf := uint64(PtePresent | PteUser)
		if flags&2 != 0 { // PF_W
			leaf |= PteWrite
		}
		if flags&1 == 0 && NXOK { // not PF_X
			leaf |= pteNX
		}
		for va := start; va < end; va += PageSize {
			if e := imagePTE(pdpt, va); e != nil {
				*e = uint64(va) | leaf
			}
		}
	}
	rt.WriteCR3(uint64(PML4))
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
