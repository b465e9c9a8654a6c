package netstack

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Sockets are served by a pool of worker goroutines (GOMAXPROCS of them),
// not by one goroutine each: a socket with work pending waits in one FIFO,
// and a worker runs its step, which does everything pending and returns.
// A connection then costs the program no goroutine stack beyond its own,
// and a busy worker goes from one socket to the next without the
// scheduler.
//
// Each socket's sched counts the posts not yet seen by a step. The post
// that takes it from 0 queues the socket; a worker about to run it reads
// the count, runs the step, and clears the count only if no post came
// meanwhile, else queues the socket again at the tail (so a busy socket
// does not hold a worker from the others). So a socket is queued at most
// once, runs on at most one worker at a time (its endpoint is never used
// from two goroutines at once), and every post is followed by a step that
// sees its bits. A finished socket's count is parked at schedDone, which
// posts never bring back to 1.

const schedDone = 1 << 30

// serial is what the pool runs: step does the pending work and reports
// whether the task is finished for good.
type serial interface {
	schedCount() *atomic.Int32
	step() (done bool)
}

// runQueue is a FIFO of serial tasks with worker goroutines started on
// first use.
type runQueue struct {
	mu    sync.Mutex
	q     []serial
	head  int
	wake  chan struct{}
	start sync.Once
}

// post counts a post for t and queues it if nothing was pending.
func (r *runQueue) post(t serial) {
	if t.schedCount().Add(1) == 1 {
		r.push(t)
	}
}

func (r *runQueue) push(t serial) {
	r.start.Do(func() {
		n := runtime.GOMAXPROCS(0)
		r.wake = make(chan struct{}, n)
		for i := 0; i < n; i++ {
			go r.work()
		}
	})
	r.mu.Lock()
	if r.head > 0 && r.head == len(r.q) {
		r.q, r.head = r.q[:0], 0
	}
	r.q = append(r.q, t)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default: // as many wake-ups pending as workers: all will look
	}
}

// pop takes the oldest task, or nil.
func (r *runQueue) pop() serial {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.head == len(r.q) {
		return nil
	}
	t := r.q[r.head]
	r.q[r.head] = nil
	r.head++
	return t
}

func (r *runQueue) work() {
	for {
		t := r.pop()
		if t == nil {
			<-r.wake
			continue
		}
		r.run(t)
	}
}

// run runs one step of t and settles its count (see above).
func (r *runQueue) run(t serial) {
	c := t.schedCount()
	n := c.Load()
	if t.step() {
		c.Store(schedDone)
		return
	}
	if c.CompareAndSwap(n, 0) {
		return
	}
	c.Store(1) // posts from here on see it queued
	r.push(t)
}

// sockets' run queue.
var ready runQueue
