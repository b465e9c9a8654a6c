package rt

// The interrupt and exception entry stubs and vectorAddrs.
//go:generate python3 gen_vectors.py

// FillInterruptGates writes the IDT gates of vectors 32-255 (interrupts),
// which entry64 leaves to the kernel: the same gates it writes for the
// exceptions (IST1, present, interrupt gate, DPL 0, handler from
// vectorAddrs), written here at CPL 3, where stores run natively rather
// than emulated (PVM). The IDT is shared by every CPU; call once, on the
// boot CPU, before interrupts are enabled or other CPUs start.
//
// Kernel context: no allocation; plain stores into the IDT (idt0, which
// the boot page tables map writable at CPL 3).
//
//go:nosplit
func FillInterruptGates() {
	idt := idtAddr()
	table := vectorTable()
	for v := uintptr(32); v < 256; v++ {
		h := *(*uint64)(Ptr(table + v*8))
		lo := h&0xffff | SelKernelCode<<16 | 0x8e01<<32 | (h>>16&0xffff)<<48
		*(*uint64)(Ptr(idt + v*16)) = lo
		*(*uint64)(Ptr(idt + v*16 + 8)) = h >> 32
	}
}

func idtAddr() uintptr
