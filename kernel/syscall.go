package kernel

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/kernel/platform"
	"github.com/unigo-os/unigo/kernel/task"
	"github.com/unigo-os/unigo/rt"
)

// dispatchSyscall serves the system call in f (number in RAX, arguments
// in RDI, RSI, RDX, R10, R8, R9) and leaves its result in f.RAX (a
// negated errno on failure). The handlers are in the table (systable.go).
func dispatchSyscall(f *rt.Frame) {
	if straceOn {
		straceSyscall(f)
		return
	}
	f.RAX = uint64(callSyscall(f))
}

// callSyscall runs the table's handler for f's system call.
func callSyscall(f *rt.Frame) int64 {
	nr := f.RAX
	e := sysLookup(nr)
	if e != nil && e.fn != nil {
		return e.fn(f)
	}
	if e != nil && e.status == sysUnsupported {
		return -int64(e.errno)
	}
	reportUnknown(nr)
	return -abi.ENOSYS
}

// sysName returns the name of system call nr.
func sysName(nr uint64) string {
	if e := sysLookup(nr); e != nil && e.name != "" {
		return e.name
	}
	return "unknown"
}

var unknownSeen [abi.NSyscalls]bool

// reportUnknown reports a system call the kernel does not implement, the
// first time each number is seen.
func reportUnknown(nr uint64) {
	if nr < uint64(len(unknownSeen)) {
		if unknownSeen[nr] {
			return
		}
		unknownSeen[nr] = true
	}
	kctx.Print("unigo: unsupported system call ")
	kctx.Print(sysName(nr))
	kctx.Print(" (")
	kctx.PrintDec(nr)
	kctx.Print("): ENOSYS\n")
}

// Handlers: memory, threads, time, identity and limits. Each decodes its
// arguments from the frame, with the same widths as Linux's C prototypes.

func sysMmap(f *rt.Frame) int64 {
	return doMmap(uintptr(f.RDI), uintptr(f.RSI), int(f.RDX), int(f.R10), int(int32(f.R8)), uintptr(f.R9))
}
func sysMunmap(f *rt.Frame) int64   { return doMunmap(uintptr(f.RDI), uintptr(f.RSI)) }
func sysMprotect(f *rt.Frame) int64 { return doMprotect(uintptr(f.RDI), uintptr(f.RSI), int(f.RDX)) }
func sysMadvise(f *rt.Frame) int64  { return doMadvise(uintptr(f.RDI), uintptr(f.RSI), int(f.RDX)) }
func sysMsync(f *rt.Frame) int64    { return doMsync(uintptr(f.RDI), uintptr(f.RSI), int(f.RDX)) }
func sysBrk(f *rt.Frame) int64      { return 0 }

func sysArchPrctl(f *rt.Frame) int64 {
	const archSetFS, archGetFS = 0x1002, 0x1003
	switch f.RDI {
	case archSetFS:
		f.FSBase = f.RSI
		return 0
	case archGetFS:
		if !mm.UserOK(uintptr(f.RSI), 8, true) {
			return -abi.EFAULT
		}
		*kctx.At[uint64](uintptr(f.RSI)) = f.FSBase
		return 0
	}
	return -abi.EINVAL
}

func sysExit(f *rt.Frame) int64 {
	kctx.SchedLock.Lock()
	task.ExitThread()
	return 0
}

func sysExitGroup(f *rt.Frame) int64 { return task.DoExitGroup(f, int(f.RDI)&0xff) }
func sysExitFlush(f *rt.Frame) int64 { return task.DoExitFlush() }

func sysFutex(f *rt.Frame) int64 {
	return task.DoFutex(uintptr(f.RDI), int(f.RSI), uint32(f.RDX), uintptr(f.R10))
}

func sysGettid(f *rt.Frame) int64  { return int64(task.Current().Tid) }
func sysGetpid(f *rt.Frame) int64  { return 1 }
func sysGetppid(f *rt.Frame) int64 { return 0 }
func sysGetuid(f *rt.Frame) int64  { return 0 }
func sysGeteuid(f *rt.Frame) int64 { return 0 }
func sysGetgid(f *rt.Frame) int64  { return 0 }
func sysGetegid(f *rt.Frame) int64 { return 0 }

