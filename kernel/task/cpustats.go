package task

// Per-CPU event counters (CPUStats, a row of the per-CPU table); the
// report and the per-system-call counts are kernel/syscalls/stats.go's.

// The counters, indexes into CPUStats.
const (
	StatSyscalls   = iota // system calls served
	StatFaults            // page faults taken
	statSwitches          // context switches (switchTo)
	statHalts             // idle waits for an interrupt
	StatIRQTimer          // LAPIC timer interrupts
	StatIRQResched        // reschedule IPIs received
	StatIRQTLB            // TLB shootdown IPIs received
	StatIRQDevice         // IOAPIC (device, console) interrupts
	statIPIsSent          // IPIs sent
	statTimerArms         // LAPIC timer (re)programmings written
	statTimerSkips        // re-arms skipped: the timer already held that deadline
	StatEOIWrites         // EOI register writes
	StatTimerEarly        // LAPIC timer interrupts before the deadline armed
	statPollHits          // idle polls that found work without halting
	statIPIsMerged        // reschedule IPIs not sent: one to that CPU was still unhandled
	statLockSpins         // iterations of contended spinlock and TLB-acknowledgement waits
	statTLBLazy           // shootdowns that owed an idle CPU its flush instead of an IPI
	statWakeAffine        // wake-ups queued on the busy waker's CPU instead of a halted one
	statHandOffs          // halted CPUs woken to steal a wake-affine thread that waited too long
	nStats
)

// StatNames are the counters' names in the report.
var StatNames = [nStats]string{"syscalls", "faults", "switches", "halts", "irq-timer", "irq-resched",
	"irq-tlb", "irq-device", "ipis-sent", "timer-arms", "timer-skips", "eoi-writes", "irq-timer-early", "poll-hits", "ipis-merged", "lock-spins", "tlb-lazy", "wake-affine", "hand-offs"}

// CPUStats is one CPU's row of counters.
type CPUStats [nStats]uint64
