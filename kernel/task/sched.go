package task

import (
	"sync/atomic"
	_ "unsafe" // go:linkname

	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/kmem"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/kernel/platform"
	"github.com/unigo-os/unigo/rt"
)

// Threads and scheduling.
//
// Every clone(2) makes a thread with its own kernel stack. A kernel stack
// block (kstackOrder, 16 KiB) holds, from its base: the fake g that kernel
// Go code runs with (stack bounds only), the TLS word FS:-8 points at, and
// the stack proper, whose top holds the thread's rt.Frame while it is in
// the kernel. A thread leaves the CPU only from inside the kernel (blocking
// in a system call, or preempted by the timer interrupt), by switching
// kernel stacks (rt.SwitchStacks); it resumes by returning through its own
// frame.
//
// Locks are taken with the interrupt flag already clear, as all kernel
// code runs with IF=0 (or with the shim deferring interrupts, in CPL-3
// SYSCALL mode). The scheduler's locking and invariants are described in
// runq.go.
const (
	kstackOrder = 2
	KStackSize  = kmem.PageSize << kstackOrder
	gAreaSize   = 512  // fake g
	tlsOffset   = 512  // TLS word (g pointer); FS.base = block+tlsOffset+8
	stackLo     = 1024 // lowest usable stack byte
	stackGuard  = 1024 // stackguard0 = lo + stackGuard

	timeslice = 10_000_000 // ns
)

const (
	threadRunnable = iota
	ThreadRunning
	threadBlocked
	threadDead
	threadIdle // a CPU's idle thread: never queued, never woken
)

type thread struct {
	Tid      uint64
	State    uint32
	KStack   uintptr
	ksp      uintptr // saved kernel SP while switched out
	Xsave    uintptr
	next     uintptr // run queue or futex queue link
	wake     int64   // timer deadline (ns), 0 if none
	tnext    uintptr // timer list link
	futex    uintptr // futex word waited on (0 if none)
	woken    bool    // woken explicitly (vs timeout)
	sigmask  uint64
	altSP    uint64
	altFlags uint64
	altSize  uint64
	clearTID uintptr
	// sysStack is the thread's system stack (the runtime's g0 stack):
	// [sysStackLo, sysStackHi). See onSystemStack in exit.go.
	SysStackLo, SysStackHi uint64
	cpuNS                  int64 // CPU time consumed
	OnCPU                  int64 // when it last got the CPU (ns)
	dnext                  uintptr
	anext                  uintptr // allThreads link
	sigpending             uint64  // bit sig-1
	sigcode                int32   // si_code for a pending SIGPROF (timer kind)
	LastCPU                int32   // CPU index it runs (or last ran) on
}

var (
	timers     uintptr      // sorted by wake
	TimerNext  atomic.Int64 // wake of the first timer (0: none); read unlocked (timer interrupt, idle poll)
	nextTID    uint64       = 1
	nthreads   int64
	zombies    uintptr
	allThreads uintptr // every thread not yet reaped, via thread.anext
	XsaveSize  uintptr = 512
)

func Th(p uintptr) *thread { return kctx.At[thread](p) }

func CPU() *rt.CPU { return kctx.At[rt.CPU](rt.ThisCPU()) }

func Current() *thread { return Th(CPU().Current) }

// NewThread allocates a thread with a kernel stack whose fake g and TLS
// are initialised. It returns 0 when memory is exhausted.
func NewThread() uintptr {
	t := kmem.Alloc(UintptrSize(thread{}))
	if t == 0 {
		return 0
	}
	ks := kmem.AllocPages(kstackOrder)
	if ks == 0 {
		kmem.Free(t, UintptrSize(thread{}))
		return 0
	}
	xs := kmem.AllocPages(OrderOf(XsaveSize))
	if xs == 0 {
		kmem.FreePages(ks, kstackOrder)
		kmem.Free(t, UintptrSize(thread{}))
		return 0
	}
	// Fake g: stack.lo, stack.hi, stackguard0, stackguard1.
	g := kctx.At[[4]uintptr](ks)
	g[0] = ks + stackLo
	g[1] = ks + KStackSize
	g[2] = ks + stackLo + stackGuard
	g[3] = g[2]
	*kctx.At[uintptr](ks + tlsOffset) = ks
	tt := Th(t)
	tt.KStack = ks
	tt.Xsave = xs
	kctx.SchedLock.Lock()
	tt.Tid = nextTID
	nextTID++
	nthreads++
	tt.anext = allThreads
	allThreads = t
	kctx.SchedLock.Unlock()
	// A fresh FXSAVE/XSAVE image: default control words, MXCSR 0x1f80.
	*kctx.At[uint16](xs) = 0x37f
	*kctx.At[uint32](xs + 24) = 0x1f80
	return t
}

func OrderOf(n uintptr) int {
	o := 0
	for uintptr(kmem.PageSize)<<o < n {
		o++
	}
	return o
}

