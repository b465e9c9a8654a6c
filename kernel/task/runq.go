package task

import (
	"sync/atomic"

	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/platform"
	"github.com/unigo-os/unigo/kernel/spinlock"
	"github.com/unigo-os/unigo/rt"
)

// Per-CPU run queues.
//
// Every CPU owns a FIFO of runnable threads (cpuInfo.rq) under its own
// lock. A thread made runnable goes to the queue of the waking CPU if that
// one is idle but awake, else of the CPU it last ran on, unless another
// CPU is polling (and that one is not); where that would be a halted CPU,
// it goes to the busy waker's queue instead (wake-affine, see wakeCPU and
// HandOff); a CPU that has nothing in its own queue steals from the
// others' before it halts. Round-robin with 10 ms timeslices stays: the
// LAPIC timer fires at the end of the running thread's slice while others
// wait in the same queue.
//
// Locks, outermost first: FSLock, SchedLock, one run-queue lock (mm.VMLock,
// taken through mm.UserOK, is never taken under a run-queue lock). A CPU holds
// at most one run-queue lock by Lock; a second one is only ever TryLocked
// (stealing), so run-queue locks cannot deadlock among themselves. Nothing
// under a run-queue lock takes SchedLock.
//
// Thread states and who may change them:
//
//	Running  -> Blocked/Dead   the thread itself, under SchedLock
//	Blocked  -> Runnable       a waker, under SchedLock (and the target
//	                           queue's lock while it pushes)
//	Runnable -> Running        the CPU that pops it, under that queue's lock
//	Running  -> Runnable       the thread itself (preemption), under its
//	                           CPU's queue lock
//
// Invariants (the argument that no two CPUs ever run on one kernel stack,
// and that no wakeup is lost):
//
//  1. A thread is in at most one run queue, and a queued thread is
//     Runnable; rq.n is the queue's length.
//  2. A CPU switches stacks only while it holds its own queue lock, and, if
//     the thread it leaves is Blocked or Dead, SchedLock as well
//     (switchAway). The thread switched to releases them (finishSwitch),
//     i.e. only after rt.SwitchStacks has saved the old thread's stack
//     pointer. So: a preempted thread, pushed on its own CPU's queue, can be
//     popped (locally or by a stealer) only once its CPU has left its
//     stack; a blocking thread can be woken, hence queued, only once its
//     CPU has left its stack, because waking needs SchedLock. Either way a
//     thread is resumed by at most one CPU, and only after it was saved.
//  3. Blocking is decided under SchedLock (state = Blocked, queued on a
//     wait queue or timer), and every waker holds SchedLock, so a wakeup
//     either sees Blocked or happens before the sleeper checked its
//     condition. A woken thread re-takes SchedLock before block returns,
//     so it cannot run its caller's code until the waker has let go.
//  4. No runnable thread waits long while a CPU idles: a CPU going idle
//     sets its bit in idleMask and then re-reads every rq.n; a CPU pushing
//     work increments rq.n and then reads idleMask and sends a reschedule
//     IPI to an idle CPU. The one exception is a wake-affine push on the
//     busy waker's own queue: it waits for the waker to block, or
//     AffineWait (HandOff, after the waker's next system call or
//     interrupt; the timer is armed for AffineWait after the push). Both sides use sequentially consistent atomics
//     (locked instructions on amd64), so at least one sees the other: the
//     idle CPU steals, or is woken to. A halted CPU is woken by the IPI
//     (pending in the LAPIC while IF=0 until STI;HLT, or recorded in
//     CPU.Pending in CPL-3 SYSCALL mode).
//  5. A CPU that gets work in its queue while it runs something else has
//     its LAPIC timer armed for the end of the running slice (ArmTimer; a
//     remote push whose queue was empty sends the CPU a reschedule IPI,
//     whose handler re-arms).
type runQueue struct {
	lock     spinlock.Lock
	head     uintptr
	tail     uintptr
	n        atomic.Int32 // length; read without the lock as a hint
	sliceEnd int64        // end of the running thread's timeslice (owner only)
	// releaseSched tells finishSwitch that the switch was made with
	// SchedLock held (the thread left was Blocked or Dead).
	releaseSched bool
}

// ThisCPU is the running CPU's kernel data.
func ThisCPU() *CPUInfo { return &cpus[cpuIndex()] }

