// Package spinlock provides the kernel's mutual exclusion primitive.
//
// Kernel code runs with interrupts disabled, so a spinlock never has to
// guard against an interrupt handler on the same CPU re-entering it: the
// only contention is from other CPUs. The lock is a test-and-test-and-set
// word with PAUSE in the wait loop, which keeps a waiting vCPU from
// hammering the cache line (and lets KVM's pause-loop exiting notice it).
//
// The code is nosplit-safe: it allocates nothing and calls nothing but
// atomics, so it may be used from any kernel context, including before the
// Go runtime is initialised.
package spinlock

import (
	"sync/atomic"
	"unsafe"
)

// waitHook, when set, runs on every iteration of a contended Lock. The
// kernel uses it to answer TLB-shootdown requests while it spins: kernel
// code runs with interrupts off, so a CPU spinning on a lock held by a CPU
// that waits for its acknowledgement would otherwise deadlock. Set once at
// boot, before other CPUs run.
//
// It holds the func value as a uintptr (the address of its funcval):
// kernel code must compile without GC write barriers (kernel context has
// no P to run one; kernel/restricted_test.go checks), and storing a func
// value would need one. The hook is a top-level function, whose funcval
// is static, so the GC has nothing to track.
var waitHook uintptr

// SetWaitHook installs f, a top-level function (not a closure), as the
// function contended Locks call while they wait.
func SetWaitHook(f func()) { waitHook = *(*uintptr)(unsafe.Pointer(&f)) }

// Lock is a spinlock. The zero value is unlocked.
type Lock struct {
	v atomic.Uint32
}

// Lock acquires l, spinning until it is free.
//
//go:nosplit
func (l *Lock) Lock() {
	for {
		if l.v.CompareAndSwap(0, 1) {
			return
		}
		for l.v.Load() != 0 {
			if h := waitHook; h != 0 {
				(*(*func())(unsafe.Pointer(&h)))()
			}
			pause()
		}
	}
}

// TryLock acquires l if it is free and reports whether it did.
//
//go:nosplit
func (l *Lock) TryLock() bool { return l.v.CompareAndSwap(0, 1) }

// Unlock releases l. It must be held.
//
//go:nosplit
func (l *Lock) Unlock() { l.v.Store(0) }

// Held reports whether l is held by anyone (for assertions only).
//
//go:nosplit
func (l *Lock) Held() bool { return l.v.Load() != 0 }