func UintptrSize[T any](v T) uintptr { return kctx.SizeOf(&v) }

// FrameOf returns the address of t's rt.Frame (top of its kernel stack).
func FrameOf(t uintptr) uintptr { return Th(t).KStack + KStackSize - rt.FrameSize }

func KTLSOf(t uintptr) uintptr { return Th(t).KStack + tlsOffset + 8 }

// waiter is a thread queued on a waitq. It lives on the waiting thread's
// kernel stack, which stays put while the thread sleeps.
type waiter struct {
	t    uintptr
	next uintptr
}

// Waitq is the head of a list of waiters.
type Waitq uintptr

// Wait queues the current thread on q and blocks until WakeAll(q) or the
// deadline (0: none). It reports whether it was woken. Caller holds
// SchedLock.
func (q *Waitq) Wait(deadline int64) bool {
	var w waiter
	w.t = CPU().Current
	w.next = uintptr(*q)
	wp := kctx.PtrOf(&w)
	*q = Waitq(wp)
	woke := block(deadline)
	q.remove(wp)
	return woke
}

func (q *Waitq) remove(wp uintptr) {
	for p := (*uintptr)(q); *p != 0; p = &kctx.At[waiter](*p).next {
		if *p == wp {
			*p = kctx.At[waiter](wp).next
			return
		}
	}
}

// WakeAll wakes every thread on q. Caller holds SchedLock.
func (q *Waitq) WakeAll() {
	p := uintptr(*q)
	*q = 0
	for p != 0 {
		w := kctx.At[waiter](p)
		p = w.next
		w.next = 0
		Th(w.t).woken = true
		wakeup(w.t)
	}
}

// wakeup makes a blocked thread runnable. Caller holds SchedLock.
func wakeup(t uintptr) {
	if Th(t).State != threadBlocked {
		return
	}
	timerRemove(t)
	makeRunnable(t)
}

// timerAdd inserts t into the timer list at deadline. Caller holds
// SchedLock. It arms no timer: t is the current thread, about to block,
// and the switch away arms for the next thread, or the idle loop before
// it halts.
func timerAdd(t uintptr, deadline int64) {
	Th(t).wake = deadline
	p := &timers
	for *p != 0 && Th(*p).wake <= deadline {
		p = &Th(*p).tnext
	}
	Th(t).tnext = *p
	*p = t
	timerNextUpdate()
}

func timerRemove(t uintptr) {
	if Th(t).wake == 0 {
		return
	}
	for p := &timers; *p != 0; p = &Th(*p).tnext {
		if *p == t {
			*p = Th(t).tnext
			break
		}
	}
	Th(t).wake = 0
	Th(t).tnext = 0
	timerNextUpdate()
}

// timerNextUpdate republishes the first deadline, and each CPU's first
// deadline among the timers it owns. Caller holds SchedLock.
//
// A timer belongs to the CPU its thread blocked on (LastCPU does not
// change while the thread sleeps), and only that CPU arms its LAPIC for it,
// so that no two CPUs take an interrupt for the same deadline. Only the
// owner adds a timer, hence makes its first deadline earlier (timerAdd, on
// the way to the switch that re-arms); others only remove, which leaves at
// worst one early interrupt that re-arms.
func timerNextUpdate() {
	if timers == 0 {
		TimerNext.Store(0)
	} else {
		TimerNext.Store(Th(timers).wake)
	}
	n := int(Online.Load())
	all := ^uint64(0)
	if n < 64 {
		all = uint64(1)<<uint(n) - 1
	}
	seen := uint64(0)
	for t := timers; t != 0 && seen != all; t = Th(t).tnext {
		c := int(Th(t).LastCPU)
		if c < 0 || c >= n {
			c = 0
		}
		if seen&(1<<uint(c)) == 0 {
			seen |= 1 << uint(c)
			cpus[c].timerNext.Store(Th(t).wake)
		}
	}
	for i := 0; i < n; i++ {
		if seen&(1<<uint(i)) == 0 {
			cpus[i].timerNext.Store(0)
		}
	}
}

// ExpireTimers wakes threads whose deadline passed. Caller holds
// SchedLock.
func ExpireTimers(now int64) {
	for timers != 0 && Th(timers).wake <= now {
		t := timers
		timers = Th(t).tnext
		Th(t).wake = 0
		Th(t).tnext = 0
		if Th(t).futex != 0 {
			futexDequeue(t)
		}
		if Th(t).State == threadBlocked {
			makeRunnable(t)
		}
	}
	timerNextUpdate()
}

