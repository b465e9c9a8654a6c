package vm

import "github.com/unigo-os/unigo/rt"

// The memory system calls' handlers: each decodes its arguments from the
// frame, with the same widths as Linux's C prototypes.

func SysMmap(f *rt.Frame) int64 {
	return doMmap(uintptr(f.RDI), uintptr(f.RSI), int(f.RDX), int(f.R10), int(int32(f.R8)), uintptr(f.R9))
}

func SysMunmap(f *rt.Frame) int64 { return doMunmap(uintptr(f.RDI), uintptr(f.RSI)) }

func SysMprotect(f *rt.Frame) int64 { return doMprotect(uintptr(f.RDI), uintptr(f.RSI), int(f.RDX)) }

func SysMadvise(f *rt.Frame) int64 { return doMadvise(uintptr(f.RDI), uintptr(f.RSI), int(f.RDX)) }

func SysMsync(f *rt.Frame) int64 { return doMsync(uintptr(f.RDI), uintptr(f.RSI), int(f.RDX)) }

func SysBrk(f *rt.Frame) int64 { return 0 }