// CPUInfoAt is CPU i's kernel data (0 <= i < NCPU; boot fills in the others').
func CPUInfoAt(i int) *CPUInfo { return &cpus[i] }

// rqAppend queues t at the tail of q. Caller holds q.lock.
func rqAppend(q *runQueue, t uintptr) {
	Th(t).State = threadRunnable
	Th(t).next = 0
	if q.tail == 0 {
		q.head = t
	} else {
		Th(q.tail).next = t
	}
	q.tail = t
	q.n.Add(1)
}

// rqPop takes the head of q (0 if empty). Caller holds q.lock.
func rqPop(q *runQueue) uintptr {
	t := q.head
	if t != 0 {
		q.head = Th(t).next
		if q.head == 0 {
			q.tail = 0
		}
		Th(t).next = 0
		q.n.Add(-1)
	}
	return t
}

// steal takes a runnable thread from another CPU's queue (0 if none it
// could lock). Caller holds its own queue's lock; the victim's is only
// TryLocked (see the lock order above).
func steal() uintptr {
	me := cpuIndex()
	n := int(Online.Load())
	for k := 1; k < n; k++ {
		v := &cpus[(me+k)%n].rq
		if v.n.Load() == 0 || !v.lock.TryLock() {
			continue
		}
		t := rqPop(v)
		v.lock.Unlock()
		if t != 0 {
			return t
		}
	}
	return 0
}

// AnyQueued reports whether some CPU's queue holds a runnable thread.
func AnyQueued() bool { return anyQueued() }

// anyQueued reports whether some CPU's queue holds a runnable thread.
func anyQueued() bool {
	n := int(Online.Load())
	for i := 0; i < n; i++ {
		if cpus[i].rq.n.Load() != 0 {
			return true
		}
	}
	return false
}

// stealer is the CPU to wake with a reschedule IPI so that it steals work
// queued where the CPUs in except will not run it soon: the lowest halted
// CPU outside except, or -1 when none is halted, or when a CPU outside
// except polls, since that one sees the queues itself (invariant 4).
func stealer(idle, poll, except uint64) int {
	if m := idle &^ except; m != 0 && poll&^except == 0 {
		return lowestBit(m)
	}
	return -1
}

// lowestBit is the index of the lowest set bit of m (m != 0).
func lowestBit(m uint64) int {
	i := 0
	for m&1 == 0 {
		m >>= 1
		i++
	}
	return i
}

// makeRunnable queues a thread that is not running anywhere (new, or
// Blocked and woken) where wakeCPU says. Caller holds SchedLock.
func makeRunnable(t uintptr) {
	me := cpuIndex()
	meIdle := CPU().Current == cpus[me].Idle
	target, affine := wakeCPU(int(Th(t).LastCPU), me, int(Online.Load()), meIdle, idleMask.Load(), pollMask.Load())
	wasEmpty := pushWoken(&cpus[me], &cpus[target].rq, t, affine, platform.Nanotime())
	kickAfterPush(target, wasEmpty, affine)
}

// pushWoken queues t on q, the queue wakeCPU chose, and reports whether q
// was empty. A wake-affine push (q is the waker's own) is counted on the
// waker and, if it is the oldest still queued there, timed from now, so
// that ArmTimer and HandOff end its wait AffineWait later.
func pushWoken(waker *CPUInfo, q *runQueue, t uintptr, affine bool, now int64) bool {
	q.lock.Lock()
	rqAppend(q, t)
	wasEmpty := q.n.Load() == 1
	q.lock.Unlock()
	if affine {
		waker.Stats[statWakeAffine]++
		if waker.affineSince == 0 {
			waker.affineSince = now
		}
	}
	return wasEmpty
}

// AffineWait is how long (ns) a thread woken by a busy CPU waits in that
// CPU's queue while another CPU is halted, before that CPU is woken to
// steal it (HandOff); 0 wakes the halted CPU at once, and a negative
// value (the default) leaves it to the host (affineWait). Set at boot
// (unigo.affine, in µs).
var AffineWait int64 = -1

