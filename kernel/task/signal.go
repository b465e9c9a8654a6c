package task

import (
	"sync/atomic"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/rt"
)

// Signals. The kernel delivers signals to the handlers the runtime
// installed (rt_sigaction) with Linux's x86-64 rt_sigframe, so Go's own
// machinery works unchanged: faults become panics (sigpanic), SIGURG from
// tgkill drives asynchronous preemption, and rt_sigreturn resumes exactly
// the context the handler left in its ucontext.
//
// A signal is delivered when its thread next leaves the kernel
// (DeliverPending, at the end of kernelTrap): a synchronous fault right
// away, a signal sent to another thread when that thread next runs.

const (
	sigHUP   = 1
	SigILL   = 4
	SigTRAP  = 5
	sigABRT  = 6
	SigBUS   = 7
	SigFPE   = 8
	sigKILL  = 9
	SigSEGV  = 11
	sigPIPE  = 13
	sigALRM  = 14
	sigTERM  = 15
	sigCHLD  = 17
	sigCONT  = 18
	sigSTOP  = 19
	sigURG   = 23
	sigPROF  = 27
	sigWINCH = 28

	saSiginfo   = 0x4
	saOnstack   = 0x08000000
	saRestart   = 0x10000000
	saNodefer   = 0x40000000
	saResethand = 0x80000000
	saRestorer  = 0x04000000

	sigDFL = 0
	sigIGN = 1

	ssOnstack = 1
	ssDisable = 2

	// si_code values.
	siUser     = 0
	SiKernel   = 0x80
	siTkill    = -6
	SegvMaperr = 1
	SegvAccerr = 2
	FpeIntdiv  = 1
	IllIllopn  = 2
	BusAdrerr  = 2
	TrapBrkpt  = 1

	ucFPXstate = 1

	// Layout of the frame (Linux's struct rt_sigframe on x86-64).
	sfPretcode   = 0
	sfUcontext   = 8
	ucFlags      = 0
	ucLink       = 8
	ucStack      = 16        // stack_t: sp, flags(+pad), size
	ucMcontext   = 40        // struct sigcontext, 256 bytes
	ucSigmask    = 296       // 8 bytes
	ucSize       = 304 + 128 // plus __fpregs_mem/padding the kernel reserves
	sfInfo       = sfUcontext + ucSize
	siginfoSize  = 128
	sigframeSize = sfInfo + siginfoSize

	// struct sigcontext field offsets (within uc_mcontext).
	scR8, scR9, scR10, scR11   = 0, 8, 16, 24
	scR12, scR13, scR14, scR15 = 32, 40, 48, 56
	scRDI, scRSI, scRBP, scRBX = 64, 72, 80, 88
	scRDX, scRAX, scRCX, scRSP = 96, 104, 112, 120
	scRIP, scEFLAGS            = 128, 136
	scCSGSFS                   = 144 // cs, gs, fs, ss (u16 each)
	scErr, scTrapno, scOldmask = 152, 160, 168
	scCR2, scFpstate           = 176, 184

	redZone = 128
)

// sendSignal marks sig pending on thread t. Caller holds SchedLock.
// The pending set is updated atomically: the target thread may be taking
// a signal out of it (DeliverPending) on another CPU at the same time.
func sendSignal(t uintptr, sig int) {
	atomic.OrUint64(&Th(t).sigpending, 1<<uint(sig-1))
}

// DeliverPending delivers one pending, unblocked signal of the current
// thread into f (and so to user mode when f is resumed).
func DeliverPending(f *rt.Frame) {
	t := Current()
	ready := atomic.LoadUint64(&t.sigpending) &^ t.sigmask
	if ready == 0 {
		return
	}
	sig := 1
	for ready&1 == 0 {
		ready >>= 1
		sig++
	}
	atomic.AndUint64(&t.sigpending, ^uint64(1<<uint(sig-1)))
	code := siTkill
	if sig == sigPROF && t.sigcode != 0 {
		code = int(t.sigcode)
	}
	deliver(f, sig, code, 0, false)
}

