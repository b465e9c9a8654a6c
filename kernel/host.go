package kernel

import (
	"sync/atomic"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/kmem"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/kernel/syscalls"
	"github.com/unigo-os/unigo/kernel/task"
	"github.com/unigo-os/unigo/rt"
)

// Host-specific behaviour, decided in this file (and, for what only CPL 0
// can see, in the "CPL-3 SYSCALL mode" section of rt/shim_amd64.s). The
// kernel boots on hardware KVM (VMX/SVM), QEMU TCG and the PVM module
// behind /dev/kvm on this project's machines, on AMD and Intel CPUs; what
// differs is detected at boot, never assumed from a vendor or a build
// flag. docs/ARCHITECTURE.md ("Host quirks") tables each one: behaviour,
// detection, hosts, cost.
//
//   - CPL-3 SYSCALL mode (PVM): SYSCALL does not change privilege. The
//     shim detects it on the first SYSCALL; the kernel asks rt.CPL3Mode.
//     There a SYSCALL is a trap through the host and a CALL is not, so
//     the kernel rewrites the program's system-call sites into calls
//     (syscallpatch.go), and an interrupt that lands between a SYSCALL
//     and the shim's first instruction is rewound (rewindSyscallEntry).
//     Halts, timer programmings and wake-up IPIs are traps there too, so
//     an idle CPU of an SMP guest polls briefly before it halts, and a
//     thread woken by a busy CPU waits longer there before a halted CPU
//     is woken to steal it (task.pollIdle and task.affineWait ask
//     rt.CPL3Mode; the mode is known only once the shim has seen a
//     SYSCALL, so it is asked, not stored at boot).
//   - XGETBV answers the host's XCR0 (PVM), not the one entry64 wrote,
//     and may name components (AMX tiles) CPUID(0xD,0).EBX does not count:
//     xsaveLayout derives the save mask and area size from the components
//     the kernel enables, never from XCR0 alone, and xsaveCheck proves the
//     area holds a real XSAVE at boot.
//   - CPUID at CPL 3 answers the host's leaves without the hypervisor ones
//     (PVM): rt.Cpuid (at CPL 0, the launcher's table) decides devices,
//     clocks and paging; rt.CpuidNative (what the Go runtime and the XSAVE
//     hardware see) decides the extended-state layout and AT_HWCAP.
//   - Interrupts ended on delivery (PVM): eoiAtDelivery below.
//   - PVM's own paravirtual interface (pvmParavirt below) is detected and
//     reported (unigo.cpuinfo=1), not used: the PVM module on this
//     project's hosts does not implement it (docs/ARCHITECTURE.md, "PVM
//     paravirtual interface").

// xsaveKernelComponents are the XSAVE state components the kernel enables
// (entry64 writes XCR0 from them) and saves for a thread: x87, SSE, AVX and
// the three AVX-512 components. Anything else a host leaves enabled in
// XCR0 for its own use (AMX tiles, PKRU, CET) is never saved: the runtime
// does not use it, and AMX alone would need 8 KiB more per thread.
const xsaveKernelComponents = 0xe7

// xsaveLegacyHeader is the size of the legacy region plus the XSAVE header:
// the smallest standard-format XSAVE area.
const xsaveLegacyHeader = 512 + 64

// xsaveMaxSize bounds what CPUID may claim (the largest real area, with
// AMX, is about 11 KiB).
const xsaveMaxSize = 64 << 10

// cpuidFunc is rt.CpuidNative's signature, so tests can feed recorded hosts.
type cpuidFunc func(leaf, sub uint32) (a, b, c, d uint32)

