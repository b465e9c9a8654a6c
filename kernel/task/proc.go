package task

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/kmem"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/kernel/platform"
	"github.com/unigo-os/unigo/rt"
)

const (
	cloneVM            = 0x100
	cloneThread        = 0x10000
	cloneSettls        = 0x80000
	cloneParentSettid  = 0x100000
	cloneChildCleartid = 0x200000
	cloneChildSettid   = 0x1000000
)

// SysClone creates a thread sharing everything (the only kind of
// clone a unikernel has): it starts in user mode where the parent's
// system call returns, with RAX = 0 and the given stack and TLS.
func SysClone(f *rt.Frame) int64 {
	flags := f.RDI
	if flags&cloneVM == 0 || flags&cloneThread == 0 {
		return -abi.ENOSYS // no processes: fork and exec are not supported
	}
	t := NewThread()
	if t == 0 {
		return -abi.EAGAIN
	}
	cf := kctx.At[rt.Frame](FrameOf(t))
	*cf = *f
	cf.RAX = 0
	if f.RSI != 0 {
		cf.RSP = f.RSI
		// The runtime starts an M on its g0 stack: clone's stack is
		// g0.stack.hi of a g0StackSize stack.
		Th(t).SysStackLo, Th(t).SysStackHi = f.RSI-g0StackSize, f.RSI
	}
	if flags&cloneSettls != 0 {
		cf.FSBase = f.R8
	}
	tid := Th(t).Tid
	if flags&cloneParentSettid != 0 && mm.UserOK(uintptr(f.RDX), 4, true) {
		*kctx.At[uint32](uintptr(f.RDX)) = uint32(tid)
	}
	if flags&cloneChildSettid != 0 && mm.UserOK(uintptr(f.R10), 4, true) {
		*kctx.At[uint32](uintptr(f.R10)) = uint32(tid)
	}
	if flags&cloneChildCleartid != 0 {
		Th(t).clearTID = uintptr(f.R10)
	}
	Th(t).sigmask = Current().sigmask
	// Stack for the first switch: [BP=0][return PC=threadStart], then the
	// frame.
	ksp := FrameOf(t) - 16
	*kctx.At[uint64](ksp) = 0
	*kctx.At[uint64](ksp + 8) = uint64(rt.ThreadStartPC())
	Th(t).ksp = ksp
	Th(t).LastCPU = int32(cpuIndex())
	kctx.SchedLock.Lock()
	makeRunnable(t)
	kctx.SchedLock.Unlock()
	return int64(tid)
}

const (
	futexWaitOp        = 0
	futexWakeOp        = 1
	futexWaitBitset    = 9
	futexWakeBitset    = 10
	futexPrivate       = 128
	futexClockRealtime = 256
)

func doFutex(addr uintptr, op int, val uint32, timeout uintptr) int64 {
	cmd := op &^ (futexPrivate | futexClockRealtime)
	switch cmd {
	case futexWaitOp, futexWaitBitset:
		var deadline int64
		if timeout != 0 {
			if !mm.UserOK(timeout, 16, false) {
				return -abi.EFAULT
			}
			ts := kctx.At[[2]int64](timeout)
			ns := ts[0]*1e9 + ts[1]
			if cmd == futexWaitOp {
				deadline = platform.Nanotime() + ns
			} else if op&futexClockRealtime != 0 {
				deadline = ns - platform.Walltime() + platform.Nanotime()
			} else {
				deadline = ns
			}
			if deadline <= 0 {
				deadline = 1
			}
		}
		return futexWait(addr, val, deadline)
	case futexWakeOp, futexWakeBitset:
		return futexWake(addr, int(val))
	}
	return -abi.ENOSYS
}

func SleepUntil(deadline int64) {
	kctx.SchedLock.Lock()
	for platform.Nanotime() < deadline {
		block(deadline)
	}
	kctx.SchedLock.Unlock()
}

func sleepRel(req uintptr) int64 {
	if !mm.UserOK(req, 16, false) {
		return -abi.EFAULT
	}
	ts := kctx.At[[2]int64](req)
	if ts[1] < 0 || ts[1] >= 1e9 || ts[0] < 0 {
		return -abi.EINVAL
	}
	SleepUntil(platform.Nanotime() + ts[0]*1e9 + ts[1] + sleepSlack)
	return 0
}

// sleepSlack is how much later than asked a nanosleep or clock_nanosleep
// may end: Linux's default timer slack for a normal thread, which the Go
// runtime's short sleeps (sysmon's 20 µs, the 3 µs before a steal) are
// tuned against. Ending them exactly on time instead made the runtime's
// sysmon wake up to 3.5 times as often as on Linux; with a second CPU,
// where it does not wait behind other threads, each wake-up could cost a
// timer programming and interrupt (traps on a paravirtualised host).
const sleepSlack = 50_000 // ns