// FaultSignal delivers the signal for a fault in user mode: the program's
// handler runs now; a blocked or default-handled fault ends the VM as it
// would end a Linux process.
func FaultSignal(f *rt.Frame, sig, code int, addr uint64) {
	deliver(f, sig, code, addr, true)
}

// deliver builds an rt_sigframe for sig on the user stack and points f at
// the handler. sync marks a fault: it cannot be ignored or blocked.
func deliver(f *rt.Frame, sig, code int, addr uint64, sync bool) {
	t := Current()
	act := &sigactions[sig]
	handler, flags, restorer, mask := act[0], act[1], act[2], act[3]
	blocked := t.sigmask&(1<<uint(sig-1)) != 0
	if handler == sigIGN && !sync {
		return
	}
	if handler == sigDFL || handler == sigIGN || (sync && blocked) {
		defaultAction(f, sig, sync)
		return
	}
	// Extended state at the interruption goes into the frame, so the
	// handler's rt_sigreturn can restore it.
	if f.Vector == rt.VecSyscall {
		rt.XSaveTo(t.Xsave)
	}

	sp := uintptr(f.RSP) - redZone
	onAlt := t.altSP != 0 && uintptr(f.RSP) > uintptr(t.altSP) && uintptr(f.RSP) <= uintptr(t.altSP+t.altSize)
	if flags&saOnstack != 0 && t.altSP != 0 && t.altFlags&ssDisable == 0 && !onAlt {
		sp = uintptr(t.altSP + t.altSize)
	}
	fpstate := (sp - XsaveSize) &^ 63
	frame := ((fpstate - sigframeSize) &^ 15) - 8
	if !mm.UserOK(frame, fpstate+XsaveSize-frame, true) {
		// No room for the frame: Linux kills the process with SIGSEGV.
		defaultAction(f, SigSEGV, true)
		return
	}
	copy(kctx.BytesAt(fpstate, int(XsaveSize)), kctx.BytesAt(t.Xsave, int(XsaveSize)))
	clear(kctx.BytesAt(frame, int(sigframeSize)))
	*kctx.At[uint64](frame + sfPretcode) = restorer

	uc := frame + sfUcontext
	*kctx.At[uint64](uc + ucFlags) = ucFPXstate
	*kctx.At[uint64](uc + ucStack) = t.altSP
	ssFlags := uint64(0)
	if t.altSP == 0 || t.altFlags&ssDisable != 0 {
		ssFlags = ssDisable
	} else if onAlt {
		ssFlags = ssOnstack
	}
	*kctx.At[uint64](uc + ucStack + 8) = ssFlags
	*kctx.At[uint64](uc + ucStack + 16) = t.altSize
	mc := uc + ucMcontext
	put := func(off uintptr, v uint64) { *kctx.At[uint64](mc + off) = v }
	put(scR8, f.R8)
	put(scR9, f.R9)
	put(scR10, f.R10)
	put(scR11, f.R11)
	put(scR12, f.R12)
	put(scR13, f.R13)
	put(scR14, f.R14)
	put(scR15, f.R15)
	put(scRDI, f.RDI)
	put(scRSI, f.RSI)
	put(scRBP, f.RBP)
	put(scRBX, f.RBX)
	put(scRDX, f.RDX)
	put(scRAX, f.RAX)
	put(scRCX, f.RCX)
	put(scRSP, f.RSP)
	put(scRIP, f.RIP)
	put(scEFLAGS, f.RFLAGS)
	put(scCSGSFS, uint64(rt.SelUserCode)|uint64(rt.SelUserData)<<48)
	put(scErr, f.ErrorCode)
	put(scTrapno, f.Vector&0xff)
	put(scOldmask, t.sigmask)
	put(scCR2, addr)
	put(scFpstate, uint64(fpstate))
	*kctx.At[uint64](uc + ucSigmask) = t.sigmask

	info := frame + sfInfo
	*kctx.At[int32](info) = int32(sig)
	*kctx.At[int32](info + 8) = int32(code)
	if sync {
		*kctx.At[uint64](info + 16) = addr
	} else {
		*kctx.At[int32](info + 16) = 1 // si_pid
	}

	if flags&saNodefer == 0 {
		t.sigmask |= 1 << uint(sig-1)
	}
	t.sigmask |= mask
	t.sigmask &^= 1<<(sigKILL-1) | 1<<(sigSTOP-1)
	if flags&saResethand != 0 {
		act[0] = sigDFL
	}

	f.RIP = handler
	f.RSP = uint64(frame)
	f.RDI = uint64(sig)
	f.RSI = uint64(info)
	f.RDX = uint64(uc)
	f.RAX = 0
	f.RFLAGS &^= 1<<8 | 1<<10 // TF, DF
	// The handler starts with the interrupted extended state; nothing to
	// restore from the save area on the way there.
	f.Vector = rt.VecSyscall
}