// xsaveLayout returns the save mask and the size of the standard-format
// area it needs, given XCR0 as XGETBV reads it and CPUID as the XSAVE
// hardware lays the area out. The mask is the kernel's components that the
// CPU supports (CPUID(0xD,0).EAX) and XCR0 enables; the size is the end of
// the furthest component in the mask (CPUID(0xD,i): EAX size, EBX offset),
// never CPUID(0xD,0).EBX, which describes whatever XCR0 the CPUID source
// believes in. A mask of 0 means the CPU has no XSAVE: use FXSAVE (512).
func xsaveLayout(xcr0 uint64, cpuid cpuidFunc) (mask uint64, size uintptr) {
	supported, _, _, _ := cpuid(0xd, 0)
	mask = xcr0 & uint64(supported) & xsaveKernelComponents
	if mask&3 != 3 { // x87 and SSE are architecturally always on
		return 0, 512
	}
	size = xsaveLegacyHeader
	for i := uint32(2); i < 64; i++ {
		if mask&(1<<i) == 0 {
			continue
		}
		n, off, _, _ := cpuid(0xd, i)
		if end := uintptr(off) + uintptr(n); end > size {
			size = end
		}
	}
	return mask, (size + 63) &^ 63
}

// xsaveSizeFor is the test hook behind unigo.xsave.sizefor=MASK: size the
// area for MASK instead of the save mask, so that a boot test can prove
// xsaveCheck stops a save that does not fit.
const xsaveSizeForParam = "unigo.xsave.sizefor"

// cpuInit decides the extended state saved on asynchronous entries and
// checks that it fits. (The boot CPU's IDT and TSS were loaded by rt's
// entry64.)
func cpuInit() {
	if _, _, c, _ := rt.CpuidNative(1, 0); c&(1<<27) == 0 { // OSXSAVE
		return // FXSAVE, 512 bytes (xsaveSize's default)
	}
	mask, size := xsaveLayout(rt.Xgetbv(), rt.CpuidNative)
	var val [20]byte
	if n, ok := kctx.KernelParam(xsaveSizeForParam, val[:]); ok {
		sizeMask, okNum := kctx.ParseUint(val[:n])
		if !okNum {
			kctx.Panic("unigo.xsave.sizefor: want a number")
		}
		_, size = xsaveLayout(sizeMask, rt.CpuidNative)
	}
	if size > xsaveMaxSize {
		kctx.Panic("CPUID leaf 0xD describes an extended-state area over 64 KiB")
	}
	rt.SetXSaveMask(mask)
	task.XsaveSize = size
	xsaveCheck()
}

// xsaveCheck performs one XSAVE with the chosen mask into a scratch buffer
// large enough for every component the CPU has (CPUID(0xD,0).ECX), filled
// with a pattern, and stops the boot if anything past xsaveSize changed:
// every thread's save area is xsaveSize bytes, and an overflow would
// silently corrupt the kernel memory next to it.
func xsaveCheck() {
	_, _, maxAll, _ := rt.CpuidNative(0xd, 0)
	span := max(uintptr(maxAll), task.XsaveSize) + 4096
	order := task.OrderOf(span)
	buf := kmem.AllocPages(order)
	if buf == 0 {
		kctx.Panic("xsave: no memory for the boot check")
	}
	b := kctx.BytesAt(buf, int(kmem.PageSize)<<order)
	for i := range b {
		b[i] = 0xa5
	}
	// A valid legacy region (FCW, MXCSR) for the save to start from.
	rt.XSaveTo(buf)
	for _, x := range b[task.XsaveSize:] {
		if x != 0xa5 {
			kctx.Print("\nunigo: kernel panic: XSAVE with mask ")
			kctx.PrintHexShort(rt.XSaveMask())
			kctx.Print(" writes past the ")
			kctx.PrintDec(uint64(task.XsaveSize))
			kctx.Print("-byte extended-state area\n")
			syscalls.ExitVM(70)
		}
	}
	kmem.FreePages(buf, order)
}

