package kctx

import (
	"sync/atomic"
	"unsafe"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/spinlock"
	"github.com/unigo-os/unigo/rt"
)

// The console is COM1 (kernel/platform sets it up). Output is written a
// buffer at a time with REP OUTSB at CPL 3, and never faster than the port
// takes it: LSR's THRE bit says the transmit FIFO is empty, and then
// ConsoleFIFO bytes may follow before LSR is read again. The unigo launcher
// announces a large FIFO, so the check costs one exit per ConsoleFIFO
// bytes (QEMU's 16550A has 16), and offers abi.PortConsoleString, which
// takes a buffer in one exit even on hosts where REP OUTSB exits on every
// byte (PVM), and the console ring (conring.go), which takes it with no
// exit at all.

// ConsoleNotTTY is set at boot from abi.TTYParam=0: the host's stdout is
// not a terminal, so no CRLF and no tty ioctls.
var ConsoleNotTTY bool

// ConsoleFIFO is the size of COM1's transmit FIFO (abi.UARTFIFOParam).
var ConsoleFIFO = 16

// ConsoleString is set at boot from abi.ConsoleStringParam=1.
var ConsoleString bool

// conRoom is the room the transmit FIFO is known to have: ConsoleFIFO when
// LSR last showed THRE, less what was written since. Atomic, as Print
// writes without ConLock.
var conRoom atomic.Int64

const (
	lsrTHRE = 0x20
	maxFIFO = 1 << 20
)

// SetConsoleFIFO sets ConsoleFIFO from the value of abi.UARTFIFOParam,
// keeping the default for nonsense.
func SetConsoleFIFO(val []byte) {
	if v, ok := ParseUint(val); ok && v >= 1 && v <= maxFIFO {
		ConsoleFIFO = int(v)
	}
}

// ConsoleOut writes p[:n] to COM1 as it is, waiting for THRE whenever the
// FIFO may have no room for the next piece. p is identity-mapped kernel
// memory (a kernel stack or a global), as is the descriptor handed to
// PortConsoleString. Where the launcher offers the console ring, output
// goes there instead (conring.go), unless a crash report is being written.
func ConsoleOut(p *byte, n int) {
	if conRingOn && !conBypass.Load() {
		ringOut(p, n)
		return
	}
	for n > 0 {
		k := min(n, ConsoleFIFO)
		if conRoom.Add(int64(-k)) < 0 {
			for rt.InbDirect(abi.PortCOM1+5)&lsrTHRE == 0 {
				rt.Pause()
			}
			conRoom.Store(int64(ConsoleFIFO - k))
		}
		d := abi.ConsoleString{Addr: uint64(uintptr(unsafe.Pointer(p))), Len: uint64(k)}
		if ConsoleString && uintptr(unsafe.Pointer(&d)) < 1<<32 {
			rt.OutlAddr(abi.PortConsoleString, unsafe.Pointer(&d))
		} else {
			rt.OutsbDirect(abi.PortCOM1, p, k)
		}
		p = (*byte)(unsafe.Add(unsafe.Pointer(p), k))
		n -= k
	}
}

// ConsoleWrite writes b to the serial port, each "\n" as "\r\n" unless
// ConsoleNotTTY, through a buffer on the kernel stack.
func ConsoleWrite(b []byte) {
	var buf [256]byte
	consoleWriteVia(b, buf[:])
}

// consoleWriteVia writes b through buf, flushed with ConsoleOut whenever it
// fills.
func consoleWriteVia(b, buf []byte) {
	n := 0
	for _, c := range b {
		if n >= len(buf)-1 {
			ConsoleOut(&buf[0], n)
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
		ConsoleOut(&buf[0], n)
	}
}

// conBuf is ConsoleWriteWhole's buffer, under ConLock: larger than a
// kernel stack could spare, so that a program's write costs few exits.
var conBuf [4096]byte

// ConLock keeps the program's console writes and the strace lines whole:
// without it, under the unigo launcher, the bytes of two vCPUs' writes
// interleave. A leaf lock. The kernel's own messages (Print) do not take
// it, so that they get out even from a CPU that faulted holding it.
var ConLock spinlock.Lock

// ConsoleWriteWhole is ConsoleWrite under ConLock.
func ConsoleWriteWhole(b []byte) {
	ConLock.Lock()
	consoleWriteVia(b, conBuf[:])
	ConLock.Unlock()
}

// quiesced is set once ConsoleQuiesce has returned: ConLock is then held
// for good, or was given up on.
var quiesced atomic.Bool

// quiesceSpins bounds ConsoleQuiesce's wait for ConLock: far longer than
// a whole conBuf takes through a 16-byte FIFO, so it only expires when
// the holder will never let go (this CPU faulted holding it, or the
// holder's CPU is stuck).
const quiesceSpins = 1 << 22

// ConsoleQuiesce takes ConLock for good before the machine ends, so that
// no CPU is left in the middle of a program write or a trace line when
// the VM powers off, and none starts another. It waits a bounded time:
// the exit must not depend on a CPU that will never release the lock.
// Later calls return at once. The kernel's own Prints, which do not take
// ConLock, still get out.
func ConsoleQuiesce() {
	if quiesced.Load() {
		return
	}
	for i := 0; i < quiesceSpins && !ConLock.TryLock(); i++ {
		rt.Pause()
	}
	quiesced.Store(true)
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
// The line another CPU is writing under ConLock is finished first
// (ConsoleQuiesce).
func ExitVM(code int) {
	ConsoleQuiesce()
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
	ConsoleCrash()
	Print("\nunigo: kernel panic: ")
	Print(msg)
	Print("\n")
	ExitVM(70)
}
