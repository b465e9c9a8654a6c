package balloon

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/kernel/kmem"
)

const sec = 1_000_000_000

func TestReportRound(t *testing.T) {
	b, s := newSim(t, MaxRanges)
	churn(t, 4096) // 16 MiB
	rep := kmem.ReportedBytes()
	b.Idle(at(5*sec), idleCPU)
	require.Empty(t, s.bad)
	assert.EqualValues(t, 16<<20, kmem.ReportedBytes()-rep, "everything beyond the reserve reported")
	assert.EqualValues(t, b.Reserve, kmem.DirtyBytes(), "the reserve stays")
	assert.NotZero(t, b.Reports.Load())
	assert.EqualValues(t, 16<<20, b.ReportedBytes.Load())
	var sum uintptr
	for _, r := range s.ranges {
		sum += r.Len
	}
	assert.EqualValues(t, 16<<20, sum)
	assert.Less(t, len(s.ranges), 64, "adjacent frames merged into few ranges")

	// Reported frames come back cleared.
	for i := 0; i < 64; i++ {
		p := kmem.AllocPage()
		require.NotZero(t, p)
		assert.Zero(t, *u64(p), "reused frame cleared")
		defer kmem.FreePage(p)
	}
}

func TestRoundsAreSpaced(t *testing.T) {
	b, s := newSim(t, MaxRanges)
	churn(t, 1024)
	b.Idle(at(10*sec), idleCPU)
	n := s.posted()
	require.NotZero(t, n)
	churn(t, 1024)
	b.Idle(at(10*sec+Interval/2), idleCPU)
	assert.Equal(t, n, s.posted(), "no round before Interval has passed")
	b.Idle(at(10*sec+Interval), idleCPU)
	assert.Greater(t, s.posted(), n)
}

func TestSmallSurplusNotReported(t *testing.T) {
	b, s := newSim(t, MaxRanges)
	churn(t, MinReport/kmem.PageSize-1)
	b.Idle(at(sec), idleCPU)
	assert.Zero(t, s.posted(), "less than MinReport beyond the reserve")
}

func TestCompletionLater(t *testing.T) {
	b, s := newSim(t, 4)
	s.auto = false
	pages := make([]uintptr, 0, 1024)
	for i := 0; i < 1024; i++ {
		pages = append(pages, kmem.AllocPage())
	}
	for i := 0; i < len(pages); i += 2 { // every other frame: 512 ranges
		kmem.FreePage(pages[i])
	}
	for i := 1; i < len(pages); i += 2 {
		defer kmem.FreePage(pages[i])
	}
	b.Reserve = 0
	dirty := kmem.DirtyBytes()
	b.Idle(at(sec), idleCPU)
	assert.Equal(t, 1, s.posted(), "one chain in flight at a time")
	assert.Equal(t, dirty-4*kmem.PageSize, kmem.DirtyBytes(), "4 ranges of one frame lent")
	b.Idle(at(sec), idleCPU)
	assert.Equal(t, 1, s.posted(), "waits for the device")
	s.answer()
	rep := kmem.ReportedBytes()
	b.Idle(at(sec), busyCPU)
	assert.Equal(t, rep+4*kmem.PageSize, kmem.ReportedBytes(), "the used chain collected")
	assert.Equal(t, 2, s.posted(), "the round goes on")
	assert.Empty(t, s.bad)
}

func TestWaitsForSlowDevice(t *testing.T) {
	b, s := newSim(t, 4)
	s.auto = false
	b.Reserve = 0
	pages := make([]uintptr, 0, 2048)
	for i := 0; i < 2048; i++ {
		pages = append(pages, kmem.AllocPage())
	}
	for i := 0; i < len(pages); i += 2 { // every other frame: 1024 ranges
		kmem.FreePage(pages[i])
	}
	for i := 1; i < len(pages); i += 2 {
		defer kmem.FreePage(pages[i])
	}
	calls := 0
	clock := func() int64 {
		calls++
		if calls == 3 {
			s.answer() // the device thread gets to it while the CPU waits
		}
		return sec + int64(calls)*10_000
	}
	b.Idle(clock, idleCPU)
	assert.EqualValues(t, 1, b.Reports.Load(), "the chain used during the wait is collected")
	assert.Equal(t, 2, s.posted(), "the round goes on, then the wait gives up")
	b.Idle(at(sec+1), idleCPU)
	assert.Equal(t, 2, s.posted(), "nothing more while a chain is in flight")
	s.answer()
	b.Idle(at(sec+2), idleCPU)
	assert.EqualValues(t, 2, b.Reports.Load())
	assert.Equal(t, 3, s.posted(), "collected on a later call, and the round goes on")
	assert.Empty(t, s.bad)
}

