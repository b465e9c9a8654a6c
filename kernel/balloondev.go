package kernel

import (
	"sync/atomic"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/balloon"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/kmem"
	"github.com/unigo-os/unigo/kernel/platform"
	"github.com/unigo-os/unigo/kernel/task"
)

// Free page reporting (kernel/balloon, docs/ARCHITECTURE.md): the virtio
// balloon, when the machine has one that offers PAGE_REPORTING, is the
// kernel's, left out of the drivers' list; CPUs about to halt run its
// policy (balloonIdle). The kernel parameter unigo.balloon=0 leaves the
// device alone.

// balloonDeviceInit finds the balloon: among the devices the command
// line names (the unigo launcher), else in QEMU microvm's transport
// windows. The launcher's is set up on the first idle (balloonIdle), not
// here: its set-up is ~30 register accesses, each an exit to the
// launcher (~2 ms of boot on a PVM host), and reporting has nothing to do
// before the program has run and gone idle, which is also when the policy
// runs. QEMU's is set up at once: its windows are probed for the drivers'
// list, which must leave it out (probeMicrovmVirtio).
func balloonDeviceInit() {
	if kctx.ParamIs("unigo.balloon", "0") {
		return
	}
	kctx.SchedLock.Lock()
	defer kctx.SchedLock.Unlock()
	if !virtioParsed {
		parseVirtioParams()
	}
	for i := 0; i < nVirtioDevs; i++ {
		d := virtioDevs[i]
		base := uintptr(d.Base)
		// doMapMMIO under SchedLock, with the other CPUs up: it takes
		// VMLock inside SchedLock, as everywhere, and its TLB shootdown
		// is answered by CPUs spinning on a lock (spinlock's wait hook)
		// or by the IPI (idle ones halt with interrupts on).
		if d.Size < abi.VirtioMMIOConfig+8 || doMapMMIO(base, uintptr(d.Size)) < 0 ||
			*kctx.At[uint32](base) != abi.VirtioMMIOMagic ||
			*kctx.At[uint32](base + abi.VirtioMMIODeviceID) != abi.VirtioDeviceBalloon {
			continue
		}
		// The kernel's from here on, set up or not: no driver of
		// drivers/ takes a balloon.
		copy(virtioDevs[i:nVirtioDevs], virtioDevs[i+1:nVirtioDevs])
		nVirtioDevs--
		balloonBase, balloonGSI = base, d.GSI
		balloonDeferred.Store(true)
		return
	}
	if nVirtioDevs != 0 || platform.AcpiFindTable(platform.AcpiSigMADT) == 0 {
		return
	}
	gsiBase, n, ok := microvmWindows()
	for i := 0; ok && i < n; i++ {
		if base, id := microvmDevice(i); id == abi.VirtioDeviceBalloon {
			balloonSetup(base, gsiBase+uint32(i))
			return
		}
	}
}

// The launcher's balloon, found at boot and not yet set up: the first CPU
// to go idle takes balloonDeferred and sets it up (balloonIdle).
var (
	balloonDeferred atomic.Bool
	balloonBase     uintptr
	balloonGSI      uint32
)

// balloonSetup sets the balloon at base up and turns reporting on in
// kmem. It reports whether the kernel keeps the device. Its interrupt
// line stays unrouted: the driver polls.
func balloonSetup(base uintptr, gsi uint32) bool {
	if why := balloon.Dev.Setup(base, gsi, uintptr(kmem.TotalBytes())); why != "" {
		kctx.Print("unigo: virtio balloon not used: ")
		kctx.Print(why)
		kctx.Print("\n")
		return false
	}
	if !kmem.EnableReporting() {
		balloon.Dev.Fail()
		kctx.Print("unigo: free page reporting off: no memory for its bitmap\n")
	}
	return true
}

// balloonIdle is the CPUs' idle hook: the reporting policy, and the
// report of a device given up.
func balloonIdle() {
	if balloonDeferred.Load() && balloonDeferred.CompareAndSwap(true, false) {
		balloonSetup(balloonBase, balloonGSI)
	}
	if why := balloon.Dev.TryIdle(platform.Nanotime, task.AnyQueued); why != "" {
		kctx.Print("unigo: virtio balloon given up: ")
		kctx.Print(why)
		kctx.Print("\n")
	}
}

// balloonReclaim is kmem's reclaim hook: an allocation found no memory
// while a report may be in flight (balloon.Balloon.Reclaim).
func balloonReclaim() bool { return balloon.Dev.Reclaim(platform.Nanotime) }
