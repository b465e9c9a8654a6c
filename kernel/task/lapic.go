package task

import (
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/kernel/platform"
	"github.com/unigo-os/unigo/rt"
)

// Local APIC: x2APIC (MSR access) when the CPU has it, else xAPIC MMIO at
// 0xfee00000. The timer runs in TSC-deadline mode (LVT timer mode 2) and
// falls back to one-shot mode calibrated against the TSC.
const (
	VecTimer    = 32
	VecIRQBase  = 48 // IOAPIC pin n -> vector 48+n
	VecSpurious = 0xff

	APICID     = 0x02
	APICEOI    = 0x0b
	apicSVR    = 0x0f
	apicLVTT   = 0x32
	apicLVT0   = 0x35
	apicTICR   = 0x38
	apicTCCR   = 0x39
	apicTDCR   = 0x3e
	xapicBase  = 0xfee00000
	IOAPICBase = 0xfec00000
)

var (
	X2APIC      bool
	tscDeadline bool
	apicHz      uint64 // one-shot mode: timer ticks per second
)

func APICWrite(reg uint32, v uint32) {
	if X2APIC {
		rt.Wrmsr(0x800+reg, uint64(v))
		return
	}
	*kctx.At[uint32](uintptr(xapicBase + reg*16)) = v
}

func APICRead(reg uint32) uint32 {
	if X2APIC {
		return uint32(rt.Rdmsr(0x800 + reg))
	}
	return *kctx.At[uint32](uintptr(xapicBase + reg*16))
}

func LAPICInit() {
	_, _, c, _ := rt.Cpuid(1, 0)
	X2APIC = c&(1<<21) != 0
	tscDeadline = c&(1<<24) != 0
	base := rt.Rdmsr(rt.MSRApicBase)
	if X2APIC {
		rt.Wrmsr(rt.MSRApicBase, base|1<<11|1<<10)
	} else {
		rt.Wrmsr(rt.MSRApicBase, base|1<<11)
		mm.MapDevice(xapicBase)
	}
	APICWrite(apicSVR, 0x100|VecSpurious)
	// KVM resets the boot CPU's LINT0 to ExtINT: the 8259 PIC, which
	// nobody programs, would deliver ISA interrupts as vectors 0-15
	// (exceptions). Interrupts come through the IOAPIC only.
	APICWrite(apicLVT0, 1<<16)
	if tscDeadline {
		APICWrite(apicLVTT, VecTimer|2<<17)
	} else {
		APICWrite(apicTDCR, 0x3)            // divide by 16
		APICWrite(apicLVTT, VecTimer|1<<16) // masked while calibrating
		APICWrite(apicTICR, 0xffffffff)
		t0 := platform.Nanotime()
		for platform.Nanotime()-t0 < 10_000_000 {
		}
		apicHz = uint64(0xffffffff-APICRead(apicTCCR)) * 100
		APICWrite(apicTICR, 0)
		APICWrite(apicLVTT, VecTimer)
	}
}

// lapicEarlyEnough reports whether the timer, armed for armed and its
// interrupt not yet handled, may be left alone when deadline (0: none) is
// wanted. It may if it fires no later than needed, or has already fired
// (its interrupt is pending, or deferred while the kernel runs): the
// handler re-arms for what is wanted then. Rewriting it instead would
// cost a trapped MSR write and, after a fire, an interrupt that comes
// early for the new deadline and re-arms again.
func lapicEarlyEnough(armed, deadline int64) bool {
	return armed != 0 && (deadline == 0 || deadline > armed || armed <= platform.Nanotime())
}

// lapicDeadline arms the timer for monotonic time deadline (0: disarm).
func lapicDeadline(deadline int64) {
	ci := ThisCPU()
	if deadline == ci.Armed || lapicEarlyEnough(ci.Armed, deadline) {
		ci.Stats[statTimerSkips]++
		return
	}
	ci.Armed = deadline
	ci.Stats[statTimerArms]++
	if deadline == 0 {
		if tscDeadline {
			rt.Wrmsr(rt.MSRTSCDeadline, 0)
		} else {
			APICWrite(apicTICR, 0)
		}
		return
	}
	delta := deadline - platform.Nanotime()
	if delta < 1000 {
		delta = 1000
	}
	if delta > 1_000_000_000 {
		delta = 1_000_000_000 // re-armed when it fires; keeps products in range
	}
	if tscDeadline {
		rt.Wrmsr(rt.MSRTSCDeadline, rt.Rdtsc()+uint64(delta)*platform.TSCHz/1_000_000_000)
		return
	}
	ticks := uint64(delta) * apicHz / 1_000_000_000
	if ticks == 0 {
		ticks = 1
	}
	if ticks > 0xffffffff {
		ticks = 0xffffffff
	}
	APICWrite(apicTICR, uint32(ticks))
}
