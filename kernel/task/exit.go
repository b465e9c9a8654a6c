package task

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/spinlock"
	"github.com/unigo-os/unigo/rt"
)

// Ending the program. exit_group powers the VM off, but first the
// netstack gets to deliver what the program's sockets hold, as Linux
// goes on sending a process's data after it exits (the flush hook the
// kernel installs with SetHooks). The netstack is goroutines of the same runtime, and the exiting goroutine
// entered exit_group from runtime.exit holding its P, so the kernel must
// not wait there: exit_group returns into rt's exit trampoline, which
// puts the goroutine in a system call the scheduler knows about and
// waits in SysExitFlush instead (the full argument is in rt/exit.go).
//
// Invariants: exitStarted and exitCode are set once, by the first
// exit_group from a goroutine; the first SysExitFlush after it flushes
// and powers off; every later exit_group or SysExitFlush from a goroutine
// parks for good (the VM ends with the first). An exit_group made on a
// system stack powers off at once with its own code: that is the
// runtime dying (fatal panic, throw, fatal signal), and the netstack may
// be what is broken.

// g0StackSize is the size of the g0 stack the runtime gives an M it
// starts (malg(16384) in newm, without the race detector).
const g0StackSize = 16 << 10

var (
	exitLock     spinlock.Lock
	exitStarted  bool
	exitFlushing bool
	exitCode     int
)

func doExitGroup(f *rt.Frame, code int) int64 {
	if !netAttachedHook() || onSystemStack(Current(), f.RSP) {
		exitVMHook(code)
	}
	exitLock.Lock()
	if !exitStarted {
		exitStarted, exitCode = true, code
	}
	exitLock.Unlock()
	f.RIP = uint64(rt.ExitFlushPC())
	return 0
}

func doExitFlush() int64 {
	exitLock.Lock()
	started, first, code := exitStarted, exitStarted && !exitFlushing, exitCode
	if first {
		exitFlushing = true
	}
	exitLock.Unlock()
	if !started {
		return -abi.EINVAL
	}
	if first {
		flushAtExitHook()
		exitVMHook(code)
	}
	kctx.SchedLock.Lock()
	for {
		block(0) // the first exiting thread powers the VM off
	}
}

// onSystemStack reports whether sp lies on one of t's system stacks: its
// g0 stack or its signal stack.
func onSystemStack(t *thread, sp uint64) bool {
	if t.SysStackHi != 0 && sp >= t.SysStackLo && sp <= t.SysStackHi {
		return true
	}
	return t.altSP != 0 && sp >= t.altSP && sp <= t.altSP+t.altSize
}
