package task

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/rt"
)

// Which signals the kernel supports, and what it does with the rest.
//
// Every signal number 1-64 is supported as far as the program itself is
// concerned: rt_sigaction records a handler for any of them (SIGKILL and
// SIGSTOP excepted, as on Linux), and kill/tkill/tgkill deliver any of them
// to the program's handler, or apply its default action. Installing a
// handler for a signal nothing in the VM will ever raise (SIGHUP, SIGINT,
// SIGTERM, SIGCHLD, SIGWINCH, ...) therefore succeeds, as on Linux, where
// a process may also simply never receive them.
//
// What the kernel does not support are the operations whose whole point is
// a signal it can never produce, so that a program relying on them would
// wait forever:
//
//   - real-time interval timers: setitimer(ITIMER_REAL) and alarm(2)
//     (SIGALRM), and timer_create on a clock other than the CPU-time ones
//     with signal notification; the CPU-time timers (ITIMER_PROF,
//     ITIMER_VIRTUAL, timer_create on CPU clocks) are supported;
//   - stopping: SIGSTOP, and SIGTSTP/SIGTTIN/SIGTTOU with their default
//     action, would stop the one process with nothing left to continue
//     it.
//
// Those fail with EINVAL, and the first failure of each kind is reported on
// the console, so a program that ignores the error still leaves a trace of
// why it is waiting. Disarming such a timer (a zero value) is harmless and
// succeeds.

const (
	itimerReal = 0
	sigTSTP    = 20
	sigTTIN    = 21
	sigTTOU    = 22
)

// Kinds of unsupported operation, each reported once.
const (
	unsupItimerReal = iota
	unsupAlarm
	unsupTimerClock
	unsupStop
	unsupKinds
)

var unsupportedSeen [unsupKinds]bool

// refuseUnsupported reports an unsupported signal operation the first time
// its kind is seen and returns -EINVAL.
func refuseUnsupported(kind int, what string) int64 {
	if !unsupportedSeen[kind] {
		unsupportedSeen[kind] = true
		kctx.Print("unigo: ")
		kctx.Print(what)
		kctx.Print(": EINVAL\n")
	}
	return -abi.EINVAL
}

// unsupportedSignalOp refuses the operations described above and reports
// whether it did (with the result for the frame's RAX).
func unsupportedSignalOp(f *rt.Frame) (int64, bool) {
	kctx.SchedLock.Lock() // serialises the reports
	r, ok := unsupportedSignalOpLocked(f)
	kctx.SchedLock.Unlock()
	return r, ok
}

func unsupportedSignalOpLocked(f *rt.Frame) (int64, bool) {
	switch f.RAX {
	case abi.NRGetitimer, abi.NRSetitimer:
		if f.RDI != itimerReal {
			return 0, false
		}
		if f.RAX == abi.NRSetitimer && f.RSI != 0 {
			if !mm.UserOK(uintptr(f.RSI), 32, false) {
				return -abi.EFAULT, true
			}
			if timevalNS(uintptr(f.RSI)+16) != 0 {
				return refuseUnsupported(unsupItimerReal, "setitimer(ITIMER_REAL): SIGALRM timers are not supported"), true
			}
		}
		// Reading or disarming the (never armed) real timer: zeros.
		oldp := uintptr(f.RDX)
		if f.RAX == abi.NRGetitimer {
			oldp = uintptr(f.RSI)
		}
		if oldp != 0 {
			if !mm.UserOK(oldp, 32, true) {
				return -abi.EFAULT, true
			}
			*kctx.At[[4]int64](oldp) = [4]int64{}
		}
		return 0, true
	case abi.NRAlarm:
		if uint32(f.RDI) != 0 {
			return refuseUnsupported(unsupAlarm, "alarm: SIGALRM timers are not supported"), true
		}
		return 0, true
	case abi.NRTimerCreate: // (clock, sevp, timerid)
		clock := int(int32(f.RDI))
		if clock == clockThreadCputime || clock == clockProcessCputime || clock < 0 {
			return 0, false
		}
		if _, known := clockNow(clock); !known {
			return 0, false // invalid clock: EINVAL, as on Linux
		}
		notify := sigevSignal
		if f.RSI != 0 && mm.UserOK(uintptr(f.RSI), 16, false) {
			notify = int(*kctx.At[int32](uintptr(f.RSI) + 12))
		}
		if notify != sigevNone {
			return refuseUnsupported(unsupTimerClock, "timer_create: signals from timers on clocks other than CPU time are not supported"), true
		}
	}
	return 0, false
}

// refuseStop refuses a signal that would stop the process (sendTo, once
// the target exists). Caller holds SchedLock.
func refuseStop() int64 {
	return refuseUnsupported(unsupStop, "kill/tgkill: stop signals are not supported (nothing could continue the process)")
}

// Stops reports whether sig would stop the process: SIGSTOP always, the
// terminal stop signals with their default action.
func Stops(sig int) bool {
	switch sig {
	case sigSTOP:
		return true
	case sigTSTP, sigTTIN, sigTTOU:
		return sigactions[sig][0] == sigDFL
	}
	return false
}