// SysRtSigreturn restores the context saved by deliver from the frame the
// handler returned through (its RET popped pretcode, so RSP points at the
// ucontext). It returns the restored RAX, which kernelTrap stores back.
func SysRtSigreturn(f *rt.Frame) int64 {
	t := Current()
	uc := uintptr(f.RSP)
	if !mm.UserOK(uc, ucSize, false) {
		defaultAction(f, SigSEGV, true)
		return int64(f.RAX)
	}
	mc := uc + ucMcontext
	get := func(off uintptr) uint64 { return *kctx.At[uint64](mc + off) }
	f.R8, f.R9, f.R10, f.R11 = get(scR8), get(scR9), get(scR10), get(scR11)
	f.R12, f.R13, f.R14, f.R15 = get(scR12), get(scR13), get(scR14), get(scR15)
	f.RDI, f.RSI, f.RBP, f.RBX = get(scRDI), get(scRSI), get(scRBP), get(scRBX)
	f.RDX, f.RAX, f.RCX, f.RSP = get(scRDX), get(scRAX), get(scRCX), get(scRSP)
	f.RIP = get(scRIP)
	// Only the flags user mode may change: CF PF AF ZF SF TF DF OF AC.
	const userFlags = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800 | 0x40000
	f.RFLAGS = f.RFLAGS&^userFlags | get(scEFLAGS)&userFlags | 0x202
	t.sigmask = *kctx.At[uint64](uc + ucSigmask) &^ (1<<(sigKILL-1) | 1<<(sigSTOP-1))
	if fp := uintptr(get(scFpstate)); fp != 0 && fp&63 == 0 && mm.UserOK(fp, XsaveSize, false) && validXSave(fp) {
		copy(kctx.BytesAt(t.Xsave, int(XsaveSize)), kctx.BytesAt(fp, int(XsaveSize)))
		f.Vector = rt.VecSignal
	}
	return int64(f.RAX)
}

// validXSave checks an XSAVE image from user memory before XRSTOR loads
// it: a bad header would fault inside the kernel.
func validXSave(p uintptr) bool {
	if XsaveSize <= 512 {
		return *kctx.At[uint32](p + 24)&0xffff0000 == 0 // MXCSR reserved bits
	}
	if *kctx.At[uint32](p + 24)&0xffff0000 != 0 {
		return false
	}
	bv := *kctx.At[uint64](p + 512)
	comp := *kctx.At[uint64](p + 520)
	return bv&^xsaveMask() == 0 && comp == 0
}

// defaultAction applies a signal's default disposition: ignore the ones
// Linux ignores, end the VM for the rest with the shell's status for a
// signal death (128+sig).
func defaultAction(f *rt.Frame, sig int, sync bool) {
	switch sig {
	case sigCHLD, sigURG, sigWINCH, sigCONT:
		if !sync {
			return
		}
	}
	kctx.Print("unigo: ")
	if sync {
		kctx.Print("fatal ")
		kctx.Print(ExceptionName(f.Vector))
		kctx.Print(" at rip=")
		kctx.PrintHex(f.RIP)
		kctx.Print(" addr=")
		kctx.PrintHex(f.CR2)
		kctx.Print(": ")
	}
	kctx.Print("killed by signal ")
	kctx.PrintDec(uint64(sig))
	kctx.Print("\n")
	exitVMHook(128 + sig)
}

// threadByTID finds a live thread. Caller holds SchedLock.
func threadByTID(tid uint64) uintptr {
	for t := allThreads; t != 0; t = Th(t).anext {
		if Th(t).Tid == tid && Th(t).State != threadDead {
			return t
		}
	}
	return 0
}

