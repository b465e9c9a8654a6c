package kernel

import "sync/atomic"

// Event counters, for finding where a guest's time goes: the kernel
// parameter unigo.stats makes exit_group print them (one line per CPU
// and the busiest system calls) before the VM powers off. Under a
// paravirtualised host (PVM) every privileged instruction the kernel runs
// — a timer MSR write, an EOI, an IPI, HLT — is a trip through the host,
// so these counts, divided by the work done (requests served, say), say
// what each unit of work costs in such trips.
//
// Each CPU writes only its own row, with plain increments (kernel
// context, no preemption while it runs); the exit-time reader may see a
// row a few events stale. The per-system-call counts are shared and
// atomic.

type cpuStats struct {
	syscalls    uint64 // system calls served
	faults      uint64 // page faults taken
	switches    uint64 // context switches (switchTo)
	halts       uint64 // idle waits for an interrupt
	irqTimer    uint64 // LAPIC timer interrupts
	irqResched  uint64 // reschedule IPIs received
	irqTLB      uint64 // TLB shootdown IPIs received
	irqDevice   uint64 // IOAPIC (device, console) interrupts
	ipisSent    uint64 // IPIs sent
	timerArms   uint64 // LAPIC timer (re)programmings written
	timerSkips  uint64 // re-arms skipped: the timer already held that deadline
	eoiWrites   uint64 // EOI register writes
	privateCall uint64 // unigo's own system calls (devices, netstack, exit)
}

// sysCounts counts system calls by number; unigo's private calls (0x1000
// and up) share the last slot.
var sysCounts [len(syscallNames) + 1]atomic.Uint64

// statsOn is set at boot from the kernel parameter unigo.stats.
var statsOn bool

func countSyscall(nr uint64) {
	if !statsOn {
		return
	}
	if nr < uint64(len(syscallNames)) {
		sysCounts[nr].Add(1)
	} else {
		sysCounts[len(syscallNames)].Add(1)
	}
}

// printStats prints the counters (see above). Kernel context.
func printStats() {
	if !statsOn {
		return
	}
	var total cpuStats
	for i := 0; i < ncpu; i++ {
		s := &cpus[i].stats
		kprint("unigo: stats: cpu")
		kprintDec(uint64(i))
		printStatsRow(s)
		total.syscalls += s.syscalls
		total.faults += s.faults
		total.switches += s.switches
		total.halts += s.halts
		total.irqTimer += s.irqTimer
		total.irqResched += s.irqResched
		total.irqTLB += s.irqTLB
		total.irqDevice += s.irqDevice
		total.ipisSent += s.ipisSent
		total.timerArms += s.timerArms
		total.timerSkips += s.timerSkips
		total.eoiWrites += s.eoiWrites
	}
	kprint("unigo: stats: all")
	printStatsRow(&total)
	// The busiest system calls, greatest first (selection by repeated
	// maximum: no allocation, and there are few).
	var shown [len(sysCounts)]bool
	kprint("unigo: stats: syscalls")
	for k := 0; k < 12; k++ {
		best, bestN := -1, uint64(0)
		for i := range sysCounts {
			if n := sysCounts[i].Load(); !shown[i] && n > bestN {
				best, bestN = i, n
			}
		}
		if best < 0 {
			break
		}
		shown[best] = true
		kprint(" ")
		if best < len(syscallNames) {
			kprint(syscallName(uint64(best)))
		} else {
			kprint("unigo-private")
		}
		kprint("=")
		kprintDec(bestN)
	}
	kprint("\n")
}

func printStatsRow(s *cpuStats) {
	for _, f := range [...]struct {
		name string
		v    uint64
	}{
		{" syscalls=", s.syscalls}, {" faults=", s.faults}, {" switches=", s.switches},
		{" halts=", s.halts}, {" irq-timer=", s.irqTimer}, {" irq-resched=", s.irqResched},
		{" irq-tlb=", s.irqTLB}, {" irq-device=", s.irqDevice}, {" ipis-sent=", s.ipisSent},
		{" timer-arms=", s.timerArms}, {" timer-skips=", s.timerSkips},
		{" eoi-writes=", s.eoiWrites},
	} {
		kprint(f.name)
		kprintDec(f.v)
	}
	kprint("\n")
}
