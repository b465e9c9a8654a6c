// Command threads makes 10,000 goroutines each lock itself to an OS thread and
// block on a channel, so 10,000 threads exist at once, then releases them all.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

const n = 10_000

func main() {
	// The runtime's default thread limit is exactly 10,000, and it needs a
	// few threads of its own on top of ours.
	debug.SetMaxThreads(n + 1000)

	release := make(chan struct{})
	var locked, done sync.WaitGroup
	locked.Add(n)
	done.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			defer done.Done()
			runtime.LockOSThread()
			locked.Done()
			<-release
			runtime.UnlockOSThread()
		}()
	}
	if !waitTimeout(&locked, 5*time.Minute) {
		fail("goroutines did not all lock their threads within 5m")
	}
	if g := runtime.NumGoroutine(); g < n {
		fail(fmt.Sprintf("NumGoroutine = %d with %d blocked goroutines", g, n))
	}
	fmt.Printf("threads: %d goroutines locked to threads\n", n)
	close(release)
	if !waitTimeout(&done, 5*time.Minute) {
		fail("locked goroutines did not all finish within 5m of release")
	}
	fmt.Println("threads: ok")
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	c := make(chan struct{})
	go func() { wg.Wait(); close(c) }()
	select {
	case <-c:
		return true
	case <-time.After(d):
		return false
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "threads:", msg)
	os.Exit(1)
}
