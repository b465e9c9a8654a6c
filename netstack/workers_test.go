package netstack

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeTask records how it was stepped.
type fakeTask struct {
	t        *testing.T
	sched    atomic.Int32
	posted   atomic.Int64 // posts made (bumped before each post)
	seen     atomic.Int64 // posted as the last step began
	steps    atomic.Int64
	inStep   atomic.Bool
	overlaps atomic.Int64
	doneAt   int64 // step that finishes (0: never)
	onStep   func()
}

func (f *fakeTask) schedCount() *atomic.Int32 { return &f.sched }

func (f *fakeTask) step() bool {
	if f.inStep.Swap(true) {
		f.overlaps.Add(1)
	}
	f.seen.Store(f.posted.Load())
	n := f.steps.Add(1)
	if f.onStep != nil {
		f.onStep()
	}
	time.Sleep(time.Microsecond)
	f.inStep.Store(false)
	return f.doneAt != 0 && n >= f.doneAt
}

func (f *fakeTask) post(r *runQueue) {
	f.posted.Add(1)
	r.post(f)
}

// waitIdle waits until no task has a post pending.
func waitIdle(t *testing.T, tasks []*fakeTask) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, f := range tasks {
			if c := f.sched.Load(); c != 0 && c < schedDone {
				return false
			}
		}
		return true
	}, 10*time.Second, time.Millisecond)
}

// TestRunQueueSerialAndComplete: posts from many goroutines at once; a
// task never runs on two workers at once, and after the last post each
// task has had a step that saw it.
func TestRunQueueSerialAndComplete(t *testing.T) {
	var r runQueue
	tasks := make([]*fakeTask, 20)
	for i := range tasks {
		tasks[i] = &fakeTask{t: t}
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				tasks[(g*7+i)%len(tasks)].post(&r)
			}
		}(g)
	}
	wg.Wait()
	waitIdle(t, tasks)
	for i, f := range tasks {
		assert.Zero(t, f.overlaps.Load(), "task %d stepped on two workers at once", i)
		assert.Equal(t, f.posted.Load(), f.seen.Load(), "task %d: the last step saw every post", i)
		assert.LessOrEqual(t, f.steps.Load(), f.posted.Load(), "task %d: no more steps than posts", i)
	}
}

// TestRunQueueDone: a finished task is never stepped again.
func TestRunQueueDone(t *testing.T) {
	var r runQueue
	f := &fakeTask{t: t, doneAt: 1}
	f.post(&r)
	require.Eventually(t, func() bool { return f.sched.Load() == schedDone }, 5*time.Second, time.Millisecond)
	for i := 0; i < 100; i++ {
		f.post(&r)
	}
	time.Sleep(20 * time.Millisecond)
	assert.EqualValues(t, 1, f.steps.Load())
}

// TestRunQueueFair: a task that keeps posting itself goes back to the
// tail each time, so another task queued behind it still runs.
func TestRunQueueFair(t *testing.T) {
	var r runQueue
	busy := &fakeTask{t: t}
	var stop atomic.Bool
	busy.onStep = func() {
		if !stop.Load() {
			busy.post(&r)
		}
	}
	other := &fakeTask{t: t}
	busy.post(&r)
	other.post(&r)
	require.Eventually(t, func() bool { return other.steps.Load() >= 1 }, 5*time.Second, time.Millisecond)
	stop.Store(true)
	waitIdle(t, []*fakeTask{busy, other})
}
