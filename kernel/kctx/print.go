package kctx

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/spinlock"
	"github.com/unigo-os/unigo/rt"
)

// The console is COM1 (kernel/platform sets it up). Output is written
// without polling LSR (the transmit holding register is always ready under
// QEMU and the unigo launcher), a buffer at a time with REP OUTSB at CPL 3:
// one VM exit per buffer, not per byte.

// ConsoleNotTTY is set at boot from abi.TTYParam=0: the host's stdout is
// not a terminal, so no CRLF and no tty ioctls.
var ConsoleNotTTY bool

// ConsoleWrite writes b to the serial port, each "\n" as "\r\n" unless
// ConsoleNotTTY, through a buffer on the kernel stack flushed with one
// string write.
func ConsoleWrite(b []byte) {
	var buf [256]byte
	n := 0
	for _, c := range b {
		if n >= len(buf)-1 {
			rt.OutsbDirect(abi.PortCOM1, &buf[0], n)
			n = 0
		}
		if c == '\n' && !ConsoleNotTTY {
			buf[n] = '\r'
			n++
		}
		buf[n] = c
		n++
	}
	if n > 0 {
		rt.OutsbDirect(abi.PortCOM1, &buf[0], n)
	}
}

// ConLock keeps the program's console writes and the strace lines whole:
// without it, under the unigo launcher, the bytes of two vCPUs' writes
// interleave. A leaf lock. The kernel's own messages (Print) do not take
// it, so that they get out even from a CPU that faulted holding it.
var ConLock spinlock.Lock

// ConsoleWriteWhole is ConsoleWrite under ConLock.
func ConsoleWriteWhole(b []byte) {
	ConLock.Lock()
	ConsoleWrite(b)
	ConLock.Unlock()
}

// Print writes s to the console, without ConLock.
func Print(s string) { ConsoleWrite(StringBytes(s)) }

// PrintHex prints v as 0x and 16 hex digits.
func PrintHex(v uint64) {
	var buf [18]byte
	buf[0], buf[1] = '0', 'x'
	for i := 0; i < 16; i++ {
		d := byte(v>>(60-4*i)) & 0xf
		if d < 10 {
			buf[2+i] = '0' + d
		} else {
			buf[2+i] = 'a' + d - 10
		}
	}
	ConsoleWrite(buf[:])
}

// Digits is a buffer for FormatUint: room for 64 bits in any base from 2.
type Digits [64]byte

// FormatUint writes v in base (2 to 16) at the end of d, without prefix,
// and returns the digits.
func FormatUint(d *Digits, v uint64, base uint64) []byte {
	i := len(d)
	for {
		i--
		d[i] = "0123456789abcdef"[v%base]
		v /= base
		if v == 0 {
			return d[i:]
		}
	}
}

// PrintHexShort prints v as 0x followed by its significant hex digits.
func PrintHexShort(v uint64) {
	var d Digits
	Print("0x")
	ConsoleWrite(FormatUint(&d, v, 16))
}

// PrintDec prints v in decimal.
func PrintDec(v uint64) {
	var d Digits
	ConsoleWrite(FormatUint(&d, v, 10))
}

// ExitVM ends the machine with code: through the isa-debug-exit port
// (QEMU: status (code<<1)|1; unigo launcher: code), and if that device is
// absent, by a triple fault, which QEMU -no-reboot turns into an exit.
func ExitVM(code int) {
	rt.Outl(abi.PortExit, uint32(code))
	var zero [10]byte
	rt.Lidt(uintptr(PtrOf(&zero[0])))
	for {
		rt.Outl(abi.PortExit, uint32(code))
		// Any exception now triple-faults.
		*(*int)(nil) = 0
	}
}

// Panic reports a fatal kernel error and ends the VM.
func Panic(msg string) {
	Print("\nunigo: kernel panic: ")
	Print(msg)
	Print("\n")
	ExitVM(70)
}
