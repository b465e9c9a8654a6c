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
	if !kctx.FlagParam(abi.HostSignalParam) {
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
			task.SignalProcess(sig)
		}
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
