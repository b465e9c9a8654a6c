package main

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"
)

// finalized is big enough, and holds a pointer, so that it gets its own
// allocation rather than sharing a tiny-allocator block, which would keep
// finalizers from running until its neighbours die too.
type finalized struct {
	id   int
	next *finalized
	pad  [48]byte
}

// runFinalizers drops n objects with finalizers and checks that collections
// run every finalizer exactly once, while a kept object's finalizer does not
// run.
func runFinalizers(scale float64) error {
	n := scaled(10_000, scale, 100)
	var ran atomic.Int64
	counts := make([]atomic.Int32, n)
	keptRan := atomic.Bool{}

	func() {
		for i := 0; i < n; i++ {
			o := &finalized{id: i}
			runtime.SetFinalizer(o, func(o *finalized) {
				counts[o.id].Add(1)
				ran.Add(1)
			})
		}
	}()
	kept := &finalized{id: -1}
	runtime.SetFinalizer(kept, func(*finalized) { keptRan.Store(true) })

	deadline := time.Now().Add(30 * time.Second)
	for ran.Load() < int64(n) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d finalizers ran within 30s of GCs", ran.Load(), n)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	// Finalizers run on one goroutine; let any straggler double-run show.
	runtime.GC()
	time.Sleep(50 * time.Millisecond)
	for i := range counts {
		if c := counts[i].Load(); c != 1 {
			return fmt.Errorf("finalizer of object %d ran %d times", i, c)
		}
	}
	if keptRan.Load() {
		return fmt.Errorf("finalizer of a live object ran")
	}
	runtime.KeepAlive(kept)
	return nil
}