func TestCallTimeBounded(t *testing.T) {
	b, s := newSim(t, 4)
	b.Reserve = 0
	pages := make([]uintptr, 0, 2048)
	for i := 0; i < 2048; i++ {
		pages = append(pages, kmem.AllocPage())
	}
	for i := 0; i < len(pages); i += 2 { // 1024 ranges: 256 chains of 4
		kmem.FreePage(pages[i])
	}
	for i := 1; i < len(pages); i += 2 {
		defer kmem.FreePage(pages[i])
	}
	b.Idle(at(sec), idleCPU) // the clock advances 100 us a reading
	n := s.posted()
	assert.Less(t, n, 256, "the call stops after maxCall")
	assert.Greater(t, n, 1)
	b.Idle(at(sec+1), idleCPU)
	assert.Greater(t, s.posted(), n, "the next call goes on with the round")
}

func TestBusyEndsTheCallNotTheRound(t *testing.T) {
	b, s := newSim(t, 4)
	pages := make([]uintptr, 0, 256)
	for i := 0; i < 256; i++ {
		pages = append(pages, kmem.AllocPage())
	}
	for i := 0; i < len(pages); i += 2 {
		kmem.FreePage(pages[i])
	}
	for i := 1; i < len(pages); i += 2 {
		defer kmem.FreePage(pages[i])
	}
	b.Reserve = 0
	b.Idle(at(sec), busyCPU)
	assert.Equal(t, 1, s.posted())
	b.Idle(at(sec+1), busyCPU)
	assert.Equal(t, 2, s.posted(), "a round under way does not wait for Interval")
	for i := int64(2); i < 1000 && kmem.DirtyBytes() != 0; i++ {
		b.Idle(at(sec+i), idleCPU)
	}
	assert.Zero(t, kmem.DirtyBytes(), "later calls finish the round")
}

func TestHostileDevice(t *testing.T) {
	for _, tc := range []struct {
		name string
		bad  func(s *sim)
		want string
	}{
		{"wrong id", func(s *sim) { s.take(); s.put(3, 0) }, "not in flight"},
		{"id out of range", func(s *sim) { s.take(); s.put(1000, 0) }, "not in flight"},
		{"length beyond the report", func(s *sim) { s.take(); s.put(0, 1<<31) }, "longer than the report"},
		{"index ahead", func(s *sim) { s.take(); s.put(0, 0); s.put(0, 0) }, "runs ahead"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, s := newSim(t, 8)
			s.auto = false
			churn(t, 1024)
			b.Idle(at(sec), idleCPU)
			require.Equal(t, 1, s.posted())
			tc.bad(s)
			b.Idle(at(sec+1), idleCPU)
			assert.True(t, b.Broken())
			assert.True(t, b.FaultNew)
			assert.Contains(t, b.FaultText(), tc.want)
			dirty := kmem.DirtyBytes()
			b.Idle(at(10*sec), idleCPU)
			assert.Equal(t, 1, s.posted(), "a broken device gets nothing more")
			assert.Equal(t, dirty, kmem.DirtyBytes())
		})
	}
}

// An allocation that runs out of memory while a report is in flight
// waits for the device to use it (Reclaim); a device that breaks with a
// report in flight leaves its ranges forgotten, not counted free.
func TestReclaimReportInFlight(t *testing.T) {
	b, s := newSim(t, MaxRanges)
	s.auto = false
	lent0 := kmem.LentBytes() // reports earlier tests left in flight
	churn(t, 1024)
	b.Idle(at(sec), busyCPU) // posts, and leaves the report in flight
	require.Equal(t, 1, s.posted())
	require.GreaterOrEqual(t, kmem.LentBytes()-lent0, int64(4<<20))
	done := make(chan struct{})
	var answered atomic.Bool
	go func() { // the launcher's device thread, a moment later
		defer close(done)
		time.Sleep(2 * time.Millisecond)
		s.answer()
		answered.Store(true)
	}()
	// The clock stands still until the device has answered, so that a
	// loaded host delaying the goroutine cannot expire the wait first.
	assert.True(t, b.Reclaim(func() int64 {
		if answered.Load() {
			return sec + 1
		}
		return sec
	}))
	<-done
	assert.Equal(t, lent0, kmem.LentBytes())
	assert.False(t, b.Reclaim(at(3*sec)), "nothing in flight")

	churn(t, 1024)
	b.Idle(at(5*sec), busyCPU)
	require.Equal(t, 2, s.posted())
	free, lent := kmem.FreeBytes(), kmem.LentBytes()-lent0
	require.NotZero(t, lent)
	s.take()
	s.put(7, 0) // names another descriptor
	b.Idle(at(6*sec), idleCPU)
	require.True(t, b.Broken())
	assert.Equal(t, lent0, kmem.LentBytes())
	assert.Equal(t, free-lent, kmem.FreeBytes(), "the broken device's ranges are no longer free")
	assert.False(t, b.Reclaim(at(7*sec)))
}

