package kernel

import (
	"math/bits"
	"sync/atomic"
	_ "unsafe" // go:linkname

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/kernel/platform"
	"github.com/unigo-os/unigo/rt"
)

// kernelTrap is rt's kernelTrap: every kernel entry (system call,
// exception, interrupt) arrives here at CPL 3 with IF=0, on the current
// thread's kernel stack, with the interrupted context in f.
//
//go:linkname kernelTrap github.com/unigo-os/unigo/rt.kernelTrap
func kernelTrap(f *rt.Frame) {
	c := cpu()
	cur := c.Current
	fa := kctx.PtrOf(f)
	if cur == 0 || fa < th(cur).kstack || fa >= th(cur).kstack+kstackSize {
		kernelFault(f)
	}
	rewindSyscallEntry(f)
	switch {
	case f.Vector == rt.VecSyscall:
		thisCPU().stats[statSyscalls]++
		countSyscall(f.RAX)
		dispatchSyscall(f)
	case f.Vector == 14: // #PF
		thisCPU().stats[statFaults]++
		pageFault(f)
	case f.Vector == rt.VecPending:
		handlePending(atomic.SwapUint64(&c.Pending, 0))
		preempt()
	case f.Vector >= 32:
		handleIRQ(int(f.Vector))
		preempt()
	default:
		sig, code := exceptionSignal(f.Vector)
		faultSignal(f, sig, code, f.RIP)
	}
	deliverPending(f)
	prepareReturn(f)
}

// prepareReturn makes sure the resumed context's stack can take the two
// words the CPL-3 return path (rt's cpl3Syscall) writes just below its
// stack pointer: a fault there would hit the kernel.
func prepareReturn(f *rt.Frame) {
	if sp := uintptr(f.RSP) - 16; rt.CPL3Mode() && !mm.UserWritableNow(sp, 16) {
		mm.UserOK(sp, 16, true)
	}
}

// exceptionSignal maps a CPU exception to the signal Linux raises for it.
func exceptionSignal(v uint64) (sig, code int) {
	switch v {
	case 0:
		return sigFPE, fpeIntdiv
	case 1, 3:
		return sigTRAP, trapBrkpt
	case 6:
		return sigILL, illIllopn
	case 16, 19:
		return sigFPE, 0
	case 17:
		return sigBUS, busAdrerr
	}
	return sigSEGV, siKernel // #GP and friends
}

// handlePending dispatches the interrupts taken while idle (bit v-32),
// highest vector first: an EOI ends the highest vector in service, so in
// this order each handler's EOI ends its own vector. Caller holds no lock.
func handlePending(mask uint64) {
	for mask != 0 {
		b := 63 - bits.LeadingZeros64(mask)
		mask &^= 1 << uint(b)
		handleIRQ(b + 32)
	}
}

// handleIRQ handles one interrupt vector. Caller holds no lock: the
// handlers that need SchedLock take it.
func handleIRQ(v int) {
	st := &thisCPU().stats
	switch {
	case v == vecTimer:
		st[statIRQTimer]++
		armed := thisCPU().armed
		thisCPU().armed = 0       // one-shot: it fired
		if noteEOIAtDelivery(v) { // host.go
			kctx.SchedLock.Lock()
			levelToEdge()
			kctx.SchedLock.Unlock()
		}
		now, next := platform.Nanotime(), timerNext.Load()
		if now < armed {
			st[statTimerEarly]++ // a fire from before the last re-arm
		}
		if (next != 0 && next <= now) || cpuTimersArmed != 0 {
			kctx.SchedLock.Lock()
			expireTimers(now)
			checkCPUTimers()
			kctx.SchedLock.Unlock()
		}
		lapicEOI()
		armTimer()
	case v == vecTLB:
		st[statIRQTLB]++
		serviceTLB()
		lapicEOI()
	case v == vecResched:
		// Work was queued here, or a signal is pending: re-arm for the
		// end of the running slice; kernelTrap delivers signals.
		st[statIRQResched]++
		lapicEOI()
		armTimer()
	case v == vecSpurious:
	case v >= vecIRQBase && v < vecIRQBase+maxIRQLines:
		st[statIRQDevice]++
		kctx.SchedLock.Lock()
		irqDispatch(v - vecIRQBase)
		kctx.SchedLock.Unlock()
		lapicEOI()
	default:
		lapicEOI()
	}
}

// irqDispatch handles IOAPIC pin irq.
func irqDispatch(irq int) {
	if irq == 4 {
		consoleIRQ()
		return
	}
	if irq == abi.IRQHostSignal && hostSigOn {
		hostSignalIRQ() // hostsignal.go
		return
	}
	deviceIRQ(irq)
}

func exceptionName(v uint64) string {
	switch v {
	case 0:
		return "divide error"
	case 1:
		return "debug"
	case 3:
		return "breakpoint"
	case 6:
		return "invalid opcode"
	case 13:
		return "general protection fault"
	case 14:
		return "page fault"
	case 16:
		return "x87 floating-point error"
	case 17:
		return "alignment check"
	case 19:
		return "SIMD floating-point error"
	}
	return "exception"
}

// crashRecord is handed to the monitor through abi.PortCrash.
var crashRecord abi.CrashRecord

// reportCrash fills crashRecord from f and passes it to the monitor (the
// unigo launcher prints a symbolized report; QEMU ignores the port).
func reportCrash(f *rt.Frame, msg string) {
	r := &crashRecord
	r.Magic = abi.CrashMagic
	r.Vector = f.Vector
	r.Error = f.ErrorCode
	r.CR2 = f.CR2
	r.RIP = f.RIP
	r.RSP = f.RSP
	r.RFLAGS = f.RFLAGS
	r.Regs = [16]uint64{f.RAX, f.RCX, f.RDX, f.RBX, f.RSP, f.RBP, f.RSI, f.RDI,
		f.R8, f.R9, f.R10, f.R11, f.R12, f.R13, f.R14, f.R15}
	r.MsgLen = uint64(copy(r.Msg[:], msg))
	rt.Outl(abi.PortCrash, uint32(kctx.PtrOf(r)))
}

// kernelFault reports a fault inside the kernel (the frame is on the
// crash stack) and ends the VM.
func kernelFault(f *rt.Frame) {
	kctx.ConsoleCrash()
	kctx.Print("\nunigo: kernel fault: ")
	kctx.Print(exceptionName(f.Vector))
	kctx.Print(" vector=")
	kctx.PrintDec(f.Vector)
	kctx.Print(" rip=")
	kctx.PrintHex(f.RIP)
	kctx.Print(" rsp=")
	kctx.PrintHex(f.RSP)
	kctx.Print(" cr2=")
	kctx.PrintHex(f.CR2)
	kctx.Print(" err=")
	kctx.PrintHex(f.ErrorCode)
	kctx.Print("\n")
	// Frame-pointer backtrace of the kernel stack.
	bp := uintptr(f.RBP)
	for i := 0; i < 16 && bp >= 0x1000 && bp+16 <= platform.RAMTop && bp&7 == 0; i++ {
		ret := *kctx.At[uint64](bp + 8)
		kctx.Print("  at ")
		kctx.PrintHex(ret)
		kctx.Print("\n")
		bp = uintptr(*kctx.At[uint64](bp))
	}
	reportCrash(f, "kernel fault")
	exitVM(70)
}
