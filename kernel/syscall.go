package kernel

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/rt"
)

// Linux x86-64 system call numbers served by the kernel.
const (
	sysRead             = 0
	sysWrite            = 1
	sysOpen             = 2
	sysClose            = 3
	sysStat             = 4
	sysFstat            = 5
	sysLstat            = 6
	sysLseek            = 8
	sysMmap             = 9
	sysMprotect         = 10
	sysMunmap           = 11
	sysBrk              = 12
	sysRtSigaction      = 13
	sysRtSigprocmask    = 14
	sysRtSigreturn      = 15
	sysIoctl            = 16
	sysPread64          = 17
	sysPwrite64         = 18
	sysReadv            = 19
	sysWritev           = 20
	sysAccess           = 21
	sysPipe             = 22
	sysSchedYield       = 24
	sysMadvise          = 28
	sysDup              = 32
	sysDup2             = 33
	sysNanosleep        = 35
	sysGetpid           = 39
	sysClone            = 56
	sysExit             = 60
	sysUname            = 63
	sysFcntl            = 72
	sysFsync            = 74
	sysFtruncate        = 77
	sysGetdents64       = 217
	sysGetcwd           = 79
	sysChdir            = 80
	sysRename           = 82
	sysMkdir            = 83
	sysRmdir            = 84
	sysUnlink           = 87
	sysReadlink         = 89
	sysGettimeofday     = 96
	sysGetrlimit        = 97
	sysGetuid           = 102
	sysGetgid           = 104
	sysGeteuid          = 107
	sysGetegid          = 108
	sysGetppid          = 110
	sysSigaltstack      = 131
	sysArchPrctl        = 158
	sysGettid           = 186
	sysTkill            = 200
	sysFutex            = 202
	sysSchedGetaffinity = 204
	sysSetTidAddress    = 218
	sysClockGettime     = 228
	sysClockGetres      = 229
	sysClockNanosleep   = 230
	sysExitGroup        = 231
	sysEpollCtl         = 233
	sysTgkill           = 234
	sysOpenat           = 257
	sysMkdirat          = 258
	sysNewfstatat       = 262
	sysUnlinkat         = 263
	sysRenameat         = 264
	sysReadlinkat       = 267
	sysFaccessat        = 269
	sysPselect6         = 270
	sysPpoll            = 271
	sysEpollPwait       = 281
	sysEventfd2         = 290
	sysEpollCreate1     = 291
	sysDup3             = 292
	sysPipe2            = 293
	sysPrlimit64        = 302
	sysGetrandom        = 318
	sysSethostname      = 170
	sysStatx            = 332
	sysRseq             = 334
	sysFaccessat2       = 439
	sysPrctl            = 157
	sysSetitimer        = 38
	sysTimerCreate      = 222
	sysMincore          = 27
	sysSchedSetaffinity = 203
	sysGetgroups        = 115
	sysRenameat2        = 316
	sysFchmod           = 91
	sysFchmodat         = 268
	sysUtimensat        = 280
	sysFchown           = 93
	sysFchownat         = 260
	sysUmask            = 95
	sysSysinfo          = 99
	sysGetrusage        = 98
	sysTimes            = 100
	sysFstatfs          = 138
	sysStatfs           = 137
	sysSymlinkat        = 266
	sysLinkat           = 265
	sysFdatasync        = 75
	sysFchdir           = 81
	sysSetpgid          = 109
	sysGetpgid          = 121
	sysGetsid           = 124
	sysSetsid           = 112
	sysGetpgrp          = 111
	sysWait4            = 61
	sysKill             = 62
	sysMembarrier       = 324
)