// The hosts' wake-affine waits (kernel/host.go). Where a halt, the IPI
// that ends it and the host's scheduling of that vCPU are each a trap
// (CPL-3 SYSCALL mode: PVM), the waker is given longer to block: the
// woken thread then runs where it was queued, which on 2 vCPUs serves
// ~1.35x the requests/s of a 1 ms wait on the Intel PVM host
// (docs/BENCHMARKS.md). Elsewhere 1 ms.
const (
	affineWaitTrapped = 5_000_000
	affineWaitDefault = 1_000_000
)

// affineWait is AffineWait, or the host's wait when it is negative.
func affineWait() int64 {
	switch {
	case AffineWait >= 0:
		return AffineWait
	case rt.CPL3Mode():
		return affineWaitTrapped
	}
	return affineWaitDefault
}

// wakeCPU chooses the CPU whose queue a woken thread goes to: last is the
// CPU it last ran on, me the waker's, n the CPUs online, meIdle whether
// the waker is this CPU's idle loop (handling the interrupt that woke it,
// or expiring timers while it polls), idle and poll the CPUs halted or
// about to (idleMask) and polling (pollMask).
//
// Every wake-up that has to rouse a halted CPU costs a reschedule IPI and
// the halt's exit, each a trap on a paravirtualised host, and then the
// host has to schedule that vCPU's thread, so the order is: this CPU if
// it is idle but awake (it runs the thread next, no IPI); the last CPU if
// it is polling; another polling CPU; the last CPU if it is busy; and
// rather than a halted CPU, this busy one (wake-affine, with AffineWait
// set): the waker usually blocks soon (the Go runtime's hand-offs between
// its threads: wake one, then sleep), and the thread runs here then with
// no trap. HandOff bounds the wait. affine says wakeCPU made that last
// choice: the thread waits on the busy waker's queue while a CPU is
// halted, which no IPI announces (kickAfterPush) and HandOff ends.
func wakeCPU(last, me, n int, meIdle bool, idle, poll uint64) (target int, affine bool) {
	if last < 0 || last >= n {
		last = me
	}
	if meIdle {
		return me, false
	}
	bit := uint64(1) << uint(last)
	target = last
	switch {
	case poll&bit != 0:
		return last, false
	case poll != 0:
		return lowestBit(poll), false
	case idle != 0 && idle&bit == 0:
		target = lowestBit(idle)
	}
	if affineWait() > 0 && idle&(1<<uint(target)) != 0 {
		return me, true
	}
	return target, false
}

// HandOff wakes a halted CPU to steal what this busy CPU queued
// wake-affine (wakeCPU) once it has waited AffineWait, so that a waker
// that keeps running does not hold a woken thread back for long. It runs
// after every system call and interrupt, and ArmTimer arms an interrupt
// for the moment the wait ends. Caller holds no lock.
func HandOff() {
	ci := ThisCPU()
	s := ci.affineSince
	if s == 0 {
		return
	}
	if ci.rq.n.Load() == 0 {
		ci.affineSince = 0
		return
	}
	if platform.Nanotime()-s < affineWait() {
		return
	}
	ci.affineSince = 0
	if c := stealer(idleMask.Load(), pollMask.Load(), 1<<uint(cpuIndex())); c >= 0 {
		ci.Stats[statHandOffs]++
		SendResched(c)
	}
}

// handOffDeadline is deadline (0: none), the next event of ci's timer,
// brought forward to when the oldest thread queued on ci wake-affine has
// waited AffineWait, so that HandOff runs then even if the running thread
// makes no system call before its slice ends. A wait already over at now
// needs no interrupt: every system call and interrupt ends in HandOff.
func (ci *CPUInfo) handOffDeadline(deadline, now int64) int64 {
	if s := ci.affineSince; s != 0 && ci.rq.n.Load() != 0 {
		if d := s + affineWait(); d > now && (deadline == 0 || d < deadline) {
			return d
		}
	}
	return deadline
}

