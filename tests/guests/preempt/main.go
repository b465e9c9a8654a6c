// Command preempt checks asynchronous preemption: with GOMAXPROCS=1, a
// goroutine spinning in a loop without function calls must not starve
// others, and a stop-the-world GC must complete while it spins.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"time"
)

var stop atomic.Bool
var spins uint64

func spin() {
	n := uint64(0)
	for !stop.Load() {
		n++ // no calls: only an asynchronous preemption can stop this loop
	}
	atomic.AddUint64(&spins, n)
}

func main() {
	runtime.GOMAXPROCS(1)
	go spin()
	go spin()
	runtime.Gosched()
	start := time.Now()
	time.Sleep(50 * time.Millisecond)
	fmt.Println("preempt: main ran again after", time.Since(start).Round(time.Millisecond))
	for i := 0; i < 3; i++ {
		runtime.GC()
	}
	fmt.Println("preempt: 3 GCs completed while spinning")
	stop.Store(true)
	time.Sleep(10 * time.Millisecond)
	if atomic.LoadUint64(&spins) == 0 {
		fmt.Println("preempt: spinners never ran")
		os.Exit(1)
	}
	fmt.Println("preempt: ok")
}