// doSyscall serves the Linux system call in f and returns its result
// (a negative errno on failure).
func doSyscall(f *rt.Frame) int64 {
	a0, a1, a2, a3 := uintptr(f.RDI), uintptr(f.RSI), uintptr(f.RDX), uintptr(f.R10)
	a4 := uintptr(f.R8)
	_ = a4
	switch f.RAX {
	case sysWrite:
		return fdWrite(int(a0), a1, a2)
	case sysRead:
		return fdRead(int(a0), a1, a2)
	case sysWritev:
		return fdWritev(int(a0), a1, int(a2))
	case sysReadv:
		return fdReadv(int(a0), a1, int(a2))
	case sysMmap:
		return sysMmapImpl(a0, a1, int(a2), int(a3), int(int32(a4)), uintptr(f.R9))
	case sysMunmap:
		return sysMunmapImpl(a0, a1)
	case sysMprotect:
		return sysMprotectImpl(a0, a1, int(a2))
	case sysMadvise:
		return sysMadviseImpl(a0, a1, int(a2))
	case sysBrk:
		return 0
	case sysMincore:
		return -ENOSYS
	case sysArchPrctl:
		const archSetFS, archGetFS = 0x1002, 0x1003
		switch a0 {
		case archSetFS:
			f.FSBase = uint64(a1)
			return 0
		case archGetFS:
			if !userOK(a1, 8, true) {
				return -EFAULT
			}
			*at[uint64](a1) = f.FSBase
			return 0
		}
		return -EINVAL
	case sysClone:
		return sysCloneImpl(f)
	case sysExit:
		schedLock.Lock()
		exitThread()
		return 0
	case sysExitGroup:
		return sysExitGroupImpl(f, int(a0)&0xff)
	case abi.SysExitFlush:
		return sysExitFlushImpl()
	case sysFutex:
		return sysFutexImpl(a0, int(a1), uint32(a2), a3)
	case sysGettid:
		return int64(current().tid)
	case sysGetpid:
		return 1
	case sysGetppid:
		return 0
	case sysGetuid, sysGeteuid, sysGetgid, sysGetegid:
		return 0
	case sysTgkill, sysTkill, sysKill:
		return 0
	case sysSchedYield:
		yield()
		return 0
	case sysSchedGetaffinity:
		if a1 < 8 {
			return -EINVAL
		}
		if !userOK(a2, 8, true) {
			return -EFAULT
		}
		*at[uint64](a2) = uint64(1)<<uint(ncpu) - 1 // CPUs 0..ncpu-1
		return 8
	case sysSchedSetaffinity:
		return 0
	case sysNanosleep:
		return sleepRel(a0)
	case sysClockNanosleep:
		return sysClockNanosleepImpl(int(a0), int(a1), a2)
	case sysClockGettime:
		return sysClockGettimeImpl(int(a0), a1)
	case sysClockGetres:
		if a1 != 0 {
			if !userOK(a1, 16, true) {
				return -EFAULT
			}
			*at[[2]int64](a1) = [2]int64{0, 1}
		}
		return 0
	case sysGettimeofday:
		if a0 != 0 {
			if !userOK(a0, 16, true) {
				return -EFAULT
			}
			ns := walltime()
			*at[[2]int64](a0) = [2]int64{ns / 1e9, ns % 1e9 / 1000}
		}
		return 0
	case sysRtSigaction:
		return sysRtSigactionImpl(int(a0), a1, a2, a3)
	case sysRtSigprocmask:
		return sysRtSigprocmaskImpl(int(a0), a1, a2, a3)
	case sysSigaltstack:
		return sysSigaltstackImpl(a0, a1)
	case sysGetrandom:
		return sysGetrandomImpl(a0, a1)
	case sysUname:
		return sysUnameImpl(a0)
	case sysSethostname:
		return sysSethostnameImpl(a0, a1)
	case sysGetrlimit:
		return sysPrlimitImpl(0, int(a0), 0, a1)
	case sysPrlimit64:
		return sysPrlimitImpl(int(a0), int(a1), a2, a3)
	case sysSetTidAddress:
		current().clearTID = a0
		return int64(current().tid)
	case sysRseq, sysMembarrier:
		return -ENOSYS
	case sysPrctl:
		return -EINVAL
	case sysSetitimer, sysTimerCreate:
		return -ENOSYS
	case sysSysinfo:
		return sysSysinfoImpl(a0)
	case sysGetrusage:
		return sysGetrusageImpl(int(int32(a0)), a1)
	case sysTimes:
		return sysTimesImpl(a0)
	}
	if r, ok := fileSyscall(f); ok {
		return r
	}
	if r, ok := socketSyscall(f); ok {
		return r
	}
	if r, ok := deviceSyscall(f); ok {
		return r
	}
	reportUnknown(f.RAX)
	return -ENOSYS
}

var unknownSeen [512]bool

func reportUnknown(nr uint64) {
	if nr < uint64(len(unknownSeen)) {
		if unknownSeen[nr] {
			return
		}
		unknownSeen[nr] = true
	}
	kprint("unigo: unsupported system call ")
	kprint(syscallName(nr))
	kprint(" (")
	kprintDec(nr)
	kprint("): ENOSYS\n")
}
