package kernel

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/kernel/balloon"
	"github.com/unigo-os/unigo/kernel/kmem"
	"github.com/unigo-os/unigo/rt"
)

// hostClock points the kernel's clock (platform.Nanotime) at the host's
// TSC for the test, as boot does at the machine's.
func hostClock(t *testing.T) {
	saved := rt.Clock
	t.Cleanup(func() { rt.Clock = saved })
	t0, c0 := time.Now(), rt.Rdtsc()
	time.Sleep(20 * time.Millisecond)
	ns, cycles := time.Since(t0).Nanoseconds(), rt.Rdtsc()-c0
	require.NotZero(t, cycles)
	rt.Clock = rt.ClockParams{TSC0: c0, Scale: uint64(float64(ns) / float64(cycles) * (1 << 32))}
}

// TestBalloonReclaim: an allocation that found no memory while a report
// is out waits while an idle CPU runs the policy (holds balloonLock):
// until that CPU has given lent memory back, or it lets go (then it
// collects the report itself), or balloonReclaimMax has passed.
func TestBalloonReclaim(t *testing.T) {
	hostClock(t)
	assert.False(t, balloonReclaim(), "no balloon")

	balloon.Dev.Active = true
	defer func() { balloon.Dev.Active = false }()
	require.True(t, balloonLock.TryLock(), "the idle CPU")
	start := time.Now()
	assert.False(t, balloonReclaim(), "nothing came back")
	took := time.Since(start)
	assert.GreaterOrEqual(t, took, time.Duration(balloonReclaimMax)*9/10)
	assert.Less(t, took, 10*time.Second, "bounded")

	// From here the kernel's clock stands still, so that only what the
	// other side does can end a wait: a loaded host delaying the
	// goroutines cannot expire it first.
	rt.Clock.Scale = 0
	page := uintptr(kmem.PageSize)
	go func() {
		time.Sleep(10 * time.Millisecond)
		// The idle CPU's report came back: lent bytes go down (Forget
		// stands in for MarkReported, which needs a real report).
		kmem.Forget([]kmem.Range{{Len: page}})
	}()
	assert.True(t, balloonReclaim(), "memory came back")
	kmem.Forget([]kmem.Range{{Len: -page}}) // the counts as they were
	assert.Zero(t, kmem.LentBytes())

	go func() {
		time.Sleep(10 * time.Millisecond)
		balloonLock.Unlock() // the idle CPU is done: this one collects
	}()
	assert.False(t, balloonReclaim(), "no report out: nothing to collect")
	assert.True(t, balloonLock.TryLock(), "let go again")
	balloonLock.Unlock()
}
