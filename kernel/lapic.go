package kernel

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
	vecTimer    = 32
	vecIRQBase  = 48 // IOAPIC pin n -> vector 48+n
	vecSpurious = 0xff

	apicID     = 0x02
	apicEOI    = 0x0b
	apicSVR    = 0x0f
	apicLVTT   = 0x32
	apicLVT0   = 0x35
	apicTICR   = 0x38
	apicTCCR   = 0x39
	apicTDCR   = 0x3e
	xapicBase  = 0xfee00000
	ioapicBase = 0xfec00000
)

var (
	x2apic      bool
	tscDeadline bool
	apicHz      uint64 // one-shot mode: timer ticks per second
)

func apicWrite(reg uint32, v uint32) {
	if x2apic {
		rt.Wrmsr(0x800+reg, uint64(v))
		return
	}
	*kctx.At[uint32](uintptr(xapicBase + reg*16)) = v
}

func apicRead(reg uint32) uint32 {
	if x2apic {
		return uint32(rt.Rdmsr(0x800 + reg))
	}
	return *kctx.At[uint32](uintptr(xapicBase + reg*16))
}

func lapicInit() {
	_, _, c, _ := rt.Cpuid(1, 0)
	x2apic = c&(1<<21) != 0
	tscDeadline = c&(1<<24) != 0
	base := rt.Rdmsr(rt.MSRApicBase)
	if x2apic {
		rt.Wrmsr(rt.MSRApicBase, base|1<<11|1<<10)
	} else {
		rt.Wrmsr(rt.MSRApicBase, base|1<<11)
		mm.MapDevice(xapicBase)
	}
	apicWrite(apicSVR, 0x100|vecSpurious)
	// KVM resets the boot CPU's LINT0 to ExtINT: the 8259 PIC, which
	// nobody programs, would deliver ISA interrupts as vectors 0-15
	// (exceptions). Interrupts come through the IOAPIC only.
	apicWrite(apicLVT0, 1<<16)
	if tscDeadline {
		apicWrite(apicLVTT, vecTimer|2<<17)
	} else {
		apicWrite(apicTDCR, 0x3)            // divide by 16
		apicWrite(apicLVTT, vecTimer|1<<16) // masked while calibrating
		apicWrite(apicTICR, 0xffffffff)
		t0 := platform.Nanotime()
		for platform.Nanotime()-t0 < 10_000_000 {
		}
		apicHz = uint64(0xffffffff-apicRead(apicTCCR)) * 100
		apicWrite(apicTICR, 0)
		apicWrite(apicLVTT, vecTimer)
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
	thisCPU().stats[statEOIWrites]++
	apicWrite(apicEOI, 0)
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
	ci := thisCPU()
	if deadline == ci.armed || lapicEarlyEnough(ci.armed, deadline) {
		ci.stats[statTimerSkips]++
		return
	}
	ci.armed = deadline
	ci.stats[statTimerArms]++
	if deadline == 0 {
		if tscDeadline {
			rt.Wrmsr(rt.MSRTSCDeadline, 0)
		} else {
			apicWrite(apicTICR, 0)
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
	apicWrite(apicTICR, uint32(ticks))
}

// ioapicRoute sends IOAPIC pin to vector vecIRQBase+pin on CPU 0.
func ioapicRoute(pin uint32) {
	ioapicInit() // maps the registers
	reg := kctx.At[uint32](ioapicBase)
	win := kctx.At[uint32](ioapicBase + 0x10)
	*reg = 0x10 + 2*pin
	*win = vecIRQBase + pin
	*reg = 0x10 + 2*pin + 1
	*win = 0
}