// printCPUInfo prints the line `unigo doctor` reads (unigo.cpuinfo=1):
// what the guest sees of the CPU and what the kernel decided from it.
func printCPUInfo() {
	var vendor [12]byte
	_, b, c, d := rt.Cpuid(0, 0)
	for i := 0; i < 4; i++ {
		vendor[i], vendor[4+i], vendor[8+i] = byte(b>>(8*i)), byte(d>>(8*i)), byte(c>>(8*i))
	}
	var xcr0 uint64
	var cpuidSize uint32
	if _, _, c, _ := rt.CpuidNative(1, 0); c&(1<<27) != 0 {
		xcr0 = rt.Xgetbv()
		_, cpuidSize, _, _ = rt.CpuidNative(0xd, 0)
	}
	kctx.Print("unigo: cpu vendor=")
	kctx.ConsoleWrite(vendor[:])
	kctx.Print(" xcr0=")
	kctx.PrintHexShort(xcr0)
	kctx.Print(" cpuid-xsave-size=")
	kctx.PrintDec(uint64(cpuidSize))
	kctx.Print(" xsave-mask=")
	kctx.PrintHexShort(rt.XSaveMask())
	kctx.Print(" xsave-size=")
	kctx.PrintDec(uint64(task.XsaveSize))
	kctx.Print(" pvm=")
	if rt.CPL3Mode() {
		kctx.Print("1")
	} else {
		kctx.Print("0")
	}
	kctx.Print(" pvm-abi=")
	if pvmParavirt(rt.CpuidPVM) {
		kctx.Print("1\n")
	} else {
		kctx.Print("0\n")
	}
}

// pvmParavirt reports whether the host offers PVM's paravirtual interface
// (abi/pvm.go): KVM's signature leaf reaching the vendor-features leaf,
// whose EBX is "PVM". cpuid is rt.CpuidPVM, PVM's synthetic CPUID at CPL 0,
// which a PVM hypervisor answers from the guest's CPUID table and which is
// the ordinary CPUID on other hosts. (The spec's other two checks, hardware
// CPL 3 and IF=1 in supervisor mode, concern a kernel entered in PVM
// supervisor mode; unigo's CPL 0 is whatever the host makes of it.)
func pvmParavirt(cpuid cpuidFunc) bool {
	a, b, c, d := cpuid(abi.KVMCPUIDSignature, 0)
	if b != abi.KVMSignatureEBX || c != abi.KVMSignatureECX || d != abi.KVMSignatureEDX ||
		a < abi.KVMCPUIDVendorFeatures {
		return false
	}
	_, b, _, _ = cpuid(abi.KVMCPUIDVendorFeatures, 0)
	return b == abi.PVMSignature
}

// Hosts that end interrupts on delivery.
//
// A level-triggered IOAPIC input relies on the local APIC keeping the
// vector in service (its ISR bit set) until the handler writes the EOI:
// the EOI is what tells the IOAPIC to look at the input again, and by
// then the handler has masked the pin (deviceIRQ), so a device that still
// holds its line up is not delivered again until the driver has
// acknowledged it.
//
// The PVM module behind /dev/kvm on this project's machines does not keep
// the vector in service: it writes the EOI itself when it injects the
// interrupt (host trace: kvm_apic_accept_irq, then kvm_lapic_reg_write of
// APIC_EOI from pvm_handle_exit, before the guest runs the first
// instruction of its vector stub; the guest's own EOI later finds nothing
// in service). An IOAPIC that re-raises a still-asserted level input on
// EOI then re-delivers it at once, and again after every re-delivery,
// until the handler gets to mask the pin. QEMU's IOAPIC does exactly that
// (microvm runs it in user space under -accel kvm: kernel-irqchip=split),
// and in CPL-3 SYSCALL mode an interrupt that hits the running kernel is
// only recorded (CPU.pending), so the vCPU spent its time taking the same
// interrupt — storms of ~17000 deliveries a second lasting until a timer
// interrupt got in, hundreds of milliseconds — and examples/httpd served
// a handful of requests a second. (The unigo launcher pulses its lines
// through irqfd, so an early EOI finds them low there.)
//
// So the kernel looks, once, at the ISR bit of the first timer or device
// interrupt it handles (usually a timer interrupt early in boot), before
// that interrupt's EOI. If the bit is clear, the host ends interrupts on
// delivery, and every line is served edge-triggered: lines attached as
// level are reprogrammed and never masked again, later ones are attached
// as edge. That keeps the drivers' contract: they acknowledge their device
// after every wake-up and only then look for work
// (virtio.Device.WaitInterrupt), so an interrupt raised while the line was
// still up is found by that look, and after the acknowledgment the next
// one is a fresh edge. Their Unmask calls become no-ops.
//
// Such a host also makes the kernel's own EOI writes pointless: lapicEOI
// skips them (each is a trapped, emulated service on PVM). The check could
// only see a clear bit on an honest host if another handler's EOI had
// ended this vector first, which handlePending's highest-first order
// prevents; a false positive would leave vectors in service there.

