package platform

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/rt"
)

// The console is COM1. Output is written a buffer at a time with REP OUTSB
// at CPL 3, paced by LSR's THRE bit (kctx.ConsoleOut); input is
// interrupt-driven (see consoleIRQ).

func ConsoleInit() {
	const p = abi.PortCOM1
	rt.Outb(p+1, 0x00) // no interrupts yet
	rt.Outb(p+3, 0x80) // DLAB
	rt.Outb(p+0, 0x01) // 115200 baud
	rt.Outb(p+1, 0x00)
	rt.Outb(p+3, 0x03) // 8N1
	rt.Outb(p+2, 0xc1) // FIFO on, not cleared: input sent before boot (a pipe) is kept
	rt.Outb(p+4, 0x0b) // DTR, RTS, OUT2 (IRQ line enabled)
}
