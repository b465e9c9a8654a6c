// Command regstorm checks that kernel entries leave the interrupted
// context intact: goroutines spin in assembly with a known value in every
// general register (RAX included: the vector stubs park it in their entry
// record) and check them all on every round, while page faults, timer
// interrupts, IPIs (wake-ups between threads) and preemption signals land
// in between. In CPL-3 SYSCALL mode an interrupt pending when a stub's
// IRETQ turns IF on arrives at istEntry's first instruction, before it has
// copied the record: that nesting must not corrupt the first entry. It
// prints "regstorm: ok" and exits 0, or reports the first bad register.
// REGSTORM_MS (default 1500) sets how long it runs.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// spin runs rounds rounds of: load the pattern, touch page i of pages
// (i < npages; a fault the first time), check every register. It returns
// 0, or 1+the index of the first register found changed.
//
//go:noescape
func spin(rounds int, pages *byte, npages int) int

func main() {
	ms := 1500
	if n, err := strconv.Atoi(os.Getenv("REGSTORM_MS")); err == nil && n > 0 {
		ms = n
	}
	workers := runtime.GOMAXPROCS(0) + 1 // more than CPUs: preemption too
	deadline := time.Now().Add(time.Duration(ms) * time.Millisecond)
	var bad atomic.Int64
	var rounds, faults atomic.Int64
	var wg sync.WaitGroup
	// Wake-ups across CPUs: a ping-pong pair (IPIs, halts) next to the
	// spinners.
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for time.Now().Before(deadline) {
			ping <- 1
			<-pong
			time.Sleep(50 * time.Microsecond)
		}
	}()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && bad.Load() == 0 {
				const npages, rounds1 = 64, 20000
				m, err := syscall.Mmap(-1, 0, npages*4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
				if err != nil {
					fmt.Println("regstorm: FAIL mmap:", err)
					os.Exit(1)
				}
				if r := spin(rounds1, &m[0], npages); r != 0 {
					bad.Store(int64(r))
				}
				rounds.Add(rounds1)
				faults.Add(npages)
				syscall.Munmap(m)
			}
		}()
	}
	wg.Wait()
	close(ping)
	if r := bad.Load(); r != 0 {
		fmt.Printf("regstorm: FAIL register %d changed under a kernel entry\n", r-1)
		os.Exit(1)
	}
	fmt.Printf("regstorm: %d rounds, %d page faults, %d workers\n", rounds.Load(), faults.Load(), workers)
	fmt.Println("regstorm: ok")
}
