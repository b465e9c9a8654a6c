package main

import (
	"fmt"
	"runtime"
	"sync"
	"time"
)

// runGoroutines builds a chain of 100k goroutines, each forwarding values
// from its input channel to the next one's, incrementing them, and selecting
// on a quit channel so that the whole chain can be torn down. Several values
// are in flight at once, so the scheduler has to keep parking and waking
// goroutines along the chain. Every value must arrive incremented exactly
// once per goroutine; on quit every goroutine reports how many values it
// forwarded (a 100k-way fan-in), and the counts must add up.
func runGoroutines(scale float64) error {
	n := scaled(100_000, scale, 100)
	// Each token makes n hand-offs, so a few tokens are plenty of work.
	const tokens = 20

	quit := make(chan struct{})
	var exited sync.WaitGroup
	report := make(chan int, 1024)
	first := make(chan int)
	in := first
	for i := 0; i < n; i++ {
		out := make(chan int)
		exited.Add(1)
		go func(in <-chan int, out chan<- int) {
			defer exited.Done()
			forwarded := 0
			defer func() { report <- forwarded }()
			for {
				select {
				case v := <-in:
					select {
					case out <- v + 1:
						forwarded++
					case <-quit:
						return
					}
				case <-quit:
					return
				}
			}
		}(in, out)
		in = out
	}
	last := in

	if g := runtime.NumGoroutine(); g < n {
		return fmt.Errorf("NumGoroutine = %d with %d goroutines started", g, n)
	}

	// Feed from one goroutine and drain from this one, so neither end
	// blocks the other.
	go func() {
		for t := 0; t < tokens; t++ {
			first <- t * n
		}
	}()
	seen := make([]bool, tokens)
	timeout := time.After(5 * time.Minute)
	for got := 0; got < tokens; got++ {
		select {
		case v := <-last:
			t := v/n - 1
			if v%n != 0 || t < 0 || t >= tokens || seen[t] {
				close(quit)
				return fmt.Errorf("value %d out of the chain: not a fresh token incremented %d times", v, n)
			}
			seen[t] = true
		case <-timeout:
			close(quit)
			return fmt.Errorf("only %d of %d tokens came through the chain in 5m", got, tokens)
		}
	}
	close(quit)

	sum := 0
	for i := 0; i < n; i++ {
		select {
		case f := <-report:
			sum += f
		case <-time.After(time.Minute):
			return fmt.Errorf("only %d of %d chain goroutines reported after quit", i, n)
		}
	}
	if want := n * tokens; sum != want {
		return fmt.Errorf("chain goroutines forwarded %d values in all, want %d", sum, want)
	}
	exited.Wait()
	fmt.Printf("stress: goroutines: %d goroutines passed %d tokens\n", n, tokens)
	return nil
}