const (
	clockRealtime        = 0
	clockMonotonic       = 1
	clockProcessCputime  = 2
	clockThreadCputime   = 3
	clockMonotonicRaw    = 4
	clockRealtimeCoarse  = 5
	clockMonotonicCoarse = 6
	clockBoottime        = 7
	timerAbstime         = 1
)

func clockNow(clock int) (int64, bool) {
	switch clock {
	case clockRealtime, clockRealtimeCoarse:
		return platform.Walltime(), true
	case clockMonotonic, clockMonotonicRaw, clockMonotonicCoarse, clockBoottime:
		return platform.Nanotime(), true
	case clockThreadCputime:
		t := Current()
		return t.cpuNS + platform.Nanotime() - t.OnCPU, true
	case clockProcessCputime:
		return platform.Nanotime() - platform.Mono0, true // one CPU: process time ~ busy time; refined by SMP work
	}
	if clock < 0 {
		// Per-thread CPU clocks (runtime pprof uses them): report this
		// thread's time.
		t := Current()
		return t.cpuNS + platform.Nanotime() - t.OnCPU, true
	}
	return 0, false
}

func doClockGettime(clock int, tp uintptr) int64 {
	ns, ok := clockNow(clock)
	if !ok {
		return -abi.EINVAL
	}
	if !mm.UserOK(tp, 16, true) {
		return -abi.EFAULT
	}
	*kctx.At[[2]int64](tp) = [2]int64{ns / 1e9, ns % 1e9}
	return 0
}

func doClockNanosleep(clock, flags int, req uintptr) int64 {
	if !mm.UserOK(req, 16, false) {
		return -abi.EFAULT
	}
	ts := kctx.At[[2]int64](req)
	ns := ts[0]*1e9 + ts[1]
	now, ok := clockNow(clock)
	if !ok {
		return -abi.EINVAL
	}
	if flags&timerAbstime != 0 {
		ns -= now
	}
	if ns > 0 {
		SleepUntil(platform.Nanotime() + ns + sleepSlack)
	}
	return 0
}

// Signals: the kernel records dispositions, masks and alternate stacks so
// the runtime's bookkeeping works; delivery comes with the signal work.
var sigactions [65][4]uint64 // handler, flags, restorer, mask

func doRtSigaction(sig int, act, oact uintptr, size uintptr) int64 {
	if sig < 1 || sig > 64 || size != 8 {
		return -abi.EINVAL
	}
	if oact != 0 {
		if !mm.UserOK(oact, 32, true) {
			return -abi.EFAULT
		}
		*kctx.At[[4]uint64](oact) = sigactions[sig]
	}
	if act != 0 {
		if sig == 9 || sig == 19 {
			return -abi.EINVAL
		}
		if !mm.UserOK(act, 32, false) {
			return -abi.EFAULT
		}
		sigactions[sig] = *kctx.At[[4]uint64](act)
	}
	return 0
}

func doRtSigprocmask(how int, set, oset uintptr, size uintptr) int64 {
	if size != 8 {
		return -abi.EINVAL
	}
	t := Current()
	if oset != 0 {
		if !mm.UserOK(oset, 8, true) {
			return -abi.EFAULT
		}
		*kctx.At[uint64](oset) = t.sigmask
	}
	if set != 0 {
		if !mm.UserOK(set, 8, false) {
			return -abi.EFAULT
		}
		s := *kctx.At[uint64](set)
		switch how {
		case 0:
			t.sigmask |= s
		case 1:
			t.sigmask &^= s
		case 2:
			t.sigmask = s
		default:
			return -abi.EINVAL
		}
	}
	return 0
}

func doSigaltstack(ss, oss uintptr) int64 {
	t := Current()
	if oss != 0 {
		if !mm.UserOK(oss, 24, true) {
			return -abi.EFAULT
		}
		o := kctx.At[[3]uint64](oss)
		o[0], o[1], o[2] = t.altSP, t.altFlags, t.altSize
		if t.altSP == 0 {
			o[1] = 2 // SS_DISABLE
		}
	}
	if ss != 0 {
		if !mm.UserOK(ss, 24, false) {
			return -abi.EFAULT
		}
		n := kctx.At[[3]uint64](ss)
		t.altSP, t.altFlags, t.altSize = n[0], n[1], n[2]
	}
	return 0
}

var noEntropyReported bool

