// Command sleepbusy checks sleeps while another thread keeps the CPU busy:
// one thread sleeps 1 ms at a time in nanosleep while another spins in
// user mode. On one CPU the kernel may end such a sleep at the end of the
// spinner's timeslice instead of at its deadline, but never before the
// deadline, and the sleeper must not be starved.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	sleeps = 20
	nap    = time.Millisecond
)

var stop atomic.Bool
var spins atomic.Uint64

func spin() {
	runtime.LockOSThread()
	n := uint64(0)
	for !stop.Load() {
		n++
	}
	spins.Store(n)
}

func main() {
	runtime.GOMAXPROCS(2) // the spinner and the sleeper on threads of their own
	runtime.LockOSThread()
	go spin()
	time.Sleep(5 * time.Millisecond) // let the spinner start
	longest := time.Duration(0)
	for i := 0; i < sleeps; i++ {
		ts := syscall.NsecToTimespec(int64(nap))
		start := time.Now()
		for {
			var rem syscall.Timespec
			err := syscall.Nanosleep(&ts, &rem)
			if err == syscall.EINTR {
				ts = rem // a signal (natively, the runtime's preemption): sleep the rest
				continue
			}
			if err != nil {
				fmt.Println("sleepbusy: nanosleep:", err)
				os.Exit(1)
			}
			break
		}
		d := time.Since(start)
		if d < nap {
			fmt.Printf("sleepbusy: sleep %d ended early, after %v\n", i, d)
			os.Exit(1)
		}
		longest = max(longest, d)
	}
	stop.Store(true)
	for spins.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	fmt.Printf("sleepbusy: %d sleeps of %v, none early, longest %v\n", sleeps, nap, longest.Round(100*time.Microsecond))
	fmt.Println("sleepbusy: ok")
}
