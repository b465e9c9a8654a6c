package abi

// I/O ports the guest uses. They follow existing devices so that the same
// image runs unchanged under QEMU microvm and under the unigo launcher.
const (
	// PortCOM1 is the base of the first 8250/16550 UART. The guest's
	// stdout and stderr go to its transmit register, stdin comes from its
	// receive register. IRQ 4.
	PortCOM1 = 0x3f8
	IRQCOM1  = 4

	// PortExit is QEMU's isa-debug-exit device (iobase=0xf4, iosize=4).
	// A 32-bit write of code ends the VM. QEMU exits with status
	// (code<<1)|1; the unigo launcher exits with code itself.
	PortExit = 0xf4

	// PortCrash receives a 32-bit write of the guest-physical address of a
	// CrashRecord when the guest kernel hits a fatal exception. The unigo
	// launcher prints a crash report (registers, disassembly, symbolized
	// backtrace) and exits non-zero. QEMU ignores the port, so the guest
	// also prints its own report on the console and exits through PortExit.
	PortCrash = 0xf6

	// PortBootMark receives a one-byte write (a BootMark value) at points
	// of the boot the unigo launcher timestamps, so `unigo bench` can split
	// boot time into phases. It costs one VM exit per mark; QEMU ignores
	// the port.
	PortBootMark = 0xf8

	// PortConsoleString is COM1's transmitter for a whole string in one VM
	// exit (on some hosts REP OUTSB exits once per byte): a 32-bit write
	// of the guest-physical address of a ConsoleString sends its Len bytes
	// as Len writes to THR would; Len counts against the transmit FIFO
	// like those writes (UARTFIFOParam). A launcher offers the port with
	// ConsoleStringParam=1; QEMU has none.
	PortConsoleString = 0xfc

	// PortConsoleInput is COM1's receiver for a whole buffer in one VM
	// exit (reading RBR costs two exits a byte: LSR, then RBR): a 32-bit
	// write of the guest-physical address of a ConsoleInput takes up to
	// Cap of the bytes received, as reads of RBR would, into the buffer
	// at Addr and sets Len and Flags. A descriptor or buffer outside guest
	// RAM is ignored (Len and Flags keep what the guest put there). A
	// launcher offers the port with ConsoleInputParam=1; QEMU has none.
	// Added compatibly to ABI version 1: a kernel that does not know the
	// parameter reads the UART byte by byte as before.
	PortConsoleInput = 0xf0
)

// ConsoleInput describes a receive buffer for PortConsoleInput: Cap bytes
// at guest-physical address Addr. The launcher sets Len to the number of
// bytes it stored and Flags to ConsoleInputEOF or 0.
type ConsoleInput struct {
	Addr, Cap, Len, Flags uint64
}

// ConsoleInputSize is the size of ConsoleInput in bytes.
const ConsoleInputSize = 32

// ConsoleInputEOF in ConsoleInput.Flags: the line hung up (the host's
// stdin ended) and every byte received has been taken, as MSR would show
// with DCD clear; reading MSR is not needed to acknowledge it.
const ConsoleInputEOF = 1

// ConsoleString describes a string for PortConsoleString: Len bytes at
// guest-physical address Addr.
type ConsoleString struct {
	Addr, Len uint64
}

// ConsoleStringSize is the size of ConsoleString in bytes.
const ConsoleStringSize = 16

// Boot marks written to PortBootMark.
const (
	// BootMarkEntry: the PVH entry point is running (written a dozen
	// instructions in, after its position-independent prologue).
	BootMarkEntry = 1
	// BootMarkRuntime: the kernel is done booting and enters the Go
	// runtime's own entry point (_rt0_amd64_linux) on the first thread.
	BootMarkRuntime = 2
	// BootMarkABI|Version is the first thing the kernel writes, before
	// any other use of this ABI: the launcher stops a guest whose kernel
	// speaks another version, or that reaches BootMarkRuntime without
	// saying. Version stays below 0x80.
	BootMarkABI = 0x80
)

// CrashMagic marks a valid CrashRecord.
const CrashMagic = 0x48534152434f4755 // "UGOCRASH" little-endian

// CrashRecord is what the guest hands the launcher through PortCrash. The
// layout is fixed: 8-byte fields, no padding, little-endian.
type CrashRecord struct {
	Magic  uint64
	Vector uint64 // exception vector, or 0xffff for a software kernel panic
	Error  uint64 // exception error code
	CR2    uint64 // faulting address for page faults
	RIP    uint64
	RSP    uint64
	RFLAGS uint64
	// General registers in x86asm order: RAX RCX RDX RBX RSP RBP RSI RDI
	// R8..R15 (RSP repeated for a uniform table).
	Regs [16]uint64
	// MsgLen bytes of Msg are a one-line reason, e.g. "page fault in kernel".
	MsgLen uint64
	Msg    [120]byte
}