// FillRandom fills b from RDSEED, falling back to RDRAND.
func FillRandom(b []byte) bool {
	for i := 0; i < len(b); i += 8 {
		v, ok := rt.Rdseed()
		if !ok {
			v, ok = rt.Rdrand()
		}
		if !ok {
			if !noEntropyReported {
				noEntropyReported = true
				kctx.Print("unigo: no RDSEED/RDRAND: getrandom has no entropy source; using the TSC\n")
			}
			v = rt.Rdtsc() * 0x9e3779b97f4a7c15
		}
		for j := 0; j < 8 && i+j < len(b); j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return true
}

func DoGetrandom(buf, n uintptr) int64 {
	if n > 1<<20 {
		n = 1 << 20
	}
	if !mm.UserOK(buf, n, true) {
		return -abi.EFAULT
	}
	FillRandom(kctx.BytesAt(buf, int(n)))
	return int64(n)
}

func doUname(buf uintptr) int64 {
	if !mm.UserOK(buf, 65*6, true) {
		return -abi.EFAULT
	}
	b := kctx.BytesAt(buf, 65*6)
	clear(b)
	copy(b[0:], "Linux")
	copyHostname(b[65:130])
	copy(b[130:], "6.1.0-unigo")
	copy(b[195:], "#1 unigo")
	copy(b[260:], "x86_64")
	copy(b[325:], "(none)")
	return 0
}

// MaxFDs is the process's RLIMIT_NOFILE: the size of the fd table.
const MaxFDs = 4096

func doPrlimit(pid, res int, newp, oldp uintptr) int64 {
	const inf = ^uint64(0)
	var cur, max uint64 = inf, inf
	switch res {
	case 7: // RLIMIT_NOFILE
		cur, max = MaxFDs, MaxFDs
	case 3: // RLIMIT_STACK
		cur = mm.StackSize
	}
	if oldp != 0 {
		if !mm.UserOK(oldp, 16, true) {
			return -abi.EFAULT
		}
		*kctx.At[[2]uint64](oldp) = [2]uint64{cur, max}
	}
	return 0
}

// doSysinfo fills struct sysinfo (112 bytes on x86-64): uptime,
// RAM from kmem, no swap, the thread count as procs, mem_unit 1.
func doSysinfo(buf uintptr) int64 {
	if !mm.UserOK(buf, 112, true) {
		return -abi.EFAULT
	}
	b := kctx.BytesAt(buf, 112)
	clear(b)
	*kctx.At[int64](buf) = (platform.Nanotime() - platform.Mono0) / 1e9
	*kctx.At[uint64](buf + 32) = uint64(kmem.TotalBytes())
	*kctx.At[uint64](buf + 40) = uint64(kmem.FreeBytes())
	*kctx.At[uint16](buf + 80) = uint16(nthreads)
	*kctx.At[uint32](buf + 104) = 1
	return 0
}

// doGetrusage fills struct rusage (144 bytes). There is one process
// on one CPU: RUSAGE_SELF reports the time since boot as user time (the
// kernel does not yet split idle, user and system time), RUSAGE_THREAD the
// calling thread's CPU time; maxrss and minflt come from the page-fault
// statistics, in KiB and faults.
func doGetrusage(who int, buf uintptr) int64 {
	const self, children, thread = 0, -1, 1
	var ns int64
	switch who {
	case self:
		ns = platform.Nanotime() - platform.Mono0
	case children:
	case thread:
		t := Current()
		ns = t.cpuNS + platform.Nanotime() - t.OnCPU
	default:
		return -abi.EINVAL
	}
	if !mm.UserOK(buf, 144, true) {
		return -abi.EFAULT
	}
	clear(kctx.BytesAt(buf, 144))
	if who == children {
		return 0
	}
	*kctx.At[[2]int64](buf) = [2]int64{ns / 1e9, ns % 1e9 / 1000}
	*kctx.At[uint64](buf + 32) = mm.Stats.MaxPages * (mm.PageSize / 1024) // ru_maxrss
	*kctx.At[uint64](buf + 64) = mm.Stats.Faults                          // ru_minflt
	return 0
}

// doTimes fills struct tms and returns clock ticks (USER_HZ = 100)
// since boot.
func doTimes(buf uintptr) int64 {
	ticks := (platform.Nanotime() - platform.Mono0) / 10_000_000
	if buf != 0 {
		if !mm.UserOK(buf, 32, true) {
			return -abi.EFAULT
		}
		*kctx.At[[4]int64](buf) = [4]int64{ticks, 0, 0, 0}
	}
	return ticks
}
