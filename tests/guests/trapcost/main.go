// Command trapcost measures what single traps into the kernel cost, for
// docs/BENCHMARKS.md ("PVM: where traps cost"): a user page fault taken
// alone (no fault-around), and the detours a spinning thread sees (each
// an interrupt, usually the timer, and whatever the kernel did before it
// resumed the thread), and a wake-up round trip between two threads (with
// two CPUs: a halt, an IPI and a wake on each side). It prints
//
//	trapcost: NAME VALUE
//
// and exits 0. TRAPCOST_PAGES (default 2048) sets how many pages the
// fault figure touches (0 skips it: a run to diff host counters
// against), TRAPCOST_SPIN_MS (default 500) how long the spin lasts,
// TRAPCOST_TRIPS (default 1000) how many wake-up round trips are made.
package main

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"time"
)

func envInt(key string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(key)); err == nil && n >= 0 {
		return n
	}
	return def
}

func report(name string, v float64) { fmt.Printf("trapcost: %s %.0f\n", name, v) }

func minorFaults() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Minflt
}

func main() {
	// Pages touched from the top down: the kernel maps one page per fault
	// for a mapping growing down (it grows its fault-around window only
	// upwards), so every touch is one fault.
	if pages := envInt("TRAPCOST_PAGES", 2048); pages > 0 {
		m, err := syscall.Mmap(-1, 0, pages*4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
		if err != nil {
			fmt.Println("trapcost: FAIL mmap:", err)
			os.Exit(1)
		}
		f0 := minorFaults()
		start := time.Now()
		for i := pages - 1; i >= 0; i-- {
			m[i*4096] = 1
		}
		elapsed := time.Since(start)
		faults := minorFaults() - f0
		report("faults", float64(faults))
		if faults > 0 {
			report("fault_ns", float64(elapsed.Nanoseconds())/float64(faults))
		}
	}

	// Detours: spin reading the clock (the vDSO, no system call) and
	// record every gap over 2 µs between two reads.
	spin := time.Duration(envInt("TRAPCOST_SPIN_MS", 500)) * time.Millisecond
	var gaps []float64
	start := time.Now()
	last := start
	for last.Sub(start) < spin {
		now := time.Now()
		if d := now.Sub(last); d > 2*time.Microsecond {
			gaps = append(gaps, float64(d.Nanoseconds()))
		}
		last = now
	}
	report("detours", float64(len(gaps)))
	if len(gaps) > 0 {
		slices.Sort(gaps)
		report("detour_median_ns", gaps[len(gaps)/2])
		report("detour_p90_ns", gaps[len(gaps)*9/10])
	}
	// Wake-up round trips: two goroutines locked to their own threads
	// pass a token over unbuffered channels, so every hand-off wakes the
	// other thread.
	if trips := envInt("TRAPCOST_TRIPS", 1000); trips > 0 {
		ping, pong := make(chan int), make(chan int)
		go func() {
			runtime.LockOSThread()
			for v := range ping {
				pong <- v + 1
			}
		}()
		runtime.LockOSThread()
		start := time.Now()
		for i := 0; i < trips; i++ {
			ping <- i
			if <-pong != i+1 {
				fmt.Println("trapcost: FAIL ping-pong lost a message")
				os.Exit(1)
			}
		}
		report("trip_ns", float64(time.Since(start).Nanoseconds())/float64(trips))
		close(ping)
		runtime.UnlockOSThread()
	}
	fmt.Println("trapcost: ok")
}
