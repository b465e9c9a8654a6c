package task

import (
	"sync/atomic"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/kernel/platform"
	"github.com/unigo-os/unigo/rt"
)

// CPU-time timers: setitimer(ITIMER_PROF/ITIMER_VIRTUAL) and POSIX timers
// (timer_create) on the CPU-time clocks. runtime/pprof samples with them:
// SIGPROF arrives after every interval of CPU time consumed, by the process
// (setitimer) or by one thread (timer_create with SIGEV_THREAD_ID).
//
// CPU time advances only while a thread is on a CPU, so expiry is checked
// where the kernel sees CPU time pass: on every timer interrupt and context
// switch. While a timer is armed, ArmTimer keeps the LAPIC ticking at the
// timer's interval so a spinning thread is sampled.

const (
	maxCPUTimers = 64

	siTimer          = -2
	sigevSignal      = 0
	sigevNone        = 1
	sigevThreadID    = 4
	timerAbstimeFlag = 1
)

type cpuTimer struct {
	used     bool
	process  bool   // process CPU time (else thread CPU time of tid)
	tid      uint64 // measured thread (thread clock)
	target   uint64 // thread signalled (0: whichever runs)
	signo    int
	notify   int
	value    int64 // expiry, in the clock's ns; 0 when disarmed
	interval int64
	code     int
}

var (
	cpuTimers      [maxCPUTimers + 1]cpuTimer // index 0: setitimer's ITIMER_PROF
	procCPU        int64                      // CPU time of threads that left the CPU
	CPUTimersArmed int
)

// threadCPU returns t's consumed CPU time. Caller holds SchedLock.
func threadCPU(t uintptr) int64 {
	n := Th(t).cpuNS
	if t == CPU().Current {
		n += platform.Nanotime() - Th(t).OnCPU
	}
	return n
}

func processCPU() int64 {
	c := CPU().Current
	n := atomic.LoadInt64(&procCPU)
	if c != 0 {
		n += platform.Nanotime() - Th(c).OnCPU
	}
	return n
}

// CheckCPUTimers fires expired CPU-time timers. Caller holds SchedLock.
func CheckCPUTimers() {
	if CPUTimersArmed == 0 {
		return
	}
	for i := range cpuTimers {
		ct := &cpuTimers[i]
		if !ct.used || ct.value == 0 {
			continue
		}
		var now int64
		if ct.process {
			now = processCPU()
		} else {
			t := threadByTID(ct.tid)
			if t == 0 {
				continue
			}
			now = threadCPU(t)
		}
		if now < ct.value {
			continue
		}
		if ct.interval > 0 {
			ct.value = now + ct.interval
		} else {
			ct.value = 0
			CPUTimersArmed--
		}
		if ct.notify == sigevNone {
			continue
		}
		target := CPU().Current
		if ct.target != 0 {
			target = threadByTID(ct.target)
		}
		if target != 0 {
			Th(target).sigcode = int32(ct.code)
			sendSignal(target, ct.signo)
		}
	}
}

// cpuTimerTick is the shortest interval of an armed CPU-time timer (0 if
// none), the rate ArmTimer keeps the LAPIC firing at.
func cpuTimerTick() int64 {
	if CPUTimersArmed == 0 {
		return 0
	}
	tick := int64(0)
	for i := range cpuTimers {
		ct := &cpuTimers[i]
		if ct.used && ct.value != 0 {
			d := ct.interval
			if d == 0 {
				d = 1_000_000
			}
			if tick == 0 || d < tick {
				tick = d
			}
		}
	}
	if tick < 1_000_000 {
		tick = 1_000_000
	}
	return tick
}

func setCPUTimer(ct *cpuTimer, value, interval int64) {
	was := ct.value != 0
	ct.value, ct.interval = value, interval
	switch {
	case was && value == 0:
		CPUTimersArmed--
	case !was && value != 0:
		CPUTimersArmed++
	}
	ArmTimer()
}

func timevalNS(p uintptr) int64  { v := kctx.At[[2]int64](p); return v[0]*1e9 + v[1]*1000 }
func timespecNS(p uintptr) int64 { v := kctx.At[[2]int64](p); return v[0]*1e9 + v[1] }

// cpuTimerSyscall serves setitimer, getitimer and the timer_* calls.
func cpuTimerSyscall(f *rt.Frame) (int64, bool) {
	// One lock around the whole call: a defer per branch would not be
	// open-coded, and non-open-coded defers need the runtime.
	kctx.SchedLock.Lock()
	r, ok := cpuTimerSyscallLocked(f)
	kctx.SchedLock.Unlock()
	return r, ok
}

