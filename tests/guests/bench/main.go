// Command bench is the guest `unigo bench` boots to measure the kernel
// under load (issue #4): it times a CPU-bound workload run serially and
// split over GOMAXPROCS goroutines (alternating, so that each pair also
// gives a speedup under about the same host load), the round trip of a
// trapped system call (getpid through syscall.RawSyscall), demand paging
// (first touch of a fresh mapping, and the faults it takes), and the round
// trip of a wake-up between two goroutines locked to their own threads, and
// the cost of a 100-byte line written to stdout (the console). It also
// reports the page faults taken before main. It prints one line per
// figure,
//
//	bench: NAME VALUE
//
// each the median over BENCH_REPS repetitions (default 5), and exits 0. It
// checks the workload's result, so a wrong answer exits 1. The same image
// run natively gives the figures to compare against.
package main

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// work is the CPU-bound unit: n rounds of xorshift64, no memory traffic, no
// allocation, so it measures the CPU and the scheduler, not the caches.
func work(seed, n uint64) uint64 {
	x := seed
	for i := uint64(0); i < n; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

func envInt(key string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(key)); err == nil && n > 0 {
		return n
	}
	return def
}

// median of the repetitions of f, each returning nanoseconds.
func median(reps int, f func() float64) float64 {
	v := make([]float64, reps)
	for i := range v {
		v[i] = f()
	}
	return medianOf(v)
}

func medianOf(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}

func report(name string, v float64) {
	fmt.Printf("bench: %s %.3f\n", name, v)
}

func fail(format string, args ...any) {
	fmt.Printf("bench: FAIL "+format+"\n", args...)
	os.Exit(1)
}

// minorFaults is the process's page-fault count (getrusage ru_minflt).
func minorFaults() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Minflt
}

func main() {
	// Page faults taken before main: the runtime's start-up, which is
	// most of a small program's boot time when faults are expensive.
	report("faults_at_main", float64(minorFaults()))
	reps := envInt("BENCH_REPS", 5)
	// Total xorshift rounds per run of the workload, split between chunks
	// so that any worker count divides the work evenly enough.
	const chunks = 64
	rounds := uint64(envInt("BENCH_ROUNDS", 100_000_000)) / chunks
	workers := runtime.GOMAXPROCS(0)
	// The system call and ping-pong loops run for this long per repetition.
	budget := time.Duration(envInt("BENCH_LOOP_MS", 100)) * time.Millisecond
	report("cpus", float64(runtime.NumCPU()))
	report("workers", float64(workers))

	var want uint64
	for c := uint64(0); c < chunks; c++ {
		want += work(c+1, rounds)
	}
	serial := func() float64 {
		start := time.Now()
		var sum uint64
		for c := uint64(0); c < chunks; c++ {
			sum += work(c+1, rounds)
		}
		if sum != want {
			fail("serial sum %d != %d", sum, want)
		}
		return float64(time.Since(start).Nanoseconds())
	}
	parallel := func() float64 {
		start := time.Now()
		sums := make([]uint64, workers*8) // a cache line per worker
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for c := uint64(w); c < chunks; c += uint64(workers) {
					sums[w*8] += work(c+1, rounds)
				}
			}(w)
		}
		wg.Wait()
		var sum uint64
		for w := 0; w < workers; w++ {
			sum += sums[w*8]
		}
		if sum != want {
			fail("parallel sum %d != %d", sum, want)
		}
		return float64(time.Since(start).Nanoseconds())
	}
	// Serial and parallel runs alternate, and each pair gives a speedup:
	// on a shared host the load changes from second to second, and a
	// pair run back to back sees about the same load.
	var ser, par, speedup []float64
	for i := 0; i < reps; i++ {
		s, p := serial(), parallel()
		ser, par, speedup = append(ser, s), append(par, p), append(speedup, s/p)
	}
	report("serial_ns", medianOf(ser))
	report("parallel_ns", medianOf(par))
	report("paired_speedup", medianOf(speedup))

	// A trapped system call: getpid does nothing but return, so the loop
	// measures entry and exit. RawSyscall skips the runtime's
	// entersyscall/exitsyscall bookkeeping.
	report("getpid_ns", median(reps, func() float64 {
		start := time.Now()
		calls := 0
		for time.Since(start) < budget {
			for i := 0; i < 1000; i++ {
				syscall.RawSyscall(syscall.SYS_GETPID, 0, 0, 0)
			}
			calls += 1000
		}
		return float64(time.Since(start).Nanoseconds()) / float64(calls)
	}))

	// Demand paging: touch every page of a fresh 16 MiB anonymous mapping
	// and divide by the faults it took (the kernel may map several pages
	// per fault), so both the per-page and the per-fault cost show.
	const touch = 16 << 20
	var faults float64
	report("touch_ns_per_page", median(reps, func() float64 {
		m, err := syscall.Mmap(-1, 0, touch, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
		if err != nil {
			fail("mmap: %v", err)
		}
		f0 := minorFaults()
		start := time.Now()
		for i := 0; i < touch; i += 4096 {
			m[i] = 1
		}
		elapsed := time.Since(start)
		faults = float64(minorFaults() - f0)
		syscall.Munmap(m)
		return float64(elapsed.Nanoseconds()) / (touch / 4096)
	}))
	report("faults_per_16mib", faults)

	// Wake-up round trip: two goroutines, each locked to its own thread,
	// pass a token over unbuffered channels. Every hand-off wakes the
	// other thread (futex wake, and with two CPUs usually an IPI to the
	// other one); one round trip is two wake-ups.
	report("pingpong_ns", median(reps, func() float64 {
		ping, pong := make(chan int), make(chan int)
		done := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			for v := range ping {
				pong <- v + 1
			}
			close(done)
		}()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		start := time.Now()
		trips := 0
		for ; time.Since(start) < budget; trips++ {
			ping <- trips
			if <-pong != trips+1 {
				fail("ping-pong lost a message")
			}
		}
		elapsed := time.Since(start)
		close(ping)
		<-done
		return float64(elapsed.Nanoseconds()) / float64(trips)
	}))

	// Console output: BENCH_LINES lines of 100 bytes, one write each, to
	// stdout (in a VM the console; natively whatever the runner reads).
	lines := envInt("BENCH_LINES", 2000)
	report("conline_ns", median(reps, func() float64 {
		line := []byte(fmt.Sprintf("conline %091d\n", 0))
		start := time.Now()
		for i := 0; i < lines; i++ {
			if _, err := os.Stdout.Write(line); err != nil {
				fail("console write: %v", err)
			}
		}
		return float64(time.Since(start).Nanoseconds()) / float64(lines)
	}))
}
