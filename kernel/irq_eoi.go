package kernel

import "sync/atomic"

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
	if apicRead(apicISR+uint32(vec/32))&(1<<uint(vec%32)) != 0 {
		eoiAtDelivery.CompareAndSwap(eoiUnknown, eoiByGuest)
		return false
	}
	return eoiAtDelivery.CompareAndSwap(eoiUnknown, eoiByHost)
}

// levelToEdge reprograms the lines attached as level-triggered as edge
// and unmasked. Caller holds schedLock.
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
// be served that way. Caller holds schedLock (so that a levelToEdge after
// the attachment sees the line).
func levelLinesWork() bool { return eoiAtDelivery.Load() != eoiByHost }
