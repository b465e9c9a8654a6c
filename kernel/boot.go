package kernel

import (
	"unsafe"
	_ "unsafe" // go:linkname

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kmem"
	"github.com/unigo-os/unigo/kernel/spinlock"
	"github.com/unigo-os/unigo/rt"
)

var (
	imageStart, imageEnd uintptr // physical extent of the loaded image
	imageEntry           uintptr // ELF entry: the Go runtime's _rt0_amd64_linux
	imagePhdr            uintptr
	imagePhnum           uintptr
	cmdline              [4096]byte
	cmdlineLen           int

	idt      [256][2]uint64
	idtr     [10]byte
	tss      [26]uint32 // 104 bytes
	istStack [16384]byte
)

// kernelMain is rt's kernelMain: the boot continues here at CPL 3, IF=0,
// on the boot stack, in kernel context (no Go runtime yet).
//
//go:linkname kernelMain github.com/unigo-os/unigo/rt.kernelMain
func kernelMain(si uintptr) {
	consoleInit()
	info := at[abi.HVMStartInfo](si)
	if info.Magic != abi.HVMStartMagic {
		panicKernel("bad PVH start_info magic")
	}
	if info.CmdlinePaddr != 0 {
		cmdlineLen = copy(cmdline[:len(cmdline)-1], cstring(uintptr(info.CmdlinePaddr), len(cmdline)-1))
	}
	findImage()
	memInit(info)
	protectImage()
	cpuInit()
	timeInit()
	lapicInit()
	spinlock.SetWaitHook(serviceTLB)
	smpInit(info)
	fdInit()
	startInit()
}

// findImage locates the ELF header of the running image (the first
// PT_LOAD maps it just below .text) and reads the entry point and the
// extent of the loaded segments from it.
func findImage() {
	p := rt.ThreadStartPC() &^ (pageSize - 1)
	for *at[uint32](p) != 0x464c457f { // "\x7fELF"
		p -= pageSize
		if p == 0 {
			panicKernel("ELF header of the image not found")
		}
	}
	imageStart = p
	imageEntry = uintptr(*at[uint64](p + 24))
	phoff := uintptr(*at[uint64](p + 32))
	imagePhnum = uintptr(*at[uint16](p + 56))
	imagePhdr = p + phoff
	for i := uintptr(0); i < imagePhnum; i++ {
		ph := imagePhdr + i*56
		if *at[uint32](ph) != 1 { // PT_LOAD
			continue
		}
		end := uintptr(*at[uint64](ph + 24) + *at[uint64](ph + 40)) // paddr + memsz
		if end > imageEnd {
			imageEnd = end
		}
	}
	imageEnd = pageRound(imageEnd)
}

// memInit gives RAM to kmem (minus the first MiB and the image) and
// completes the page tables.
func memInit(info *abi.HVMStartInfo) {
	n := uintptr(info.MemmapEntries)
	mm := uintptr(info.MemmapPaddr)
	if mm == 0 || n == 0 {
		panicKernel("PVH start_info has no memory map")
	}
	for pass := 0; pass < 2; pass++ {
		for i := uintptr(0); i < n; i++ {
			e := at[abi.HVMMemmapEntry](mm + i*abi.HVMMemmapEntrySize)
			if e.Type != abi.MemRAM {
				continue
			}
			start, end := uintptr(e.Addr), uintptr(e.Addr+e.Size)
			if pass == 0 && end > ramTop {
				ramTop = end
			}
			// Pass 0: below 1 GiB (identity-mapped at boot); pass 1: the rest,
			// once vmInit has mapped it.
			lo, hi := uintptr(0), uintptr(1<<30)
			if pass == 1 {
				lo, hi = 1<<30, ^uintptr(0)
			}
			if start < lo {
				start = lo
			}
			if end > hi {
				end = hi
			}
			if start < 1<<20 {
				start = 1 << 20
			}
			addRAM(start, end)
		}
		if pass == 0 {
			vmInit()
		}
	}
}

func addRAM(start, end uintptr) {
	if end <= start {
		return
	}
	if start < imageEnd && end > imageStart {
		addRAM(start, imageStart)
		addRAM(imageEnd, end)
		return
	}
	kmem.AddRange(start, end-start)
}

// cpuInit loads the IDT (every vector on IST1) and the TSS, and sizes the
// extended state saved on asynchronous entries.
func cpuInit() {
	stubs := rt.VectorTable()
	for v := 0; v < 256; v++ {
		h := *at[uint64](stubs + uintptr(v)*8)
		typ := uint64(0x8e) // present, DPL 0, interrupt gate
		if v == 3 || v == 4 {
			typ = 0xee // INT3/INTO allowed from CPL 3
		}
		idt[v][0] = h&0xffff | uint64(rt.SelKernelCode)<<16 | 1<<32 | typ<<40 | (h>>16&0xffff)<<48
		idt[v][1] = h >> 32
	}
	*at[uint16](ptrOf(&idtr[0])) = uint16(unsafe.Sizeof(idt) - 1)
	*at[uint64](ptrOf(&idtr[2])) = uint64(ptrOf(&idt[0]))
	rt.Lidt(ptrOf(&idtr[0]))

	ist := uint64((ptrOf(&istStack[0]) + uintptr(len(istStack))) &^ 15)
	// RSP0 (offset 4) and IST1 (offset 36), both 8-byte fields at 4-byte
	// alignment.
	tss[1], tss[2] = uint32(ist), uint32(ist>>32)
	tss[9], tss[10] = uint32(ist), uint32(ist>>32)
	tss[25] = 104 << 16 // I/O map base beyond the limit: no I/O bitmap
	base := uint64(ptrOf(&tss[0]))
	d := at[[2]uint64](rt.GDTAddr() + rt.SelTSS)
	d[0] = 103 | (base&0xffffff)<<16 | 0x89<<40 | (base>>24&0xff)<<56
	d[1] = base >> 32
	rt.Ltr(rt.SelTSS)

	_, _, c, _ := rt.CpuidNative(1, 0)
	if c&(1<<27) != 0 { // OSXSAVE: XSAVE usable at CPL 3
		mask := rt.Xgetbv()
		_, size, _, _ := rt.CpuidNative(0xd, 0)
		rt.SetXSaveMask(mask)
		xsaveSize = uintptr(size)
	}
}
