package main

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// runSync checks the sync primitives under contention.
func runSync(scale float64) error {
	workers := 64
	iters := scaled(10_000, scale, 100)
	if err := checkMutex(workers, iters); err != nil {
		return err
	}
	if err := checkRWMutex(workers, iters); err != nil {
		return err
	}
	if err := checkOnce(workers); err != nil {
		return err
	}
	return checkCond(workers, iters)
}

// checkMutex: unsynchronised read-modify-write of a shared counter loses
// updates unless the mutex really excludes.
func checkMutex(workers, iters int) error {
	var mu sync.Mutex
	var wg sync.WaitGroup
	counter := 0
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < iters; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if want := workers * iters; counter != want {
		return fmt.Errorf("mutex counter = %d, want %d", counter, want)
	}
	return nil
}

// checkRWMutex: writers keep two fields equal only while holding the write
// lock, readers must never see them differ, and some readers must overlap.
func checkRWMutex(workers, iters int) error {
	var rw sync.RWMutex
	var a, b int
	var wg sync.WaitGroup
	var torn, readers, maxReaders atomic.Int64
	for w := 0; w < workers; w++ {
		wg.Add(1)
		writer := w%8 == 0
		go func() {
			defer wg.Done()
			for i := 0; i < iters; i++ {
				if writer {
					rw.Lock()
					a++
					b++
					rw.Unlock()
					continue
				}
				rw.RLock()
				r := readers.Add(1)
				for {
					m := maxReaders.Load()
					if r <= m || maxReaders.CompareAndSwap(m, r) {
						break
					}
				}
				if a != b {
					torn.Add(1)
				}
				readers.Add(-1)
				rw.RUnlock()
			}
		}()
	}
	wg.Wait()
	if t := torn.Load(); t != 0 {
		return fmt.Errorf("readers saw %d torn writes under RWMutex", t)
	}
	if want := workers / 8 * iters; a != want || b != want {
		return fmt.Errorf("RWMutex writers: a=%d b=%d, want %d", a, b, want)
	}
	return nil
}

func checkOnce(workers int) error {
	var once sync.Once
	var calls atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			once.Do(func() { calls.Add(1) })
		}()
	}
	wg.Wait()
	if c := calls.Load(); c != 1 {
		return fmt.Errorf("sync.Once ran %d times", c)
	}
	return nil
}

// checkCond runs a bounded queue guarded by a Cond: producers wait while it is
// full, consumers while it is empty. Every item must be consumed once.
func checkCond(workers, iters int) error {
	const capacity = 16
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	var queue []int
	producers := workers / 2
	total := producers * iters
	seen := make([]bool, total)
	var dup atomic.Int64
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < iters; i++ {
				mu.Lock()
				for len(queue) == capacity {
					cond.Wait()
				}
				queue = append(queue, p*iters+i)
				cond.Broadcast()
				mu.Unlock()
			}
		}(p)
	}
	consumed := 0
	for c := 0; c < workers-producers; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				for len(queue) == 0 && consumed < total {
					cond.Wait()
				}
				if consumed == total {
					mu.Unlock()
					return
				}
				v := queue[0]
				queue = queue[1:]
				consumed++
				if seen[v] {
					dup.Add(1)
				}
				seen[v] = true
				cond.Broadcast()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if d := dup.Load(); d != 0 {
		return fmt.Errorf("cond queue delivered %d items twice", d)
	}
	for i, ok := range seen {
		if !ok {
			return fmt.Errorf("cond queue lost item %d", i)
		}
	}
	return nil
}
