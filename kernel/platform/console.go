package platform

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/rt"
)

// The console is COM1. Output is written a buffer at a time with REP OUTSB
// at CPL 3, paced by LSR's THRE bit (kctx.ConsoleOut); input is
// interrupt-driven (see consoleIRQ).

// EarlyInput is a byte that had arrived in RBR before ConsoleInit turned
// the FIFO on, which on QEMU's 16550 discards it; HasEarlyInput says there
// is one. The console's receive path takes it first.
var (
	EarlyInput    byte
	HasEarlyInput bool
)

// ConsoleInit programs COM1, unless the host says it needs none
// (abi.UARTReadyParam, the unigo launcher's). The kernel runs at CPL 3 with the boot TSS's
// I/O bitmap open to COM1 (rt's entry64), so it uses IN and OUT directly:
// each access is one port exit, where rt.Outb and rt.Inb are service
// calls, a SYSCALL that on PVM traps through the host (about 22 more
// emulated instructions apiece, measured).
func ConsoleInit() {
	const p = abi.PortCOM1
	if kctx.FlagParam(abi.UARTReadyParam) {
		return
	}
	rt.OutbDirect(p+1, 0x00) // no interrupts yet
	rt.OutbDirect(p+3, 0x80) // DLAB
	rt.OutbDirect(p+0, 0x01) // 115200 baud
	rt.OutbDirect(p+1, 0x00)
	rt.OutbDirect(p+3, 0x03) // 8N1
	if rt.InbDirect(p+5)&1 != 0 {
		EarlyInput, HasEarlyInput = rt.InbDirect(p), true
	}
	rt.OutbDirect(p+2, 0xc1) // FIFO on, not cleared: input sent before boot (a pipe) is kept
	rt.OutbDirect(p+4, 0x0b) // DTR, RTS, OUT2 (IRQ line enabled)
}
