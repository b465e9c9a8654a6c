package main

import (
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
	"time"
)

// Timer checks are loose on purpose: a VM can be descheduled by its host, so
// a timer may fire late, but it must never fire early, and it must fire.
const timerSlack = 2 * time.Second

// runTimers checks time.Sleep, time.AfterFunc (many at once, some stopped),
// time.NewTicker and Timer.Reset.
func runTimers(scale float64) error {
	if err := checkSleep(); err != nil {
		return err
	}
	if err := checkAfterFunc(scaled(10_000, scale, 100)); err != nil {
		return err
	}
	if err := checkTicker(); err != nil {
		return err
	}
	return checkReset()
}

func checkSleep() error {
	for _, d := range []time.Duration{time.Millisecond, 20 * time.Millisecond, 100 * time.Millisecond} {
		start := time.Now()
		time.Sleep(d)
		got := time.Since(start)
		if got < d || got > d+timerSlack {
			return fmt.Errorf("time.Sleep(%v) took %v", d, got)
		}
	}
	return nil
}

// checkAfterFunc starts n timers with random delays up to 200ms, plus n/4
// timers due in an hour that it stops straight away, and checks that exactly
// the first kind fire, each no earlier than asked.
func checkAfterFunc(n int) error {
	rng := rand.New(rand.NewSource(2))
	var fired, early atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	want := 0
	for i := 0; i < n; i++ {
		d := time.Duration(rng.Intn(200)) * time.Millisecond
		stop := i%4 == 0
		if stop {
			d = time.Hour
		}
		if !stop {
			wg.Add(1)
			want++
		}
		t := time.AfterFunc(d, func() {
			if time.Since(start) < d {
				early.Add(1)
			}
			fired.Add(1)
			if !stop {
				wg.Done()
			}
		})
		if stop && !t.Stop() {
			return fmt.Errorf("AfterFunc timer %d due in an hour fired before Stop", i)
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(200*time.Millisecond + 10*timerSlack):
		return fmt.Errorf("only %d of %d AfterFunc timers fired", fired.Load(), want)
	}
	// Give a stopped timer that wrongly fires a chance to be counted.
	time.Sleep(250 * time.Millisecond)
	if f := fired.Load(); f != int64(want) {
		return fmt.Errorf("%d AfterFunc timers fired, want %d (%d were stopped)", f, want, n-want)
	}
	if e := early.Load(); e != 0 {
		return fmt.Errorf("%d AfterFunc timers fired early", e)
	}
	return nil
}

func checkTicker() error {
	const period, ticks = 10 * time.Millisecond, 20
	tk := time.NewTicker(period)
	defer tk.Stop()
	start := time.Now()
	for i := 0; i < ticks; i++ {
		select {
		case <-tk.C:
		case <-time.After(period + timerSlack):
			return fmt.Errorf("ticker stopped after %d ticks", i)
		}
	}
	got := time.Since(start)
	if min := period * ticks * 9 / 10; got < min || got > period*ticks+timerSlack {
		return fmt.Errorf("%d ticks of %v took %v", ticks, period, got)
	}
	return nil
}

func checkReset() error {
	start := time.Now()
	t := time.NewTimer(time.Hour)
	t.Reset(30 * time.Millisecond)
	select {
	case <-t.C:
		if got := time.Since(start); got < 30*time.Millisecond {
			return fmt.Errorf("reset timer fired after %v, want >= 30ms", got)
		}
	case <-time.After(30*time.Millisecond + timerSlack):
		return fmt.Errorf("reset timer did not fire")
	}
	return nil
}