// eoiAtDelivery states.
const (
	eoiUnknown int32 = iota // no interrupt handled yet
	eoiByGuest              // the vector stayed in service until our EOI
	eoiByHost               // the host ends interrupts on delivery: edge only
)

// eoiAtDelivery is what the first interrupt showed.
var eoiAtDelivery atomic.Int32

// apicISR is the first of the eight in-service registers (vectors 32 per
// register).
const apicISR = 0x10

// noteEOIAtDelivery decides eoiAtDelivery, if still unknown, from the
// interrupt on vector vec being handled on this CPU before its EOI. It
// reports whether it found that the host ends interrupts on delivery;
// the caller then calls levelToEdge. Lock-free (one APIC register read,
// once per boot).
func noteEOIAtDelivery(vec int) bool {
	if eoiAtDelivery.Load() != eoiUnknown {
		return false
	}
	if task.APICRead(apicISR+uint32(vec/32))&(1<<uint(vec%32)) != 0 {
		eoiAtDelivery.CompareAndSwap(eoiUnknown, eoiByGuest)
		return false
	}
	return eoiAtDelivery.CompareAndSwap(eoiUnknown, eoiByHost)
}

// levelToEdge reprograms the lines attached as level-triggered as edge
// and unmasked. Caller holds SchedLock.
func levelToEdge() {
	for gsi := range irqLines {
		l := &irqLines[gsi]
		if l.file != 0 && l.level {
			l.level, l.masked = false, false
			gsiProgram(gsi, false, false)
		}
	}
}

// levelLinesWork reports whether a line attached as level-triggered can
// be served that way. Caller holds SchedLock (so that a levelToEdge after
// the attachment sees the line).
func levelLinesWork() bool { return eoiAtDelivery.Load() != eoiByHost }

// rewindSyscallEntry: in CPL-3 SYSCALL mode a SYSCALL lands on rt's
// syscallEntry still at CPL 3 with interrupts on, and an interrupt may
// arrive there or on cpl3Syscall's first instruction, before the shim
// marks the CPU in-kernel (rt.SyscallLanding; later ones are deferred, and
// the shim's own jumps to cpl3Syscall come with the CPU marked). Nothing is saved then: the context is the
// caller's with RCX = return RIP and R11 = its RFLAGS, but its PC is the
// shim's, from which Go's unwinder cannot find the caller (a SIGPROF
// sample delivered now would be lost). Resume at the SYSCALL instead,
// which runs again: the caller's PC, stack and flags, as if the
// interrupt had come just before it.
func rewindSyscallEntry(f *rt.Frame) {
	if f.Vector < 32 || !rt.CPL3Mode() || !rt.SyscallLanding(uintptr(f.RIP)) {
		return
	}
	lo, hi := mm.ImageText()
	ret := uintptr(f.RCX)
	if ret < lo+2 || ret > hi || *kctx.At[uint16](ret - 2) != 0x050f { // SYSCALL
		return
	}
	f.RIP = f.RCX - 2
	f.RFLAGS = f.R11
}