// A device that never uses the report costs one bounded wait, not one per
// failing allocation (huge page attempts fail routinely).
func TestReclaimWaitsOncePerReport(t *testing.T) {
	b, s := newSim(t, MaxRanges)
	s.auto = false
	churn(t, 1024)
	b.Idle(at(sec), busyCPU)
	require.Equal(t, 1, s.posted())
	reads := 0
	clock := func(c func() int64) func() int64 { return func() int64 { reads++; return c() } }
	assert.False(t, b.Reclaim(clock(at(2*sec))))
	assert.Greater(t, reads, 100, "the first waits")
	reads = 0
	assert.False(t, b.Reclaim(clock(at(3*sec))))
	assert.LessOrEqual(t, reads, 2, "later ones for the same report do not")
	s.answer()
	assert.True(t, b.Reclaim(clock(at(4*sec))))
}

// frozenClock is a kernel clock that stands still until the test moves
// it, so that only what the test does can end a wait: a loaded host
// delaying goroutines cannot. started is closed at its first read.
type frozenClock struct {
	now     atomic.Int64
	once    sync.Once
	started chan struct{}
}

func newFrozenClock(t int64) *frozenClock {
	c := &frozenClock{started: make(chan struct{})}
	c.now.Store(t)
	return c
}

func (c *frozenClock) read() int64 {
	c.once.Do(func() { close(c.started) })
	return c.now.Load()
}

// An allocation that found no memory while another CPU runs the policy
// (holds the lock) waits until that CPU has given lent memory back, or
// lets go (then it looks at the report itself), or the bound has passed.
func TestReclaimWaitsForIdleCPU(t *testing.T) {
	var off Balloon
	assert.False(t, off.Reclaim(newFrozenClock(sec).read), "no balloon")

	b, _ := newSim(t, MaxRanges)
	require.True(t, b.lock.TryLock(), "the idle CPU")
	c := newFrozenClock(sec)
	go func() {
		<-c.started
		c.now.Store(sec + maxReclaim)
	}()
	assert.False(t, b.Reclaim(c.read), "nothing came back within the bound")

	page := uintptr(kmem.PageSize)
	c = newFrozenClock(sec)
	go func() {
		<-c.started // Reclaim has noted the lent bytes
		time.Sleep(10 * time.Millisecond)
		// The idle CPU's report came back: lent bytes go down (Forget
		// stands in for MarkReported, which needs a real report).
		kmem.Forget([]kmem.Range{{Len: page}})
	}()
	assert.True(t, b.Reclaim(c.read), "memory came back")
	kmem.Forget([]kmem.Range{{Len: -page}}) // the counts as they were

	go func() {
		time.Sleep(10 * time.Millisecond)
		b.lock.Unlock() // the idle CPU is done: this one looks itself
	}()
	assert.False(t, b.Reclaim(newFrozenClock(sec).read), "no report out: nothing to collect")
	assert.True(t, b.lock.TryLock(), "let go again")
	b.lock.Unlock()
}

// An allocation that cannot be satisfied while a report is in flight
// returns once one bound (maxReclaim) has passed since it began, though
// it first waited for the idle CPU to let go of the lock and then for a
// device that never answers: the two waits share the one deadline.
func TestReclaimOneBound(t *testing.T) {
	b, s := newSim(t, MaxRanges)
	s.auto = false
	churn(t, 1024)
	b.Idle(at(sec), busyCPU)
	require.Equal(t, 1, s.posted(), "a report in flight")

	var pages []uintptr // every frame left, so that the next allocation fails
	for p := kmem.AllocPage(); p != 0; p = kmem.AllocPage() {
		pages = append(pages, p)
	}
	c := newFrozenClock(2 * sec)
	kmem.SetReclaim(func() bool { return b.Reclaim(c.read) })
	defer func() {
		kmem.SetReclaim(nil)
		for _, p := range pages {
			kmem.FreePage(p)
		}
		// Report what the frames freed just now made dirty, down to
		// the reserve, so that the tests after find memory as before
		// (churn allocates beyond the dirty frames).
		s.auto = true
		s.answer()
		for i := int64(0); i < 1000 && kmem.DirtyBytes() > int64(b.Reserve)+MinReport; i++ {
			b.Idle(at((10+2*i)*sec), idleCPU)
		}
		require.Empty(t, s.bad)
	}()
	require.True(t, b.lock.TryLock(), "the idle CPU")

	got := make(chan uintptr, 1)
	go func() { got <- kmem.AllocPage() }()
	<-c.started
	time.Sleep(10 * time.Millisecond)
	c.now.Store(2*sec + maxReclaim - 1) // the idle CPU holds on almost to the end
	b.lock.Unlock()
	time.Sleep(20 * time.Millisecond)
	select {
	case p := <-got:
		t.Fatalf("allocation returned %#x before the bound", p)
	default:
	}
	c.now.Store(2*sec + maxReclaim)
	select {
	case p := <-got:
		assert.Zero(t, p, "no memory")
	case <-time.After(10 * time.Second):
		t.Fatal("the allocation waited past its bound: the lock's wait and the report's are not one")
	}
	assert.True(t, b.lock.TryLock(), "Reclaim let go of the lock")
	b.lock.Unlock()
}
