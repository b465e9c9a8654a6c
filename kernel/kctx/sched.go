package kctx

import (
	"unsafe"

	"github.com/unigo-os/unigo/kernel/spinlock"
	"github.com/unigo-os/unigo/rt"
)

// SchedLock guards everything about threads that is not a run queue: the
// Blocked state and the wait queues (futexes, pipes, epoll, the console),
// the timer list, signals, CPU-time timers, zombies and the thread list.
// See kernel/task/runq.go for how it nests with the run queues. Nothing runs
// user-memory checks (which may fault pages in) with it held.
//
// It is the lock every CPU takes for every wake-up, so what its holder
// does is what others spin for. A reschedule IPI or a timer programming
// decided under it (each a trapped MSR write on a paravirtualised host)
// is therefore deferred to its release (kernel/task's SendResched): the
// release runs the unlock hook on the releasing CPU, which is the one
// that took it (a switch hands the lock to the next thread on the same
// CPU).
var SchedLock schedLock

type schedLock struct {
	l spinlock.Lock
	// owner is rt.ThisCPU() of the holder's CPU, 0 when free.
	owner uintptr
}

// schedUnlockHook, when set, runs on the releasing CPU after every
// release of SchedLock (a funcval address, as spinlock's wait hook).
var schedUnlockHook uintptr

// SetSchedUnlockHook installs f, a top-level function, to run after each
// release of SchedLock. Set once at boot, before other CPUs run.
func SetSchedUnlockHook(f func()) { schedUnlockHook = *(*uintptr)(unsafe.Pointer(&f)) }

// Lock acquires SchedLock.
//
//go:nosplit
func (l *schedLock) Lock() {
	l.l.Lock()
	l.owner = rt.ThisCPU()
}

// Unlock releases SchedLock, then runs the unlock hook.
//
//go:nosplit
func (l *schedLock) Unlock() {
	l.owner = 0
	l.l.Unlock()
	if h := schedUnlockHook; h != 0 {
		(*(*func())(unsafe.Pointer(&h)))()
	}
}

// HeldHere reports whether this CPU holds SchedLock.
//
//go:nosplit
func (l *schedLock) HeldHere() bool { return l.owner != 0 && l.owner == rt.ThisCPU() }

// Held reports whether SchedLock is held by any CPU (for assertions).
//
//go:nosplit
func (l *schedLock) Held() bool { return l.l.Held() }
