package kernel

import (
	_ "unsafe" // go:linkname

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/kmem"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/kernel/platform"
	"github.com/unigo-os/unigo/kernel/socket"
	"github.com/unigo-os/unigo/kernel/spinlock"
	"github.com/unigo-os/unigo/kernel/syscalls"
	"github.com/unigo-os/unigo/kernel/task"
	"github.com/unigo-os/unigo/kernel/vfs"
	"github.com/unigo-os/unigo/kernel/vm"
	"github.com/unigo-os/unigo/rt"
)

// kernelMain is rt's kernelMain: the boot continues here at CPL 3, IF=0,
// on the boot stack, in kernel context (no Go runtime yet).
//
//go:linkname kernelMain github.com/unigo-os/unigo/rt.kernelMain
func kernelMain(si uintptr) {
	abiMark := [1]byte{abi.BootMarkABI | abi.Version}
	rt.OutsbDirect(abi.PortBootMark, &abiMark[0], 1)
	rt.FillInterruptGates() // before anything enables interrupts
	task.SetHooks(syscalls.ExitVM, handlePending, socket.NetAttached, socket.NetFlushAtExit)
	task.SetIdleHook(idle)
	kmem.SetReclaim(balloonReclaim)
	filesInit()
	syscallsInit()
	traceInit()
	info := kctx.At[abi.HVMStartInfo](si)
	if info.Magic != abi.HVMStartMagic {
		kctx.Panic("bad PVH start_info magic")
	}
	if info.CmdlinePaddr != 0 {
		kctx.CmdlineLen = copy(kctx.Cmdline[:len(kctx.Cmdline)-1], kctx.CString(uintptr(info.CmdlinePaddr), len(kctx.Cmdline)-1))
	}
	platform.ConsoleInit() // after the command line: abi.UARTReadyParam
	syscalls.StatsOn = kctx.FlagParam("unigo.stats")
	kctx.ConsoleNotTTY = kctx.ParamIs(abi.TTYParam, "0")
	var fifo [8]byte
	if n, ok := kctx.KernelParam(abi.UARTFIFOParam, fifo[:]); ok {
		kctx.SetConsoleFIFO(fifo[:n])
	}
	kctx.ConsoleString = kctx.FlagParam(abi.ConsoleStringParam)
	vfs.ConInPort = kctx.FlagParam(abi.ConsoleInputParam)
	if kctx.FlagParam(abi.ConsoleRingParam) {
		kctx.ConsoleRingInit()
	}
	prefaultInit()
	paramMicros("unigo.idlepoll", &task.IdlePoll)
	paramMicros("unigo.affine", &task.AffineWait)
	mm.ImageHuge = kctx.FlagParam(abi.HugeImageParam)
	syscalls.StraceOn = syscalls.StraceParam()
	deviceBootInfo(info)
	findImage()
	exeFind(info)
	memInit(info)
	syscalls.PatchSyscalls()
	mm.ProtectImage()
	cpuInit()
	platform.TimeInit()
	task.LAPICInit()
	spinlock.SetWaitHook(task.ServiceTLB)
	kctx.SetSchedUnlockHook(task.FlushDeferred)
	vm.Init()
	smpInit(info)
	vfs.FdInit()
	hostSignalInit()
	consoleDeviceInit()
	balloonDeviceInit()
	if kctx.FlagParam("unigo.cpuinfo") {
		printCPUInfo()
	}
	startInit()
}

// findImage locates the ELF header of the running image (the first
// PT_LOAD maps it just below .text) and reads the entry point and the
// extent of the loaded segments from it.
func findImage() {
	p := (rt.TextStart() - 1) &^ (mm.PageSize - 1)
	for *kctx.At[uint32](p) != 0x464c457f { // "\x7fELF"
		p -= mm.PageSize
		if p == 0 {
			kctx.Panic("ELF header of the image not found")
		}
	}
	mm.ImageStart = p
	mm.ImageEntry = uintptr(*kctx.At[uint64](p + 24))
	phoff := uintptr(*kctx.At[uint64](p + 32))
	mm.ImagePhnum = uintptr(*kctx.At[uint16](p + 56))
	mm.ImagePhdr = p + phoff
	for i := uintptr(0); i < mm.ImagePhnum; i++ {
		ph := mm.ImagePhdr + i*56
		if *kctx.At[uint32](ph) != 1 { // PT_LOAD
			continue
		}
		end := uintptr(*kctx.At[uint64](ph + 24) + *kctx.At[uint64](ph + 40)) // paddr + memsz
		if end > mm.ImageEnd {
			mm.ImageEnd = end
		}
	}
	mm.ImageEnd = mm.PageRound(mm.ImageEnd)
}

