// Command smp checks a multiprocessor guest: runtime.NumCPU matches the
// CPUs the VM was given (WANT_CPUS), a CPU-bound parallel workload gives
// the right answer, and shared-memory synchronisation (sync.Mutex,
// atomics, channels) stays correct under contention.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func work(seed, n uint64) uint64 {
	x := seed
	for i := uint64(0); i < n; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

func fail(format string, args ...any) {
	fmt.Printf("smp: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	if want, err := strconv.Atoi(os.Getenv("WANT_CPUS")); err == nil && runtime.NumCPU() != want {
		fail("NumCPU=%d, want %d", runtime.NumCPU(), want)
	}
	n := runtime.NumCPU()
	fmt.Println("smp: cpus", n)

	// Parallel CPU-bound work, checked against the sequential result.
	const chunks, iters = 16, 2_000_000
	var seq uint64
	for i := uint64(0); i < chunks; i++ {
		seq += work(i+1, iters)
	}
	start := time.Now()
	var par atomic.Uint64
	var wg sync.WaitGroup
	for i := uint64(0); i < chunks; i++ {
		wg.Add(1)
		go func(i uint64) {
			defer wg.Done()
			par.Add(work(i+1, iters))
		}(i)
	}
	wg.Wait()
	if par.Load() != seq {
		fail("parallel sum %d != sequential %d", par.Load(), seq)
	}
	fmt.Println("smp: parallel work ok in", time.Since(start).Round(time.Millisecond))

	// Contended synchronisation, many rounds.
	for round := 0; round < 20; round++ {
		var mu sync.Mutex
		counter := 0
		var hits atomic.Int64
		ch := make(chan int, 8)
		var wg sync.WaitGroup
		for g := 0; g < 4*n; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 2000; i++ {
					mu.Lock()
					counter++
					mu.Unlock()
					hits.Add(1)
					if i%100 == 0 {
						ch <- 1
						<-ch
					}
				}
			}()
		}
		wg.Wait()
		if counter != 4*n*2000 || hits.Load() != int64(4*n*2000) {
			fail("round %d: counter=%d hits=%d want %d", round, counter, hits.Load(), 4*n*2000)
		}
	}
	fmt.Println("smp: synchronisation ok")
	runtime.GC()
	fmt.Println("smp: ok")
}
