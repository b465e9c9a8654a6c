package rt

// The interrupt and exception entry stubs and vectorAddrs.
//go:generate go run gen_vectors.go

// FillInterruptGates writes the IDT gates of vectors 32-255 (interrupts),
// which bootMain leaves to the kernel (IST1, present, interrupt gate, DPL
// 0, handler from vectorAddrs), at CPL 3, where stores run natively rather
// than emulated (PVM). The IDT is shared by every CPU; call once, on the
// boot CPU, before interrupts are enabled or other CPUs start.
//
// Kernel context: no allocation; plain stores into the IDT (idt0, which
// the boot page tables map writable at CPL 3).
//
//go:nosplit
func FillInterruptGates() {
	fillGates(32, 256)
}

// fillExceptionGates writes the IDT gates of the 32 exception vectors, DPL
// 3 for INT3 and INTO (so ring 3 may raise them), DPL 0 otherwise. bootMain
// calls it first thing: entry64 loads the IDT but writes no gate, since at
// CPL 0 each gate would be ~26 emulated instructions under PVM, and the
// exceptions (a service's #UD first of all, on CPL-3 SYSCALL hosts) need
// their gates before the kernel runs.
//
//go:nosplit
func fillExceptionGates() {
	fillGates(0, 32)
}

// fillGates writes the gates of vectors [from, to): IST1, present,
// interrupt gate, handler from vectorAddrs.
//
//go:nosplit
func fillGates(from, to uintptr) {
	idt := idtAddr()
	table := vectorTable()
	for v := from; v < to; v++ {
		h := *(*uint64)(Ptr(table + v*8))
		attr := uint64(0x8e01) // IST1, present, DPL 0, interrupt gate
		if v == 3 || v == 4 {
			attr = 0xee01 // DPL 3
		}
		lo := h&0xffff | SelKernelCode<<16 | attr<<32 | (h>>16&0xffff)<<48
		*(*uint64)(Ptr(idt + v*16)) = lo
		*(*uint64)(Ptr(idt + v*16 + 8)) = h >> 32
	}
}

func idtAddr() uintptr