// CrashRecordSize is the size of CrashRecord in bytes.
const CrashRecordSize = 8*7 + 16*8 + 8 + 120

// Host signals: the unigo launcher forwards a signal it receives (SIGTERM
// from a container runtime or a supervisor) to the guest program. Added
// compatibly to ABI version 1: a launcher offers it with HostSignalParam on
// the command line, a kernel that does not know the parameter ignores it,
// and a launcher whose guest never arms the port stops the VM as before.
const (
	// TTYParam=0 on the guest command line says that the host's stdout is
	// not a terminal: the console writes "\n" as is (no CRLF) and its tty
	// ioctls (TCGETS: isatty) fail with ENOTTY. Absent or 1: a terminal.
	TTYParam = "unigo.tty"
	// UARTFIFOParam=N on the guest command line says that COM1's transmit
	// FIFO holds N bytes: once LSR shows THRE, the guest may write N bytes
	// before it looks again. Absent: 16, a 16550A's.
	UARTFIFOParam = "unigo.uartfifo"
	// UARTReadyParam=1 on the guest command line says that COM1 needs no
	// programming: it ignores the baud rate, line settings, modem control
	// and FIFO control (its transmit FIFO holds UARTFIFOParam bytes
	// whatever FCR says), and input waits in the host until the guest
	// reads it. The kernel then sets none of them up (each access is an
	// exit). Absent: a 16550A, programmed at boot.
	UARTReadyParam = "unigo.uartready"
	// ConsoleStringParam=1 on the guest command line offers
	// PortConsoleString.
	ConsoleStringParam = "unigo.constr"
	// ConsoleInputParam=1 on the guest command line offers
	// PortConsoleInput.
	ConsoleInputParam = "unigo.conin"
	// HostSignalParam (=1) on the guest command line says that the launcher
	// delivers host signals through PortHostSignal and IRQHostSignal, and
	// takes the guest's readiness report (HostReady).
	HostSignalParam = "unigo.hostsig"
	// HugeImageParam=1 on the guest command line says that the host backs
	// the image with huge pages (all of guest RAM, or the 2 MiB blocks of
	// its read-only segments): the kernel then maps each 2 MiB of its
	// image whose segments agree on writability as one 2 MiB page
	// (read-only data beside text becoming executable), which a host with
	// shadow paging fills in one fault. Absent: the image's pages carry
	// exactly its segments' protections.
	HugeImageParam = "unigo.hugeimage"

	// PortHostSignal: a 32-bit read returns the next pending signal
	// number and removes it (0: none pending); a 32-bit write of
	// HostSignalArmed says the kernel routes IRQHostSignal and turns
	// the signals into process-directed ones.
	PortHostSignal = 0xfa

	// HostSignalArmed is the value the kernel writes to PortHostSignal.
	HostSignalArmed = 1

	// HostReady, written to PortHostSignal once, reports that the guest
	// program is ready: it said so (SysReady), or, unless it deferred
	// that, its first TCP (not AF_UNIX) socket listens.
	HostReady = 2

	// IRQHostSignal is the GSI (edge-triggered) the launcher raises when
	// it queues a signal. It is COM2's line, which unigo does not use.
	IRQHostSignal = 3
)

// PrefaultParam=N on the guest command line says that the host backed
// guest RAM [1 MiB, N) with host memory before the guest ran (under shadow
// paging that makes the first touches there cheaper), and offers
// PortPrefaultDone: a 32-bit write of a page frame number F tells the host
// that the guest has not used RAM from F up to N, which the host then gives
// back (it reads as zeros again); F >= N gives back nothing. The write
// also ends the boot: the host may then give back other memory it backed
// for the boot alone (the launcher's copies of the image's read-only
// pages, whose contents stay). The kernel writes it once, on its boot
// CPU's first idle, with F where its allocator's fresh memory in that
// range begins (at most N), holding the allocator's lock so that none of
// it is handed out meanwhile.
const (
	PrefaultParam    = "unigo.prefault"
	PortPrefaultDone = 0xf1
)

// PortVirtioDoorbell is a notification port for the launcher's virtio-mmio
// devices: a 16-bit write of VirtioDoorbellValue(device, queue) notifies
// as a write of queue to that device's QueueNotify register would. The
// launcher registers it only when asked (UNIGO_VMM_PIO_DOORBELL, for
// tests/guests/trapcost) and offers it in no boot parameter: on the PVM
// host it measured no cheaper than the MMIO write (docs/BENCHMARKS.md),
// so no driver uses it and it is not part of the versioned ABI.
const PortVirtioDoorbell = 0xfe

// VirtioDoorbellValue is the value written to PortVirtioDoorbell for queue
// of the device in virtio-mmio slot device (its window's index from the
// first one).
func VirtioDoorbellValue(device, queue int) uint64 { return uint64(device)<<8 | uint64(queue&0xff) }
