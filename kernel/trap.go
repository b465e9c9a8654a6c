package kernel

import (
	"math/bits"
	"sync/atomic"
	_ "unsafe" // go:linkname

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/platform"
	"github.com/unigo-os/unigo/kernel/syscalls"
	"github.com/unigo-os/unigo/kernel/task"
	"github.com/unigo-os/unigo/kernel/vcon"
	"github.com/unigo-os/unigo/kernel/vfs"
	"github.com/unigo-os/unigo/kernel/vm"
	"github.com/unigo-os/unigo/rt"
)

// kernelTrap is rt's kernelTrap: every kernel entry (system call,
// exception, interrupt) arrives here at CPL 3 with IF=0, on the current
// thread's kernel stack, with the interrupted context in f.
//
//go:linkname kernelTrap github.com/unigo-os/unigo/rt.kernelTrap
func kernelTrap(f *rt.Frame) {
	c := task.CPU()
	cur := c.Current
	fa := kctx.PtrOf(f)
	if cur == 0 || fa < task.Th(cur).KStack || fa >= task.Th(cur).KStack+task.KStackSize {
		kernelFault(f)
	}
	rewindSyscallEntry(f)
	switch {
	case f.Vector == rt.VecSyscall:
		task.ThisCPU().Stats[task.StatSyscalls]++
		syscalls.Count(f.RAX)
		syscalls.Dispatch(f)
		task.HandOff()
	case f.Vector == 14: // #PF
		task.ThisCPU().Stats[task.StatFaults]++
		vm.PageFault(f)
	case f.Vector == rt.VecPending:
		handlePending(atomic.SwapUint64(&c.Pending, 0))
		task.Preempt()
		task.HandOff()
	case f.Vector >= 32:
		handleIRQ(int(f.Vector))
		task.Preempt()
		task.HandOff()
	default:
		sig, code := exceptionSignal(f.Vector)
		task.FaultSignal(f, sig, code, f.RIP)
	}
	task.DeliverPending(f)
	task.PrepareReturn(f)
}

// exceptionSignal maps a CPU exception to the signal Linux raises for it.
func exceptionSignal(v uint64) (sig, code int) {
	switch v {
	case 0:
		return task.SigFPE, task.FpeIntdiv
	case 1, 3:
		return task.SigTRAP, task.TrapBrkpt
	case 6:
		return task.SigILL, task.IllIllopn
	case 16, 19:
		return task.SigFPE, 0
	case 17:
		return task.SigBUS, task.BusAdrerr
	}
	return task.SigSEGV, task.SiKernel // #GP and friends
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
	st := &task.ThisCPU().Stats
	switch {
	case v == task.VecTimer:
		st[task.StatIRQTimer]++
		armed := task.ThisCPU().Armed
		task.ThisCPU().Armed = 0  // one-shot: it fired
		if noteEOIAtDelivery(v) { // host.go
			kctx.SchedLock.Lock()
			levelToEdge()
			kctx.SchedLock.Unlock()
		}
		now, next := platform.Nanotime(), task.TimerNext.Load()
		if now < armed {
			st[task.StatTimerEarly]++ // a fire from before the last re-arm
		}
		if (next != 0 && next <= now) || task.CPUTimersArmed != 0 {
			kctx.SchedLock.Lock()
			task.ExpireTimers(now)
			task.CheckCPUTimers()
			kctx.SchedLock.Unlock()
		}
		lapicEOI()
		task.ArmTimer()
	case v == task.VecTLB:
		st[task.StatIRQTLB]++
		task.ServiceTLB()
		lapicEOI()
	case v == task.VecResched:
		// Work was queued here, or a signal is pending: re-arm for the
		// end of the running slice; kernelTrap delivers signals.
		st[task.StatIRQResched]++
		task.ReschedReceived() // before anything looks at the queues
		lapicEOI()
		task.ArmTimer()
	case v == task.VecSpurious:
	case v >= task.VecIRQBase && v < task.VecIRQBase+maxIRQLines:
		st[task.StatIRQDevice]++
		kctx.SchedLock.Lock()
		irqDispatch(v - task.VecIRQBase)
		kctx.SchedLock.Unlock()
		lapicEOI()
	default:
		lapicEOI()
	}
}

// lapicEOI signals the end of the interrupt being handled on this CPU.
// On a host that ends interrupts on delivery (PVM: host.go) there is
// nothing in service to end, and the write — a trapped, emulated service
// there — is skipped.
func lapicEOI() {
	if eoiAtDelivery.Load() == eoiByHost {
		return
	}
	task.ThisCPU().Stats[task.StatEOIWrites]++
	task.APICWrite(task.APICEOI, 0)
}

// irqDispatch handles IOAPIC pin irq.
func irqDispatch(irq int) {
	if irq == 4 {
		vfs.ConsoleIRQ()
		return
	}
	if vcon.Dev.Active && uint32(irq) == vcon.Dev.GSI {
		vcon.Dev.Interrupt()
		vfs.ConsoleIRQ()
		return
	}
	if irq == abi.IRQHostSignal && hostSigOn {
		hostSignalIRQ() // hostsignal.go
		return
	}
	deviceIRQ(irq)
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
	kctx.Print(task.ExceptionName(f.Vector))
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
	syscalls.ExitVM(70)
}
