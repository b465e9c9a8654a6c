package task

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/kernel/platform"
	"github.com/unigo-os/unigo/rt"
)

// System-call handlers for threads, time, identity and limits. Each
// decodes its arguments from the frame, with the same widths as Linux's C
// prototypes, and does the work here or in the doX beside its subject
// (proc.go, futex.go, signal.go, exit.go, hostname.go).

func SysArchPrctl(f *rt.Frame) int64 {
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

func SysExit(f *rt.Frame) int64 {
	kctx.SchedLock.Lock()
	exitThread()
	return 0
}

func SysExitGroup(f *rt.Frame) int64 { return doExitGroup(f, int(f.RDI)&0xff) }

func SysExitFlush(f *rt.Frame) int64 { return doExitFlush() }

func SysFutex(f *rt.Frame) int64 {
	return doFutex(uintptr(f.RDI), int(f.RSI), uint32(f.RDX), uintptr(f.R10))
}

func SysGettid(f *rt.Frame) int64 { return int64(Current().Tid) }

func SysGetpid(f *rt.Frame) int64 { return 1 }

func SysGetppid(f *rt.Frame) int64 { return 0 }

func SysGetuid(f *rt.Frame) int64 { return 0 }

func SysGeteuid(f *rt.Frame) int64 { return 0 }

func SysGetgid(f *rt.Frame) int64 { return 0 }

func SysGetegid(f *rt.Frame) int64 { return 0 }

func SysGetgroups(f *rt.Frame) int64 {
	if int32(f.RDI) < 0 {
		return -abi.EINVAL
	}
	return 0
}

func SysSchedYield(f *rt.Frame) int64 {
	yield()
	return 0
}

func SysSchedGetaffinity(f *rt.Frame) int64 {
	if f.RSI < 8 {
		return -abi.EINVAL
	}
	if !mm.UserOK(uintptr(f.RDX), 8, true) {
		return -abi.EFAULT
	}
	*kctx.At[uint64](uintptr(f.RDX)) = uint64(1)<<uint(NCPU) - 1 // CPUs 0..ncpu-1
	return 8
}

func SysSchedSetaffinity(f *rt.Frame) int64 { return 0 }

func SysNanosleep(f *rt.Frame) int64 { return sleepRel(uintptr(f.RDI)) }

func SysClockNanosleep(f *rt.Frame) int64 {
	return doClockNanosleep(int(f.RDI), int(f.RSI), uintptr(f.RDX))
}

func SysClockGettime(f *rt.Frame) int64 { return doClockGettime(int(f.RDI), uintptr(f.RSI)) }

func SysClockGetres(f *rt.Frame) int64 {
	if p := uintptr(f.RSI); p != 0 {
		if !mm.UserOK(p, 16, true) {
			return -abi.EFAULT
		}
		*kctx.At[[2]int64](p) = [2]int64{0, 1}
	}
	return 0
}

func SysGettimeofday(f *rt.Frame) int64 {
	if p := uintptr(f.RDI); p != 0 {
		if !mm.UserOK(p, 16, true) {
			return -abi.EFAULT
		}
		ns := platform.Walltime()
		*kctx.At[[2]int64](p) = [2]int64{ns / 1e9, ns % 1e9 / 1000}
	}
	return 0
}

func SysRtSigaction(f *rt.Frame) int64 {
	return doRtSigaction(int(f.RDI), uintptr(f.RSI), uintptr(f.RDX), uintptr(f.R10))
}

func SysRtSigprocmask(f *rt.Frame) int64 {
	return doRtSigprocmask(int(f.RDI), uintptr(f.RSI), uintptr(f.RDX), uintptr(f.R10))
}

func SysSigaltstack(f *rt.Frame) int64 { return doSigaltstack(uintptr(f.RDI), uintptr(f.RSI)) }

func SysGetrandom(f *rt.Frame) int64 { return DoGetrandom(uintptr(f.RDI), uintptr(f.RSI)) }

func SysUname(f *rt.Frame) int64 { return doUname(uintptr(f.RDI)) }

func SysSethostname(f *rt.Frame) int64 { return doSethostname(uintptr(f.RDI), uintptr(f.RSI)) }

func SysGetrlimit(f *rt.Frame) int64 { return doPrlimit(0, int(f.RDI), 0, uintptr(f.RSI)) }

func SysPrlimit64(f *rt.Frame) int64 {
	return doPrlimit(int(f.RDI), int(f.RSI), uintptr(f.RDX), uintptr(f.R10))
}

func SysSetTidAddress(f *rt.Frame) int64 {
	Current().clearTID = uintptr(f.RDI)
	return int64(Current().Tid)
}

func SysSysinfo(f *rt.Frame) int64 { return doSysinfo(uintptr(f.RDI)) }

func SysGetrusage(f *rt.Frame) int64 { return doGetrusage(int(int32(f.RDI)), uintptr(f.RSI)) }

func SysTimes(f *rt.Frame) int64 { return doTimes(uintptr(f.RDI)) }