// ArmTimer programs this CPU's LAPIC for its next event: the earliest
// timer it owns (timerNextUpdate), the end of the running thread's
// timeslice if others wait in this CPU's run queue, or the CPU-time
// timers' tick (armDeadline), or the end of a wake-affine wait
// (handOffDeadline). It takes no lock: it reads the CPU's
// timerNext and the queue length atomically, and a stale value only means
// one early or extra interrupt, which re-arms.
func ArmTimer() {
	ci := ThisCPU()
	busyAlone := Online.Load() <= 1 && CPU().Current != ci.Idle
	deadline := armDeadline(ci.timerNext.Load(), ci.rq.n.Load() != 0, ci.rq.sliceEnd, busyAlone)
	if tick := cpuTimerTick(); tick != 0 {
		if d := platform.Nanotime() + tick; deadline == 0 || d < deadline {
			deadline = d
		}
	}
	lapicDeadline(ci.handOffDeadline(deadline, platform.Nanotime()))
}

// armDeadline is when the timer of a CPU must next fire (0: never) for its
// first timer (0: none), whether others wait in its run queue, and the end
// of the running thread's slice.
//
// busyAlone says a thread other than the idle one runs on the only CPU.
// Then a sleeper whose deadline comes before the slice ends could not run
// before it anyway: woken, it would wait in the queue until the running
// thread blocks (switchAway expires due timers first) or its slice ends
// (Preempt). So its timer is left to the slice's end, and one interrupt
// serves both: the Go runtime's sysmon, sleeping 20 µs at a time while
// the program runs, cost a timer programming and an interrupt per sleep,
// each a trap on a paravirtualised host. With more CPUs a woken thread
// may go to another, idle one at once, so every deadline is kept.
func armDeadline(timer int64, queued bool, sliceEnd int64, busyAlone bool) int64 {
	d := timer
	if busyAlone && d != 0 && d < sliceEnd {
		d = sliceEnd
	}
	if queued && (d == 0 || sliceEnd < d) {
		d = sliceEnd
	}
	return d
}

// block puts the current thread to sleep until wakeup (or its deadline,
// if non-zero) and runs others meanwhile. Caller holds SchedLock; it is
// held again on return (so a waker, which holds SchedLock, finishes its
// wake-up before the woken thread continues: wait-queue entries on the
// sleeper's stack, like pipe waiters, stay valid while the waker walks
// them). It reports whether the thread was woken before the deadline.
func block(deadline int64) bool {
	t := CPU().Current
	Th(t).State = threadBlocked
	Th(t).woken = false
	if deadline != 0 {
		timerAdd(t, deadline)
	}
	switchAway()
	kctx.SchedLock.Lock()
	return Th(t).woken || deadline == 0
}

// exitThread ends the current thread. Caller holds SchedLock.
func exitThread() {
	t := CPU().Current
	reapZombies()
	Th(t).State = threadDead
	Th(t).dnext = zombies
	zombies = t
	nthreads--
	switchAway()
	kctx.Panic("dead thread rescheduled")
}

// reapZombies frees the threads that exited. Caller holds SchedLock. A
// zombie's CPU held SchedLock until it had switched off the zombie's
// stack (switchAway), so every zombie seen here is off every CPU.
func reapZombies() {
	for zombies != 0 {
		t := zombies
		zombies = Th(t).dnext
		for a := &allThreads; *a != 0; a = &Th(*a).anext {
			if *a == t {
				*a = Th(t).anext
				break
			}
		}
		kmem.FreePages(Th(t).KStack, kstackOrder)
		kmem.FreePages(Th(t).Xsave, OrderOf(XsaveSize))
		kmem.Free(t, UintptrSize(thread{}))
	}
}

// kernelIdle is rt's kernelIdle: where a never-run idle thread starts,
// switched to by switchTo.
//
//go:linkname kernelIdle github.com/unigo-os/unigo/rt.kernelIdle
func kernelIdle() {
	finishSwitch()
	IdleLoop()
}

// NewIdleThread makes the idle thread of a CPU: its first switch-in
// starts idleLoop (through rt's idle start stub).
func NewIdleThread() uintptr {
	t := NewThread()
	if t == 0 {
		return 0
	}
	ksp := Th(t).KStack + KStackSize - 16
	*kctx.At[uint64](ksp) = 0
	*kctx.At[uint64](ksp + 8) = uint64(rt.IdleStartPC())
	Th(t).ksp = ksp
	Th(t).State = threadIdle
	return t
}

// threadFirstRun is rt's kernelThreadStart: a new thread's first switch-in
// (from switchTo) arrives here.
//
//go:linkname threadFirstRun github.com/unigo-os/unigo/rt.kernelThreadStart
func threadFirstRun() {
	finishSwitch()
	ArmTimer()
	PrepareReturn(kctx.At[rt.Frame](FrameOf(CPU().Current)))
}

// PrepareReturn makes sure the resumed context's stack can take the two
// words the CPL-3 return path (rt's cpl3Syscall) writes just below its
// stack pointer: a fault there would hit the kernel.
func PrepareReturn(f *rt.Frame) {
	if sp := uintptr(f.RSP) - 16; rt.CPL3Mode() && !mm.UserWritableNow(sp, 16) {
		mm.UserOK(sp, 16, true)
	}
}