func cpuTimerSyscallLocked(f *rt.Frame) (int64, bool) {
	a0, a1, a2, a3 := uintptr(f.RDI), uintptr(f.RSI), uintptr(f.RDX), uintptr(f.R10)
	switch f.RAX {
	case abi.NRSetitimer, abi.NRGetitimer: // (which, new, old), (which, cur)
		which := int(a0)
		if which != 1 && which != 2 { // ITIMER_VIRTUAL, ITIMER_PROF
			return -abi.EINVAL, true
		}
		oldp := a2
		if f.RAX == abi.NRGetitimer {
			oldp = a1
		}
		ct := &cpuTimers[0]
		if oldp != 0 {
			if !mm.UserOK(oldp, 32, true) {
				return -abi.EFAULT, true
			}
			left := int64(0)
			if ct.value != 0 {
				left = ct.value - processCPU()
			}
			*kctx.At[[4]int64](oldp) = [4]int64{ct.interval / 1e9, ct.interval % 1e9 / 1000, left / 1e9, left % 1e9 / 1000}
		}
		if f.RAX == abi.NRSetitimer && a1 != 0 {
			if !mm.UserOK(a1, 32, false) {
				return -abi.EFAULT, true
			}
			interval, value := timevalNS(a1), timevalNS(a1+16)
			ct.used, ct.process, ct.target, ct.signo, ct.notify, ct.code = true, true, 0, sigPROF, sigevSignal, SiKernel
			if which == 1 {
				ct.signo = 26 // SIGVTALRM
			}
			if value > 0 {
				value += processCPU()
			}
			setCPUTimer(ct, value, interval)
		}
		return 0, true
	case abi.NRTimerCreate: // (clock, sevp, timerid)
		clock := int(int32(a0))
		if clock != clockThreadCputime && clock != clockProcessCputime {
			return -abi.EINVAL, true
		}
		signo, notify, tid := sigALRM, sigevSignal, uint64(0)
		if a1 != 0 {
			if !mm.UserOK(a1, 20, false) {
				return -abi.EFAULT, true
			}
			signo = int(*kctx.At[int32](a1 + 8))
			notify = int(*kctx.At[int32](a1 + 12))
			tid = uint64(*kctx.At[int32](a1 + 16))
		}
		if signo < 1 || signo > 64 || (notify != sigevSignal && notify != sigevNone && notify != sigevThreadID) {
			return -abi.EINVAL, true
		}
		if !mm.UserOK(a2, 4, true) {
			return -abi.EFAULT, true
		}
		if notify == sigevThreadID && threadByTID(tid) == 0 {
			return -abi.EINVAL, true
		}
		for i := 1; i < len(cpuTimers); i++ {
			ct := &cpuTimers[i]
			if ct.used {
				continue
			}
			*ct = cpuTimer{used: true, process: clock == clockProcessCputime, tid: Current().Tid,
				signo: signo, notify: notify, code: siTimer}
			if notify == sigevThreadID {
				ct.target = tid
			}
			*kctx.At[int32](a2) = int32(i)
			return 0, true
		}
		return -abi.EAGAIN, true
	case abi.NRTimerSettime, abi.NRTimerGettime, abi.NRTimerGetoverrun, abi.NRTimerDelete:
		id := int(int32(a0))
		if id < 1 || id >= len(cpuTimers) || !cpuTimers[id].used {
			return -abi.EINVAL, true
		}
		ct := &cpuTimers[id]
		now := processCPU()
		if !ct.process {
			if t := threadByTID(ct.tid); t != 0 {
				now = threadCPU(t)
			}
		}
		switch f.RAX {
		case abi.NRTimerGetoverrun:
			return 0, true
		case abi.NRTimerDelete:
			setCPUTimer(ct, 0, 0)
			ct.used = false
			return 0, true
		}
		oldp := a3
		if f.RAX == abi.NRTimerGettime {
			oldp = a1
		}
		if oldp != 0 {
			if !mm.UserOK(oldp, 32, true) {
				return -abi.EFAULT, true
			}
			left := int64(0)
			if ct.value != 0 {
				left = ct.value - now
			}
			*kctx.At[[4]int64](oldp) = [4]int64{ct.interval / 1e9, ct.interval % 1e9, left / 1e9, left % 1e9}
		}
		if f.RAX == abi.NRTimerSettime {
			if !mm.UserOK(a2, 32, false) {
				return -abi.EFAULT, true
			}
			interval, value := timespecNS(a2), timespecNS(a2+16)
			if value > 0 && int(a1)&timerAbstimeFlag == 0 {
				value += now
			}
			setCPUTimer(ct, value, interval)
		}
		return 0, true
	}
	return 0, false
}