// Handlers: signals sent by the program, and the timers that raise them
// (cputimer.go, signal_unsupported.go).

func SysTkill(f *rt.Frame) int64  { return sendTo(f.RDI, int(f.RSI)) }
func SysTgkill(f *rt.Frame) int64 { return sendTo(f.RSI, int(f.RDX)) }

// SignalProcess directs sig at the process (a signal from the host): like
// Linux, at one thread that does not block it, preferring a running one; a
// thread asleep on a futex is woken (a spurious wake-up, which futex users
// tolerate) so that it takes the signal now. Caller holds SchedLock.
func SignalProcess(sig int) {
	bit := uint64(1) << uint(sig-1)
	var target, sleeper, any uintptr
	for t := allThreads; t != 0; t = Th(t).anext {
		if Th(t).State == threadDead || Th(t).sigmask&bit != 0 {
			continue
		}
		switch {
		case Th(t).State == ThreadRunning:
			target = t
		case sleeper == 0 && Th(t).State == threadBlocked && Th(t).futex != 0:
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
		sendSignal(target, sig)
		if int(Th(target).LastCPU) != cpuIndex() {
			SendResched(int(Th(target).LastCPU))
		}
	case sleeper != 0:
		sendSignal(sleeper, sig)
		futexDequeue(sleeper)
		Th(sleeper).woken = true
		wakeup(sleeper)
		ArmTimer()
	case any != 0:
		sendSignal(any, sig) // taken when it next leaves the kernel
	}
}

// SysKill serves kill(pid, sig): the one process is pid 1.
func SysKill(f *rt.Frame) int64 {
	if f.RDI != 1 && f.RDI != 0 && int64(f.RDI) != -1 {
		return -abi.ESRCH
	}
	return sendTo(Current().Tid, int(f.RSI))
}

// sysTimer serves getitimer, setitimer and timer_*: the SIGALRM timers
// are refused, the CPU-time ones served.
func sysTimer(f *rt.Frame) int64 {
	if r, ok := unsupportedSignalOp(f); ok {
		return r
	}
	r, _ := cpuTimerSyscall(f)
	return r
}

func SysGetitimer(f *rt.Frame) int64       { return sysTimer(f) }
func SysSetitimer(f *rt.Frame) int64       { return sysTimer(f) }
func SysTimerCreate(f *rt.Frame) int64     { return sysTimer(f) }
func SysTimerSettime(f *rt.Frame) int64    { return sysTimer(f) }
func SysTimerGettime(f *rt.Frame) int64    { return sysTimer(f) }
func SysTimerGetoverrun(f *rt.Frame) int64 { return sysTimer(f) }
func SysTimerDelete(f *rt.Frame) int64     { return sysTimer(f) }

// SysAlarm serves alarm(seconds): only alarm(0), which disarms nothing.
func SysAlarm(f *rt.Frame) int64 {
	r, _ := unsupportedSignalOp(f)
	return r
}

func sendTo(tid uint64, sig int) int64 {
	if sig < 0 || sig > 64 {
		return -abi.EINVAL
	}
	kctx.SchedLock.Lock()
	defer kctx.SchedLock.Unlock()
	t := threadByTID(tid)
	if t == 0 {
		return -abi.ESRCH
	}
	if sig == 0 {
		return 0
	}
	if Stops(sig) {
		return refuseStop()
	}
	sendSignal(t, sig)
	// A thread running on another CPU sees the signal when it next enters
	// the kernel: make that happen now (async preemption relies on it).
	if Th(t).State == ThreadRunning && int(Th(t).LastCPU) != cpuIndex() {
		SendResched(int(Th(t).LastCPU))
	}
	return 0
}
func xsaveMask() uint64 { return rt.XSaveMask() }

// ExceptionName is the name of CPU exception vector v, for reports.
func ExceptionName(v uint64) string {
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

// SignalWaiting reports whether the current thread has a signal pending
// that it does not block (a long copy in a system call stops short then).
func SignalWaiting() bool {
	t := Current()
	return atomic.LoadUint64(&t.sigpending)&^t.sigmask != 0
}
