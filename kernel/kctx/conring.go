package kctx

import (
	"sync/atomic"
	"unsafe"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/spinlock"
	"github.com/unigo-os/unigo/rt"
)

// The console ring (abi/conring.go has the protocol): where the launcher
// offers it (abi.ConsoleRingParam), ConsoleOut copies output into a ring in
// guest memory that the launcher drains on its own, and exits only to
// wake a sleeping launcher or to wait for room. Kernel crash reports
// (ConsoleCrash) go back to COM1 once the ring has drained.

// conRingSize is the ring's data size: room for bursts while the host's
// stdout is slow to read.
const conRingSize = 128 << 10

// conRingMem holds the header and the data; uint64 elements align it.
var conRingMem [(abi.ConsoleRingHeaderSize + conRingSize) / 8]uint64

var (
	// conRingOn: the ring was announced and carries the output.
	conRingOn bool
	// conRingLock orders the writers' appends (several CPUs).
	conRingLock spinlock.Lock
	// conBypass: a crash report is being written; output goes to COM1.
	conBypass atomic.Bool
)

// crashDrainTries bounds ConsoleCrash's wait for the ring to drain: each
// try waits at most a couple of milliseconds in the launcher.
const crashDrainTries = 1000

func conRing() *abi.ConsoleRing { return (*abi.ConsoleRing)(unsafe.Pointer(&conRingMem[0])) }

func conRingData() *byte {
	return (*byte)(unsafe.Add(unsafe.Pointer(&conRingMem[0]), abi.ConsoleRingHeaderSize))
}

// ConsoleRingInit announces the ring to the launcher; it is called at boot
// when the command line has abi.ConsoleRingParam=1.
func ConsoleRingInit() {
	r := conRing()
	if uintptr(unsafe.Pointer(r)) >= 1<<32 {
		return // cannot name it in a 32-bit write: keep COM1
	}
	r.Size = conRingSize
	rt.OutlAddr(abi.PortConsoleRing, unsafe.Pointer(r))
	conRingOn = true
}

// ringOut appends p[:n] to the ring, waiting for room as needed, and kicks
// the launcher if it sleeps.
func ringOut(p *byte, n int) {
	r := conRing()
	data := conRingData()
	conRingLock.Lock()
	head := atomic.LoadUint64(&r.Head)
	for n > 0 {
		used := head - atomic.LoadUint64(&r.Tail)
		if used >= conRingSize {
			rt.Outl(abi.PortConsoleRing, abi.ConsoleRingWait)
			continue
		}
		off := head & (conRingSize - 1)
		k := min(uint64(n), conRingSize-used, conRingSize-off)
		copy(unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(data), off)), k), unsafe.Slice(p, k))
		head += k
		// An atomic store (XCHG) is the full barrier between Head and
		// the load of Sleeping.
		atomic.StoreUint64(&r.Head, head)
		p = (*byte)(unsafe.Add(unsafe.Pointer(p), k))
		n -= int(k)
	}
	if atomic.LoadUint64(&r.Sleeping) != 0 {
		rt.Outl(abi.PortConsoleRing, abi.ConsoleRingKick)
	}
	conRingLock.Unlock()
}

// ConsoleCrash switches the console back to COM1 for a crash report,
// after waiting (bounded) until the launcher has taken what the ring
// holds, so the report follows the output before it. A writer holding the
// ring's lock (perhaps the crashed CPU) is not waited for.
func ConsoleCrash() {
	if !conRingOn || conBypass.Swap(true) {
		return
	}
	r := conRing()
	for i := 0; i < crashDrainTries && atomic.LoadUint64(&r.Tail) != atomic.LoadUint64(&r.Head); i++ {
		rt.Outl(abi.PortConsoleRing, abi.ConsoleRingWait)
	}
}
