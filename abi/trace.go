package abi

// The kernel's trace ring: the last TraceEvents kernel entries of each CPU
// (system calls, exceptions, interrupts), written by the entry code
// (rt's trapEntry) into a TraceBuffer in guest memory. Nothing is sent to
// the monitor; the unigo launcher finds the buffer through the image's
// symbol table (TraceSymbol; kernel data is identity-mapped, so its
// address is also its guest-physical address) and reads it when it dumps
// a wedged guest. The layout is fixed: little-endian, no implicit padding.

// TraceSymbol is the ELF symbol of the kernel's TraceBuffer.
const TraceSymbol = "github.com/unigo-os/unigo/kernel.traceBuf"

// TraceMagic marks an initialised TraceBuffer ("UGOTRACE" little-endian).
const TraceMagic = 0x45434152544f4755

// Sizes of the trace buffer.
const (
	TraceEvents    = 64 // events per CPU ring, a power of two
	TraceMaxCPUs   = 64 // rings in the buffer (the kernel's CPU limit)
	TraceEventSize = 32
	TraceRingSize  = 64 + TraceEvents*TraceEventSize
	TraceHeadSize  = 64
	TraceSize      = TraceHeadSize + TraceMaxCPUs*TraceRingSize
)

// TraceEvent is one kernel entry.
type TraceEvent struct {
	TSC uint64 // time stamp counter at entry
	RIP uint64 // interrupted instruction (for a system call: after SYSCALL)
	// Arg is the system call number (RAX) for a system call, else CR2 as
	// the shim recorded it (meaningful for a page fault only).
	Arg    uint64
	Vector uint32 // exception or interrupt vector, or VecSyscall etc. (rt)
	Error  uint32 // the exception's error code (low 32 bits)
}

// TraceRing is one CPU's ring. Next counts the events ever written; the
// newest is Events[(Next-1)%TraceEvents].
type TraceRing struct {
	Next   uint64
	_      [7]uint64 // Next on its own cache line
	Events [TraceEvents]TraceEvent
}

// TraceBuffer is the kernel's trace buffer: a header, then one ring per
// CPU by kernel CPU index. Magic and Version (abi.Version) are set at
// boot, before the first ring is used; CPUs is the number of rings in use.
type TraceBuffer struct {
	Magic   uint64
	Version uint32
	CPUs    uint32
	_       [6]uint64
	Rings   [TraceMaxCPUs]TraceRing
}

// Trace vectors beyond the CPU's 0-255 (rt.VecSyscall and friends).
const (
	TraceVecSyscall = 0x100 // a system call; Arg is its number
	TraceVecPending = 0x101 // interrupts deferred while the kernel ran
)