// sysGetgroups: root with no supplementary groups, as in a container
// started without any: the list is empty whatever the buffer.
func sysGetgroups(f *rt.Frame) int64 {
	if int32(f.RDI) < 0 {
		return -abi.EINVAL
	}
	return 0
}

func sysSchedYield(f *rt.Frame) int64 {
	task.Yield()
	return 0
}

func sysSchedGetaffinity(f *rt.Frame) int64 {
	if f.RSI < 8 {
		return -abi.EINVAL
	}
	if !mm.UserOK(uintptr(f.RDX), 8, true) {
		return -abi.EFAULT
	}
	*kctx.At[uint64](uintptr(f.RDX)) = uint64(1)<<uint(task.NCPU) - 1 // CPUs 0..ncpu-1
	return 8
}

func sysSchedSetaffinity(f *rt.Frame) int64 { return 0 }

func sysNanosleep(f *rt.Frame) int64 { return task.SleepRel(uintptr(f.RDI)) }
func sysClockNanosleep(f *rt.Frame) int64 {
	return task.DoClockNanosleep(int(f.RDI), int(f.RSI), uintptr(f.RDX))
}
func sysClockGettime(f *rt.Frame) int64 { return task.DoClockGettime(int(f.RDI), uintptr(f.RSI)) }

func sysClockGetres(f *rt.Frame) int64 {
	if p := uintptr(f.RSI); p != 0 {
		if !mm.UserOK(p, 16, true) {
			return -abi.EFAULT
		}
		*kctx.At[[2]int64](p) = [2]int64{0, 1}
	}
	return 0
}

func sysGettimeofday(f *rt.Frame) int64 {
	if p := uintptr(f.RDI); p != 0 {
		if !mm.UserOK(p, 16, true) {
			return -abi.EFAULT
		}
		ns := platform.Walltime()
		*kctx.At[[2]int64](p) = [2]int64{ns / 1e9, ns % 1e9 / 1000}
	}
	return 0
}

func sysRtSigaction(f *rt.Frame) int64 {
	return task.DoRtSigaction(int(f.RDI), uintptr(f.RSI), uintptr(f.RDX), uintptr(f.R10))
}
func sysRtSigprocmask(f *rt.Frame) int64 {
	return task.DoRtSigprocmask(int(f.RDI), uintptr(f.RSI), uintptr(f.RDX), uintptr(f.R10))
}
func sysSigaltstack(f *rt.Frame) int64 { return task.DoSigaltstack(uintptr(f.RDI), uintptr(f.RSI)) }
func sysGetrandom(f *rt.Frame) int64   { return task.DoGetrandom(uintptr(f.RDI), uintptr(f.RSI)) }
func sysUname(f *rt.Frame) int64       { return task.DoUname(uintptr(f.RDI)) }
func sysSethostname(f *rt.Frame) int64 { return task.DoSethostname(uintptr(f.RDI), uintptr(f.RSI)) }
func sysGetrlimit(f *rt.Frame) int64   { return task.DoPrlimit(0, int(f.RDI), 0, uintptr(f.RSI)) }
func sysPrlimit64(f *rt.Frame) int64 {
	return task.DoPrlimit(int(f.RDI), int(f.RSI), uintptr(f.RDX), uintptr(f.R10))
}

func sysSetTidAddress(f *rt.Frame) int64 {
	task.Current().ClearTID = uintptr(f.RDI)
	return int64(task.Current().Tid)
}

func sysSysinfo(f *rt.Frame) int64   { return task.DoSysinfo(uintptr(f.RDI)) }
func sysGetrusage(f *rt.Frame) int64 { return task.DoGetrusage(int(int32(f.RDI)), uintptr(f.RSI)) }
func sysTimes(f *rt.Frame) int64     { return task.DoTimes(uintptr(f.RDI)) }
