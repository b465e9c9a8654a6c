package task

import (
	"sync/atomic"

	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/rt"
)

// The per-CPU table: each CPU's run queue, statistics, LAPIC timer state
// and TLB-shootdown requests, and the IPIs between CPUs. Starting the
// application processors is the top kernel package's (kernel/smp.go).
const (
	MaxCPUs    = 64
	VecResched = 64 // reschedule IPI (below 96: see the vector stubs' pending mask, rt/gen_vectors.go)
	VecTLB     = 65 // TLB shootdown IPI
)

type CPUInfo struct {
	tlbReq atomic.Uint64 // CPUs (by index) waiting for this one to flush its TLB
	tlbAck atomic.Int32  // flushes done for this CPU's current shootdown
	Block  uintptr       // rt.CPU
	APICID uint32
	Gdt    uintptr // 80-byte GDT copy; TSS at gdt+128, GDTR at gdt+256
	Ist    uintptr
	Idle   uintptr // idle thread
	Online atomic.Bool
	rq     runQueue // this CPU's run queue (runq.go)
	Stats  CPUStats // event counters (cpustats.go)
	// Armed is the deadline this CPU's LAPIC timer was last armed for
	// (0: disarmed, or fired and handled), so that re-arming for the same
	// or a later deadline, or while a fire is pending — most context
	// switches do one of these — skips the MSR write, which a
	// paravirtualised host traps (lapicEarlyEnough). The timer handler
	// clears it: the timer is one-shot.
	Armed int64
	// timerNext is the first deadline of the timers this CPU owns (0:
	// none), what its LAPIC timer is armed for (timerNextUpdate).
	timerNext atomic.Int64
	// reschedSent is set by the first CPU that sends this one a
	// reschedule IPI and cleared by this one when it handles it
	// (ReschedReceived), so that further senders meanwhile send none.
	reschedSent atomic.Bool
	// deferredIPIs are the CPUs (by index) owed a reschedule IPI that
	// this CPU decided while holding SchedLock, and rearm a timer
	// programming deferred the same way; sent when it releases the lock
	// (FlushDeferred). Only this CPU touches them.
	deferredIPIs uint64
	rearm        bool
	// tlbOwed says a shootdown skipped this CPU while it was idle
	// (TLBShootdown): it flushes before it leaves the idle loop
	// (leaveIdle).
	tlbOwed atomic.Bool
	// affineSince is when the oldest thread still queued here wake-affine
	// was queued (0: none); only this CPU touches it (HandOff).
	affineSince int64
}

var (
	cpus     [MaxCPUs]CPUInfo
	NCPU     int = 1
	Online   atomic.Int32
	idleMask atomic.Uint64 // CPUs idle (about to halt or halted), by index
	pollMask atomic.Uint64 // CPUs polling for work before they halt (pollIdle)
)

// cpuIndex is the index of the running CPU.
func cpuIndex() int { return int(CPU().ID) }

// SendIPI writes the interrupt command register: command (delivery mode,
// level, vector) to the CPU with apicid.
func SendIPI(apicid uint32, command uint32) {
	ThisCPU().Stats[statIPIsSent]++
	if X2APIC {
		rt.Wrmsr(0x830, uint64(apicid)<<32|uint64(command))
		return
	}
	APICWrite(0x31, apicid<<24)
	APICWrite(0x30, command)
}

// SendResched sends CPU i a reschedule IPI unless one sent earlier has not
// been handled yet. That one still comes, and its handler looks at the
// queues and the pending signals only after ReschedReceived: a sender that
// found the flag set made its change (pushed, marked a signal) before its
// Swap, and the receiver's clearing store comes after that Swap in the
// flag's order, so the receiver's later loads see the change. Each IPI
// skipped is a trapped ICR write on a paravirtualised host, and the LAPIC
// would have merged it with the pending one anyway.
//
// Under SchedLock the IPI is only recorded, and sent when this CPU
// releases the lock (FlushDeferred): the target could do nothing before
// that but spin on the lock, and the trapped write would lengthen the
// hold that every other CPU's wake-ups wait for.
func SendResched(i int) {
	if cpus[i].reschedSent.Swap(true) {
		ThisCPU().Stats[statIPIsMerged]++
		return
	}
	if kctx.SchedLock.HeldHere() {
		ThisCPU().deferredIPIs |= 1 << uint(i)
		return
	}
	SendIPI(cpus[i].APICID, VecResched)
}