// memInit gives RAM to kmem (minus the first MiB, the image and the boot
// module, exe.go) and
// completes the page tables.
func memInit(info *abi.HVMStartInfo) {
	n := uintptr(info.MemmapEntries)
	mmap := uintptr(info.MemmapPaddr)
	if mmap == 0 || n == 0 {
		kctx.Panic("PVH start_info has no memory map")
	}
	// The image keeps the rest of its last 2 MiB page when that is RAM
	// the module does not use, so the page can stay whole (mm.ProtectImage).
	if end := mm.ImageHugeEnd(); end > mm.ImageEnd {
		_, _, module := exeSplit(mm.ImageEnd, end)
		for i := uintptr(0); i < n && !module; i++ {
			e := kctx.At[abi.HVMMemmapEntry](mmap + i*abi.HVMMemmapEntrySize)
			if e.Type == abi.MemRAM && uintptr(e.Addr) <= mm.ImageEnd && uintptr(e.Addr+e.Size) >= end {
				mm.ImageEnd = end
				break
			}
		}
	}
	for pass := 0; pass < 2; pass++ {
		for i := uintptr(0); i < n; i++ {
			e := kctx.At[abi.HVMMemmapEntry](mmap + i*abi.HVMMemmapEntrySize)
			if e.Type != abi.MemRAM {
				continue
			}
			start, end := uintptr(e.Addr), uintptr(e.Addr+e.Size)
			if pass == 0 && end > platform.RAMTop {
				platform.RAMTop = end
			}
			// Pass 0: below 1 GiB (identity-mapped at boot); pass 1: the rest,
			// once mm.Init has mapped it.
			lo, hi := uintptr(0), uintptr(1<<30)
			if pass == 1 {
				lo, hi = 1<<30, ^uintptr(0)
			}
			if start < lo {
				start = lo
			}
			if end > hi {
				end = hi
			}
			if start < 1<<20 {
				start = 1 << 20
			}
			addRAM(start, end)
		}
		if pass == 0 {
			mm.Init(max(platform.RAMTop, exeMapEnd()))
		}
	}
}

func addRAM(start, end uintptr) {
	if end <= start {
		return
	}
	if start < mm.ImageEnd && end > mm.ImageStart {
		addRAM(start, mm.ImageStart)
		addRAM(mm.ImageEnd, end)
		return
	}
	if lo, hi, split := exeSplit(start, end); split {
		addRAM(lo[0], lo[1])
		addRAM(hi[0], hi[1])
		return
	}
	// RAM above 1 MiB outside the image is as the hypervisor gave it:
	// zeros (the loaders put the boot information below 1 MiB).
	kmem.AddZeroRange(start, end-start)
}

// filesInit connects the file and socket layers to what lies above them:
// the rows of the kinds of open file implemented above kernel/vfs
// (sockets, the netstack channel), the IOAPIC routing the console's input
// interrupt needs, and the launcher's readiness when a socket listens.
func filesInit() {
	vfs.RegisterOps(vfs.FdSocket, &socket.SocketOps)
	vfs.RegisterOps(vfs.FdNetchan, &socket.NetchanOps)
	vfs.SetHooks(ioapicRoute, vm.MapAnon, vm.Unmap, exeAddFile)
	socket.SetHooks(hostListening)
}

// syscallsInit installs the handlers of the private calls this package
// serves: the device services and readiness.
func syscallsInit() {
	syscalls.SetHooks(syscalls.UpperHandlers{
		VirtioMMIODevices: sysVirtioMMIODevices,
		MapMMIO:           sysMapMMIO,
		DMAAlloc:          sysDMAAlloc,
		DMAFree:           sysDMAFree,
		IRQAttach:         sysIRQAttach,
		IRQUnmask:         sysIRQUnmask,
		IRQDetach:         sysIRQDetach,
		Ready:             sysReady,
	})
}

// paramMicros sets *ns from kernel parameter name, a duration in
// microseconds (at most one second), and leaves it for a value absent or
// out of range.
func paramMicros(name string, ns *int64) {
	var v [8]byte
	if n, ok := kctx.KernelParam(name, v[:]); ok {
		if us, ok := kctx.ParseUint(v[:n]); ok && us <= 1_000_000 {
			*ns = int64(us) * 1000
		}
	}
}