// kickAfterPush makes sure the work just pushed on target's queue gets a
// CPU (invariants 4 and 5): an idle target is woken; a busy remote target
// whose queue was empty re-arms its timer for the end of the running
// slice; the local CPU re-arms its own; and any other idle CPU is woken to
// steal.
//
// A CPU polling in its idle loop (pollMask) needs no IPI: it sees the
// queue lengths itself, and re-reads them after it stops polling
// (invariant 4).
//
// A wake-affine push (affine: queued on this busy CPU although another is
// halted) wakes no other CPU; HandOff does, if the thread waits too long.
func kickAfterPush(target int, wasEmpty, affine bool) {
	me := cpuIndex()
	idle := idleMask.Load()
	poll := pollMask.Load()
	if target == me && CPU().Current == cpus[me].Idle {
		// This CPU's idle loop runs the thread next; only a second one
		// queued here needs another CPU.
		if c := stealer(idle, poll, 1<<uint(me)); !wasEmpty && c >= 0 {
			SendResched(c)
		}
		return
	}
	switch {
	case poll&(1<<uint(target)) != 0:
		return
	case idle&(1<<uint(target)) != 0:
		SendResched(target)
		return
	case target == me:
		armTimerSoon()
		if affine {
			return
		}
	case wasEmpty:
		SendResched(target)
	}
	if c := stealer(idle, poll, 1<<uint(me)|1<<uint(target)); c >= 0 {
		SendResched(c)
	}
}

// switchAway leaves the current thread, which is Blocked or Dead, for the
// next runnable one (own queue, stolen, or the idle thread). Caller holds
// SchedLock; the thread switched to releases it (invariant 2). Returns
// when the current thread is resumed, with no lock held.
func switchAway() {
	CheckCPUTimers()
	cur := CPU().Current
	// A sleeper whose deadline passed while this thread ran (armDeadline
	// may leave it to the slice's end) queues now, ahead of what comes
	// later; not when this thread's own deadline is due, which would queue
	// it while it still runs here.
	if next, now := TimerNext.Load(), platform.Nanotime(); next != 0 && next <= now &&
		(Th(cur).wake == 0 || Th(cur).wake > now) {
		ExpireTimers(now)
	}
	ci := ThisCPU()
	ci.rq.lock.Lock()
	ci.rq.releaseSched = true
	next := rqPop(&ci.rq)
	if next == 0 {
		next = steal()
	}
	if next == 0 {
		next = ci.Idle
	}
	switchTo(cur, next)
}

// yield gives the CPU to the next thread in this CPU's queue, if any; the
// current thread goes to the queue's tail. Caller holds no lock.
func yield() {
	ci := ThisCPU()
	if ci.rq.n.Load() == 0 {
		return
	}
	ci.rq.lock.Lock()
	next := rqPop(&ci.rq)
	if next == 0 {
		ci.rq.lock.Unlock()
		return
	}
	cur := CPU().Current
	rqAppend(&ci.rq, cur)
	ci.rq.releaseSched = false
	// cur now waits in the queue: an idle CPU may take it (invariant 4);
	// a polling one sees the queue itself.
	if c := stealer(idleMask.Load(), pollMask.Load(), 1<<uint(cpuIndex())); c >= 0 {
		SendResched(c)
	}
	switchTo(cur, next)
}

// Preempt yields if the running thread's timeslice is over. Caller holds
// no lock.
func Preempt() {
	ci := ThisCPU()
	if ci.rq.n.Load() != 0 && platform.Nanotime() >= ci.rq.sliceEnd {
		yield()
	}
}

// switchTo switches this CPU from cur to next. Caller holds this CPU's
// queue lock (and SchedLock if rq.releaseSched is set); next is no longer
// in any queue. Returns when cur is resumed (on whichever CPU), after
// finishSwitch released the locks the switching CPU held then.
func switchTo(cur, next uintptr) {
	ci := ThisCPU()
	if next == cur {
		// Only a Running thread can be popped for itself, which yield and
		// switchAway rule out; keep the lock discipline anyway.
		Th(cur).State = ThreadRunning
		finishSwitch()
		return
	}
	ci.Stats[statSwitches]++
	now := platform.Nanotime()
	Th(cur).cpuNS += now - Th(cur).OnCPU
	if cur != ci.Idle {
		atomic.AddInt64(&procCPU, now-Th(cur).OnCPU)
	}
	Th(next).OnCPU = now
	if next != ci.Idle {
		Th(next).State = ThreadRunning
	}
	Th(next).LastCPU = int32(cpuIndex())
	ci.rq.sliceEnd = now + timeslice
	c := CPU()
	c.Current = next
	c.KStack = Th(next).KStack + KStackSize
	c.KTLS = KTLSOf(next)
	c.XSave = Th(next).Xsave
	rt.SwitchStacks(&Th(cur).ksp, Th(next).ksp, KTLSOf(next))
	finishSwitch()
}

