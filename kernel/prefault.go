package kernel

import (
	"sync/atomic"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/kmem"
	"github.com/unigo-os/unigo/kernel/task"
	"github.com/unigo-os/unigo/rt"
)

// Prefaulted boot RAM (abi.PrefaultParam, docs/ARCHITECTURE.md "The
// launcher"): the launcher backs the RAM below the image before the guest
// runs, so that the boot's first touches there are cheap under shadow
// paging; what the allocator has not handed out of it by the boot CPU's
// first idle goes back. The same write tells the launcher the boot is
// over: it gives back its copies of the image's read-only pages too.

// idle is the CPUs' idle hook: the prefaulted RAM's release, then the
// balloon's policy.
func idle() {
	prefaultRelease()
	balloonIdle()
}

// The RAM the launcher backed before the boot, [1 MiB, prefaultEnd)
// (abi.PrefaultParam): what of it the allocator has not handed out by the
// boot CPU's first idle goes back to the host (prefaultRelease).
var (
	prefaultEnd     uintptr
	prefaultPending atomic.Bool
)

// prefaultInit reads abi.PrefaultParam (kernelMain).
func prefaultInit() {
	var v [24]byte
	if n, ok := kctx.KernelParam(abi.PrefaultParam, v[:]); ok {
		if end, ok := kctx.ParseUint(v[:n]); ok && end > 1<<20 {
			prefaultEnd = uintptr(end)
			prefaultPending.Store(true)
		}
	}
}

// prefaultRelease, on the boot CPU's first idle, tells the launcher where
// the allocator's fresh memory in the prefaulted RAM begins
// (abi.PortPrefaultDone), holding the allocator's lock (kmem.Fresh) so
// that none of it is handed out before the launcher has given it back.
// The boot CPU's: it runs the program's first thread, so it idles once the
// program has started and waits; the other CPUs idle as soon as they are up.
func prefaultRelease() {
	if prefaultPending.Load() && task.CPU().ID == 0 && prefaultPending.CompareAndSwap(true, false) {
		kmem.Fresh(1<<20, prefaultDone)
	}
}

func prefaultDone(next uintptr) {
	rt.OutlDirect(abi.PortPrefaultDone, uint32(min(next, prefaultEnd)>>12))
}
