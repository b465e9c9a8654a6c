// Command wakeups checks that threads wake each other across CPUs: two
// goroutines locked to their own OS threads ping-pong through unbuffered
// channels (every hand-off parks one thread in futex and wakes it from the
// other, so with 2 CPUs most wake-ups cross CPUs and need a reschedule
// IPI), many goroutines contend on a sync.Mutex with atomics checking the
// counts, and locked threads sleep on timers while others spin. It prints
// the mean round-trip time of the ping-pong (two wake-ups).
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

func fail(format string, args ...any) {
	fmt.Printf("wakeups: "+format+"\n", args...)
	os.Exit(1)
}

// pingPong bounces a counter between two OS threads rounds times.
func pingPong(rounds int) time.Duration {
	ping, pong := make(chan int), make(chan int)
	done := make(chan int)
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
	v := 0
	for i := 0; i < rounds; i++ {
		ping <- v
		w := <-pong
		if w != v+1 {
			fail("ping-pong: sent %d, got back %d", v, w)
		}
		v = w + 1
	}
	d := time.Since(start)
	close(ping)
	<-done
	if v != 2*rounds {
		fail("ping-pong: counter %d, want %d", v, 2*rounds)
	}
	return d
}

// contend runs goroutines that increment a mutex-guarded counter and an
// atomic one, yielding and sleeping now and then so threads park and wake.
func contend(goroutines, iters int) {
	var mu sync.Mutex
	counter := 0
	var hits atomic.Int64
	var inside atomic.Int32
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			if g%2 == 0 {
				runtime.LockOSThread() // more OS threads, more futex traffic
				defer runtime.UnlockOSThread()
			}
			for i := 0; i < iters; i++ {
				mu.Lock()
				if inside.Add(1) != 1 {
					fail("mutex: two holders at once")
				}
				counter++
				inside.Add(-1)
				mu.Unlock()
				hits.Add(1)
				switch {
				case i%500 == 0:
					time.Sleep(50 * time.Microsecond)
				case i%50 == 0:
					runtime.Gosched()
				}
			}
		}(g)
	}
	wg.Wait()
	if want := goroutines * iters; counter != want || hits.Load() != int64(want) {
		fail("mutex: counter %d, atomic %d, want %d", counter, hits.Load(), want)
	}
}

// sleepers has locked threads sleep repeatedly while spinners keep the
// CPUs busy: every timer wake-up must still arrive.
func sleepers(n, times int) {
	var stop atomic.Bool
	var spin sync.WaitGroup
	for i := 0; i < runtime.NumCPU(); i++ {
		spin.Add(1)
		go func() {
			defer spin.Done()
			x := 0
			for !stop.Load() {
				x++
			}
			_ = x
		}()
	}
	var wg sync.WaitGroup
	var woke atomic.Int64
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			for j := 0; j < times; j++ {
				time.Sleep(time.Millisecond)
				woke.Add(1)
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	spin.Wait()
	if woke.Load() != int64(n*times) {
		fail("sleepers: %d wake-ups, want %d", woke.Load(), n*times)
	}
}

func main() {
	fmt.Println("wakeups: cpus", runtime.NumCPU())
	const rounds = 3000
	d := pingPong(rounds)
	fmt.Printf("wakeups: ping-pong ok, %d round trips, %v per round trip\n", rounds, (d / rounds).Round(100*time.Nanosecond))
	for r := 0; r < 4; r++ {
		contend(16, 2000)
	}
	fmt.Println("wakeups: mutex ok")
	sleepers(8, 20)
	fmt.Println("wakeups: sleepers ok")
	fmt.Println("wakeups: ok")
}