// armTimerSoon is ArmTimer, deferred to the release of SchedLock when this
// CPU holds it (see SendResched).
func armTimerSoon() {
	if kctx.SchedLock.HeldHere() {
		ThisCPU().rearm = true
		return
	}
	ArmTimer()
}

// FlushDeferred sends the reschedule IPIs and makes the timer programming
// this CPU deferred while it held SchedLock. kctx runs it after every
// release of SchedLock (kctx.SetSchedUnlockHook).
func FlushDeferred() {
	ci := ThisCPU()
	m, rearm := ci.deferredIPIs, ci.rearm
	if m == 0 && !rearm {
		return
	}
	ci.deferredIPIs, ci.rearm = 0, false
	for ; m != 0; m &= m - 1 {
		SendIPI(cpus[lowestBit(m)].APICID, VecResched)
	}
	if rearm {
		ArmTimer()
	}
}

// ReschedReceived is the reschedule IPI handler's first step (see
// SendResched).
func ReschedReceived() { ThisCPU().reschedSent.Store(false) }

// TLBShootdown makes every other online CPU flush its TLB and waits until
// all have. Requests are per CPU pair, so shootdowns from several CPUs
// proceed at once; a CPU waiting (here or on a spinlock) answers the
// requests addressed to it, so waits cannot deadlock.
func TLBShootdown() {
	if Online.Load() <= 1 {
		return
	}
	me := cpuIndex()
	self := &cpus[me]
	self.tlbAck.Store(0)
	want := int32(0)
	for i := 0; i < NCPU; i++ {
		if i == me || !cpus[i].Online.Load() {
			continue
		}
		if idleSkipsShootdown(i) {
			self.Stats[statTLBLazy]++
			continue
		}
		cpus[i].tlbReq.Or(1 << uint(me))
		SendIPI(cpus[i].APICID, VecTLB)
		want++
	}
	for self.tlbAck.Load() < want {
		ServiceTLB()
		rt.Pause()
	}
}

// idleSkipsShootdown owes idle CPU i a TLB flush instead of interrupting
// it, and reports whether that suffices. An idle CPU (halted, or on its
// way to halt or back) touches no user memory until it leaves the idle
// loop, and leaveIdle flushes first if a flush is owed. Waking a halted
// vCPU to flush is what makes a shootdown wait for the host to schedule
// it, which on a loaded host takes milliseconds.
//
// The order makes it safe: here tlbOwed is set, then idleMask read;
// leaveIdle clears its idleMask bit, then reads tlbOwed. If i's bit is
// still seen set, i's clearing comes later, so its read sees the flag
// (sync/atomic is sequentially consistent); otherwise i is interrupted
// as any busy CPU, and the flag at worst costs it one extra flush.
func idleSkipsShootdown(i int) bool {
	bit := uint64(1) << uint(i)
	if idleMask.Load()&bit == 0 {
		return false
	}
	cpus[i].tlbOwed.Store(true)
	return idleMask.Load()&bit != 0
}

// leaveIdle takes this CPU out of idleMask and makes any TLB flush owed to
// it (idleSkipsShootdown) before it runs anything else.
func leaveIdle(me uint64) {
	idleMask.And(^me)
	if c := ThisCPU(); c.tlbOwed.Load() && c.tlbOwed.Swap(false) {
		rt.WriteCR3(uint64(mm.PML4))
	}
}

// ServiceTLB flushes this CPU's TLB if another CPU asked, and acknowledges.
func ServiceTLB() {
	if Online.Load() <= 1 {
		return
	}
	c := &cpus[cpuIndex()]
	c.Stats[statLockSpins]++
	req := c.tlbReq.Swap(0)
	if req == 0 {
		return
	}
	rt.WriteCR3(uint64(mm.PML4))
	for j := 0; req != 0; j++ {
		if req&1 != 0 {
			cpus[j].tlbAck.Add(1)
		}
		req >>= 1
	}
}