// finishSwitch runs first in a thread switched to: it releases what the
// switching CPU held across the switch (invariant 2) and, unless the
// thread is the idle one, re-arms the timer for the new thread's slice. The CPU is the one now running,
// which need not be the one the thread last left.
func finishSwitch() {
	ci := ThisCPU()
	rel := ci.rq.releaseSched
	ci.rq.releaseSched = false
	ci.rq.lock.Unlock()
	if rel {
		kctx.SchedLock.Unlock()
	}
	if CPU().Current != ci.Idle {
		ArmTimer() // the idle loop arms before it halts, not while it polls
	}
}

// IdleLoop is the body of every CPU's idle thread: run what is queued
// here, else steal, else halt until an interrupt. Entered with no lock
// held; never returns.
func IdleLoop() {
	for {
		ci := ThisCPU()
		idle := CPU().Current
		ci.rq.lock.Lock()
		next := rqPop(&ci.rq)
		if next == 0 {
			next = steal()
		}
		if next != 0 {
			ci.rq.releaseSched = false
			switchTo(idle, next)
			continue
		}
		ci.rq.lock.Unlock()
		if pollIdle(ci) {
			continue
		}
		idleHook()
		ci.rq.lock.Lock()
		me := uint64(1) << uint(cpuIndex())
		idleMask.Or(me)
		ci.rq.lock.Unlock()
		if anyQueued() { // invariant 4: work pushed before our bit was seen
			leaveIdle(me)
			continue
		}
		ArmTimer()
		ci.Stats[statHalts]++
		pending := waitForInterrupt()
		leaveIdle(me)
		handlePendingHook(pending)
	}
}

// IdlePoll is how long (ns) an idle CPU polls for work, a due timer or an
// interrupt before it halts (Linux's guest halt-polling default); 0 halts
// at once. Set at boot (unigo.idlepoll, in µs).
var IdlePoll int64 = 200_000 // ns

// pollIdle polls, before this CPU halts, for up to IdlePoll: queued work
// (reported: the caller runs it), a timer due (expired here), or an
// interrupt taken meanwhile (handled here). Where each halt, timer
// programming, timer interrupt and wake-up IPI is a trap through the
// host (CPL-3 SYSCALL mode: PVM), a short wait is cheaper spent here;
// only there does the kernel run with interrupts enabled, so that those
// it took show in CPU.Pending. Caller holds no lock.
func pollIdle(ci *CPUInfo) bool {
	if !rt.CPL3Mode() || Online.Load() <= 1 || IdlePoll == 0 {
		return false
	}
	me := uint64(1) << uint(cpuIndex())
	c := CPU()
	pollMask.Or(me)
	end := platform.Nanotime() + IdlePoll
	found := false
	for {
		if anyQueued() {
			found = true
			break
		}
		if atomic.LoadUint64(&c.Pending) != 0 {
			pollMask.And(^me)
			handlePendingHook(atomic.SwapUint64(&c.Pending, 0))
			pollMask.Or(me)
			continue
		}
		now := platform.Nanotime()
		if next := TimerNext.Load(); next != 0 && next <= now {
			kctx.SchedLock.Lock()
			ExpireTimers(now)
			kctx.SchedLock.Unlock()
			continue
		}
		if now >= end {
			break
		}
		rt.Pause()
	}
	pollMask.And(^me)
	if found {
		ci.Stats[statPollHits]++
	}
	return found
}

// waitForInterrupt halts until an interrupt (service SVC_IDLE: STI; HLT at
// CPL 0) and returns the vectors taken meanwhile (bit v-32). In CPL-3
// SYSCALL mode an interrupt that arrived while the kernel ran is already
// in CPU.Pending; the shim then returns without halting, since that
// interrupt, typically the reschedule IPI meant to wake this CPU, will
// not wake the HLT again. (Before the shim checked, idle CPUs on PVM hosts
// spun at CPL 3 instead of halting: a halt there could miss that IPI and
// sleep until the next timer interrupt, or for ever with none armed.)
func waitForInterrupt() uint64 {
	return rt.Idle()
}
