package kernel

import (
	"sync/atomic"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/socket"
	"github.com/unigo-os/unigo/kernel/task"
	"github.com/unigo-os/unigo/rt"
)

// Host signals (abi.PortHostSignal): a signal the launcher receives, such
// as a container runtime's SIGTERM, becomes a process-directed signal in
// the guest, so that os/signal sees it; a program that does not ask for it
// dies of it as a Linux process would (Go's default: exit 128+sig).

// hostSigOn is set when the launcher offers host signals.
var hostSigOn bool

// hostSignalInit routes the launcher's interrupt and tells the launcher
// that signals will be delivered. kernelMain calls it once.
func hostSignalInit() {
	if _, on := kctx.KernelParam(abi.HostSignalParam, nil); !on {
		return
	}
	kctx.SchedLock.Lock()
	hostSigOn = true
	ioapicRoute(abi.IRQHostSignal)
	kctx.SchedLock.Unlock()
	rt.Outl(abi.PortHostSignal, abi.HostSignalArmed)
}

// hostSignalIRQ takes the launcher's pending signals. Caller holds
// kctx.SchedLock.
func hostSignalIRQ() {
	for {
		sig := int(rt.Inl(abi.PortHostSignal))
		if sig <= 0 || sig > 64 {
			return
		}
		if !task.Stops(sig) {
			hostSignal(sig)
		}
	}
}

// hostSignal directs sig at the process: like Linux, at one thread that
// does not block it, preferring a running one; a thread asleep on a futex
// is woken (a spurious wake-up, which futex users tolerate) so that it
// takes the signal now. Caller holds kctx.SchedLock.
func hostSignal(sig int) {
	bit := uint64(1) << uint(sig-1)
	var target, sleeper, any uintptr
	for t := task.AllThreads; t != 0; t = task.Th(t).Anext {
		if task.Th(t).State == task.ThreadDead || task.Th(t).Sigmask&bit != 0 {
			continue
		}
		switch {
		case task.Th(t).State == task.ThreadRunning:
			target = t
		case sleeper == 0 && task.Th(t).State == task.ThreadBlocked && task.Th(t).Futex != 0:
			sleeper = t
		case any == 0:
			any = t
		}
		if target != 0 {
			break
		}
	}
	switch {
	case target != 0:
		task.SendSignal(target, sig)
		if int(task.Th(target).LastCPU) != task.CPUIndex() {
			task.SendIPI(task.Cpus[task.Th(target).LastCPU].APICID, task.VecResched)
		}
	case sleeper != 0:
		task.SendSignal(sleeper, sig)
		task.FutexDequeue(sleeper)
		task.Th(sleeper).Woken = true
		task.Wakeup(sleeper)
		task.ArmTimer()
	case any != 0:
		task.SendSignal(any, sig) // taken when it next leaves the kernel
	}
}

// hostReadySent is set once the launcher has been told the guest is ready;
// readyDeferred once the program said it will tell it itself.
var hostReadySent, readyDeferred atomic.Bool

// hostReady tells the launcher, once, that the program is ready.
func hostReady() {
	if hostSigOn && hostReadySent.CompareAndSwap(false, true) {
		rt.Outl(abi.PortHostSignal, abi.HostReady)
	}
}

// sysReady serves abi.SysReady (package notify).
func sysReady(f *rt.Frame) int64 {
	switch f.RDI {
	case abi.ReadyDefer:
		readyDeferred.Store(true)
	case abi.ReadyNow:
		hostReady()
	default:
		return -abi.EINVAL
	}
	return 0
}

// hostListening reports readiness (abi.HostReady) when fd, which now
// listens, is the program's first listening inet socket, unless the
// program deferred readiness to its own call.
func hostListening(fd int) {
	if !hostSigOn || hostReadySent.Load() || readyDeferred.Load() {
		return
	}
	if inet, ok := socket.IsInet(fd); ok && inet {
		hostReady()
	}
}
