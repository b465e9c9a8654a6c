package abi

// The console ring carries the guest's console output (stdout, stderr and
// the kernel's messages, one stream as on COM1) through guest memory, so
// that a write costs a copy rather than a VM exit. Added compatibly to ABI
// version 1: a launcher offers it with ConsoleRingParam=1; a kernel that
// does not know the parameter, or runs under QEMU, writes to COM1 as
// before.
//
// The guest owns the ring: a ConsoleRing header followed by Size data
// bytes, 8-byte aligned, below 4 GiB. It fills in Size and announces the
// header's guest-physical address with one 32-bit write to
// PortConsoleRing; from then on all its console output goes through the
// ring, except crash reports (see below).
//
// Head and Tail count bytes written and taken since the start, modulo
// 2^64; byte i lives at data offset i mod Size. Only the guest stores
// Head, only the launcher stores Tail and Sleeping. The guest copies bytes
// in at Head and then stores the new Head; the launcher copies bytes out
// from Tail to Head and then stores the new Tail. The guest never lets
// Head-Tail exceed Size: it waits for room (PortConsoleRing,
// ConsoleRingWait), it never drops output.
//
// Wakeups (no lost wakeup): the launcher's consumer, finding the ring
// empty, polls briefly, then stores Sleeping=1, executes a full barrier,
// and loads Head again; it sleeps only if Head still equals Tail. The
// guest, after storing Head, executes a full barrier and loads Sleeping;
// if it is set, it writes ConsoleRingKick to PortConsoleRing. By the
// barriers one side sees the other's store: either the guest sees Sleeping
// and kicks, or the launcher sees the new Head and does not sleep. (On
// x86 a locked instruction, e.g. XCHG, is the barrier; stores are not
// reordered with earlier stores, so data is visible before Head.)
//
// Exit: everything stored before the guest's write to PortExit (or
// PortCrash, or a stop) is written out before the launcher reports the
// exit: it drains the ring once more after the vCPUs have stopped. A
// kernel that crashes or panics waits (bounded) for the ring to drain and
// then reports on COM1 (PortConsoleString), which the launcher writes out
// after the ring's bytes.
//
// The launcher trusts nothing in the ring but the bytes: it reads Size
// once, at the announcement, and ignores an announcement whose header or
// data are not in guest RAM, whose Size is not a power of two between
// ConsoleRingMinSize and ConsoleRingMaxSize, or that comes after the
// first; a Head more than Size ahead of Tail makes it stop reading the
// ring for good.

const (
	// PortConsoleRing: a 32-bit write of a ConsoleRing's guest-physical
	// address announces the ring (once); a write of ConsoleRingKick wakes
	// the launcher's consumer; a write of ConsoleRingWait wakes it and
	// returns once it has taken bytes or after a short while, so a guest
	// that waits for room in a full ring does not spin.
	PortConsoleRing = 0xf2

	ConsoleRingKick = 1
	ConsoleRingWait = 2

	// ConsoleRingParam=1 on the guest command line offers the ring.
	ConsoleRingParam = "unigo.conring"

	ConsoleRingMinSize = 4 << 10
	ConsoleRingMaxSize = 16 << 20
)

// ConsoleRing is the ring's header; the data follows it. Head, Tail and
// Sleeping each sit in their own cache line.
type ConsoleRing struct {
	Size     uint64 // data bytes: a power of two, set before the announcement
	_        [56]byte
	Head     uint64 // bytes written by the guest
	_        [56]byte
	Tail     uint64 // bytes taken by the launcher
	Sleeping uint64 // 1: the consumer sleeps until kicked
	_        [48]byte
}

// ConsoleRingHeaderSize is the size of ConsoleRing in bytes, and the
// offsets of its fields.
const (
	ConsoleRingHeaderSize = 192
	ConsoleRingHeadOff    = 64
	ConsoleRingTailOff    = 128
	ConsoleRingSleepOff   = 136
)
