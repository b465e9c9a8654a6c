package task

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/unigo-os/unigo/kernel/internal/linkstub" // rt's entry points
	"github.com/unigo-os/unigo/rt"
)

// testThreads are thread blocks in static memory, linked by address like
// the kernel's (which live in kmem blocks).
var testThreads [4]thread

func testThread(i int) uintptr { return uintptr(unsafe.Pointer(&testThreads[i])) }

// TestRunQueueFIFO checks that a run queue hands threads out in the order
// they were queued, marks them runnable and keeps its length.
func TestRunQueueFIFO(t *testing.T) {
	var q runQueue
	assert.Zero(t, rqPop(&q))
	for i := 0; i < 3; i++ {
		testThreads[i].State = threadBlocked
		rqAppend(&q, testThread(i))
		assert.Equal(t, uint32(threadRunnable), testThreads[i].State)
	}
	require.Equal(t, int32(3), q.n.Load())
	for i := 0; i < 3; i++ {
		require.Equal(t, testThread(i), rqPop(&q), "pop %d", i)
		assert.Zero(t, testThreads[i].next, "popped thread keeps no link")
	}
	assert.Zero(t, rqPop(&q))
	assert.Zero(t, q.n.Load())
	assert.Zero(t, q.head)
	assert.Zero(t, q.tail)
}

// TestFutexDequeue checks that a waiter leaves its futex bucket wherever
// it sits in the chain, and the others stay.
func TestFutexDequeue(t *testing.T) {
	const addr = 0x1000
	b := futexBucket(addr)
	*b = 0
	for i := 2; i >= 0; i-- { // chain 0 -> 1 -> 2
		testThreads[i].futex = addr
		testThreads[i].next = *b
		*b = testThread(i)
	}
	futexDequeue(testThread(1))
	assert.Zero(t, testThreads[1].futex)
	assert.Zero(t, testThreads[1].next)
	require.Equal(t, testThread(0), *b)
	require.Equal(t, testThread(2), testThreads[0].next)
	futexDequeue(testThread(0))
	require.Equal(t, testThread(2), *b)
	futexDequeue(testThread(2))
	assert.Zero(t, *b)
	assert.Equal(t, futexBucket(addr), futexBucket(addr+futexBuckets*4), "buckets wrap")
}

func TestLowestBit(t *testing.T) {
	assert.Equal(t, 0, lowestBit(1))
	assert.Equal(t, 3, lowestBit(0b11000))
	assert.Equal(t, 63, lowestBit(1<<63))
}

// TestStops checks which signals would stop the process: SIGSTOP always,
// the terminal stops only with their default action.
func TestStops(t *testing.T) {
	assert.True(t, Stops(sigSTOP))
	assert.False(t, Stops(sigKILL))
	assert.True(t, Stops(sigTSTP))
	sigactions[sigTSTP][0] = 0x401000 // a handler
	defer func() { sigactions[sigTSTP][0] = sigDFL }()
	assert.False(t, Stops(sigTSTP))
}

// TestOnSystemStack checks exit_group's test for a runtime that is dying:
// a stack pointer on the thread's g0 stack or signal stack.
func TestOnSystemStack(t *testing.T) {
	th := &testThreads[3]
	*th = thread{SysStackLo: 0x10000, SysStackHi: 0x14000, altSP: 0x20000, altSize: 0x8000}
	assert.True(t, onSystemStack(th, 0x12000))
	assert.True(t, onSystemStack(th, 0x24000))
	assert.False(t, onSystemStack(th, 0x30000))
	*th = thread{}
	assert.False(t, onSystemStack(th, 0x12000), "no system stacks recorded")
}

// TestLapicEarlyEnough checks when re-arming the timer may be skipped:
// only while it is armed, for a deadline it does not miss.
func TestLapicEarlyEnough(t *testing.T) {
	assert.False(t, lapicEarlyEnough(0, 100), "disarmed")
	assert.True(t, lapicEarlyEnough(100, 0), "armed, nothing wanted")
	assert.True(t, lapicEarlyEnough(100, 200), "fires before the deadline")
}

func TestExceptionName(t *testing.T) {
	assert.Equal(t, "page fault", ExceptionName(14))
	assert.Equal(t, "general protection fault", ExceptionName(13))
	assert.Equal(t, "exception", ExceptionName(99))
}

var (
	gotPending uint64
	flushed    bool
)

func testPending(mask uint64) { gotPending = mask }
func testAttached() bool      { return true }
func testFlush()              { flushed = true }

// TestHooks checks that the hooks the kernel installs are called, and that
// without them threads do without.
func TestHooks(t *testing.T) {
	SetHooks(nil, nil, nil, nil)
	handlePendingHook(1)
	assert.False(t, netAttachedHook())
	flushAtExitHook()
	assert.Zero(t, gotPending)
	assert.False(t, flushed)

	SetHooks(nil, testPending, testAttached, testFlush)
	defer SetHooks(nil, nil, nil, nil)
	handlePendingHook(0x5)
	assert.Equal(t, uint64(0x5), gotPending)
	assert.True(t, netAttachedHook())
	flushAtExitHook()
	assert.True(t, flushed)
}

// TestSignalProcessSkips checks which thread a process-directed signal
// reaches when none runs and none sleeps on a futex: not a dead one, not
// one blocking the signal, but the first that can take it.
func TestSignalProcessSkips(t *testing.T) {
	const sig = 15
	saved := allThreads
	defer func() { allThreads = saved; testThreads = [4]thread{} }()
	testThreads = [4]thread{}
	testThreads[0] = thread{State: threadDead, anext: testThread(1)}
	testThreads[1] = thread{State: threadRunnable, sigmask: 1 << (sig - 1), anext: testThread(2)}
	testThreads[2] = thread{State: threadRunnable, anext: testThread(3)}
	testThreads[3] = thread{State: threadRunnable}
	allThreads = testThread(0)
	SignalProcess(sig)
	assert.Zero(t, testThreads[0].sigpending, "dead")
	assert.Zero(t, testThreads[1].sigpending, "blocks it")
	assert.Equal(t, uint64(1)<<(sig-1), testThreads[2].sigpending)
	assert.Zero(t, testThreads[3].sigpending, "one thread only")
}

// TestWakeCPU checks where a woken thread is queued: on the waker's CPU
// when that one idles awake, on a polling CPU before a halted one, on the
// CPU it last ran on if that one is busy, and on the busy waker's CPU
// rather than a halted one (wake-affine), unless AffineWait is 0.
func TestWakeCPU(t *testing.T) {
	for _, c := range []struct {
		name        string
		last, me, n int
		meIdle      bool
		idle, poll  uint64
		want        int
		wantNoAff   int // with AffineWait = 0
		affine      bool
	}{
		{"waker idle and awake takes it", 1, 0, 2, true, 1 << 1, 0, 0, 0, false},
		{"waker idle takes it over a poller", 1, 0, 2, true, 0, 1 << 1, 0, 0, false},
		{"last polling", 1, 0, 2, false, 0, 1 << 1, 1, 1, false},
		{"a poller before the halted last", 1, 0, 3, false, 1 << 1, 1 << 2, 2, 2, false},
		{"last halted, nobody polls: the busy waker", 1, 0, 2, false, 1 << 1, 0, 0, 1, true},
		{"last busy, another halted: the busy waker", 0, 0, 2, false, 1 << 1, 0, 0, 1, true},
		{"last busy elsewhere, a third halted", 1, 0, 3, false, 1 << 2, 0, 0, 2, true},
		{"last busy, nobody idle", 1, 0, 2, false, 0, 0, 1, 1, false},
		{"last is the busy waker, nobody idle", 0, 0, 2, false, 0, 0, 0, 0, false},
		{"never ran: the waker's CPU", -1, 1, 2, false, 0, 0, 1, 1, false},
		{"last beyond the CPUs online", 5, 0, 2, false, 0, 0, 0, 0, false},
	} {
		target, affine := wakeCPU(c.last, c.me, c.n, c.meIdle, c.idle, c.poll)
		assert.Equal(t, c.want, target, c.name)
		assert.Equal(t, c.affine, affine, c.name)
		saved := AffineWait
		AffineWait = 0
		target, affine = wakeCPU(c.last, c.me, c.n, c.meIdle, c.idle, c.poll)
		assert.Equal(t, c.wantNoAff, target, c.name+", AffineWait 0")
		assert.False(t, affine, c.name+", AffineWait 0")
		AffineWait = saved
	}
}

// TestWakeAffineArmsHandOff follows wakeCPU's decision through
// makeRunnable's push (pushWoken) to the waker's timer (handOffDeadline):
// a wake-affine push arms it for AffineWait after the oldest such push,
// a later one leaves that time, and any other push arms nothing.
func TestWakeAffineArmsHandOff(t *testing.T) {
	defer func() { testThreads = [4]thread{} }()
	testThreads = [4]thread{}
	const now, wait = int64(5_000_000), int64(1_000_000)
	saved := AffineWait
	defer func() { AffineWait = saved }()
	AffineWait = wait

	// CPU 0 is busy and wakes a thread that last ran on CPU 1, halted.
	var waker CPUInfo
	target, affine := wakeCPU(1, 0, 2, false, 1<<1, 0)
	require.Equal(t, 0, target)
	require.True(t, affine)
	assert.True(t, pushWoken(&waker, &waker.rq, testThread(0), affine, now))
	assert.Equal(t, now+wait, waker.handOffDeadline(0, now), "armed AffineWait after the push")
	assert.Equal(t, now+wait, waker.handOffDeadline(now+2*wait, now+wait/2), "before a later event")
	assert.Equal(t, now+wait/2, waker.handOffDeadline(now+wait/2, now), "after an earlier one")
	assert.Equal(t, int64(0), waker.handOffDeadline(0, now+wait), "a wait already over needs no interrupt")
	assert.Equal(t, uint64(1), waker.Stats[statWakeAffine])

	// A second wake-affine push keeps the oldest one's time.
	_, affine = wakeCPU(1, 0, 2, false, 1<<1, 0)
	require.True(t, affine)
	assert.False(t, pushWoken(&waker, &waker.rq, testThread(1), affine, now+wait/2))
	assert.Equal(t, now+wait, waker.handOffDeadline(0, now))
	assert.Equal(t, uint64(2), waker.Stats[statWakeAffine])

	// With no CPU halted the thread goes to the busy CPU it last ran on:
	// the waker (with a thread of its own queued) arms nothing.
	var waker2, last CPUInfo
	rqAppend(&waker2.rq, testThread(3))
	target, affine = wakeCPU(1, 0, 2, false, 0, 0)
	require.Equal(t, 1, target)
	require.False(t, affine)
	assert.True(t, pushWoken(&waker2, &last.rq, testThread(2), affine, now))
	assert.Zero(t, waker2.affineSince)
	assert.Equal(t, int64(0), waker2.handOffDeadline(0, now))
	assert.Equal(t, int64(7), waker2.handOffDeadline(7, now), "the other events stand")
	assert.Zero(t, waker2.Stats[statWakeAffine])

	// Nothing queued: the wait is over (HandOff clears it), nothing armed.
	rqPop(&waker.rq)
	rqPop(&waker.rq)
	assert.Equal(t, int64(0), waker.handOffDeadline(0, now))
}

// TestStealer checks which halted CPU is woken to steal queued work: the
// lowest one outside the CPUs excepted, none while a CPU outside them
// polls (it finds the work itself), and a poller among the excepted ones
// does not count.
func TestStealer(t *testing.T) {
	assert.Equal(t, -1, stealer(0, 0, 1), "nobody halted")
	assert.Equal(t, -1, stealer(1, 0, 1), "only the excepted CPU halted")
	assert.Equal(t, 1, stealer(1<<1|1<<3, 0, 1), "the lowest halted")
	assert.Equal(t, 3, stealer(1<<1|1<<3, 0, 1|1<<1), "the lowest halted outside except")
	assert.Equal(t, -1, stealer(1<<1, 1<<2, 1), "a poller finds the work itself")
	assert.Equal(t, 1, stealer(1<<1, 1, 1), "an excepted poller does not count")
	assert.Equal(t, -1, stealer(1<<1|1<<2, 1<<2, 1), "a CPU about to halt still polls")
}

// TestArmDeadline checks when a CPU's timer must fire: a sleeper's
// deadline before the running thread's slice ends waits for the slice's
// end only on a lone busy CPU, and nothing ever fires earlier than the
// first timer or, with others queued, the slice's end.
func TestArmDeadline(t *testing.T) {
	assert.Equal(t, int64(0), armDeadline(0, false, 500, false), "nothing to do")
	assert.Equal(t, int64(0), armDeadline(0, false, 500, true), "nothing to do, busy")
	assert.Equal(t, int64(100), armDeadline(100, false, 500, false), "idle or SMP: the timer")
	assert.Equal(t, int64(500), armDeadline(100, false, 500, true), "busy alone: the slice's end")
	assert.Equal(t, int64(900), armDeadline(900, false, 500, true), "timer after the slice")
	assert.Equal(t, int64(100), armDeadline(100, false, 50, true), "slice already over")
	assert.Equal(t, int64(500), armDeadline(0, true, 500, false), "queued: the slice's end")
	assert.Equal(t, int64(500), armDeadline(900, true, 500, false), "queued, timer after the slice")
	assert.Equal(t, int64(100), armDeadline(100, true, 500, false), "queued, SMP: the timer")
	assert.Equal(t, int64(500), armDeadline(100, true, 500, true), "queued, busy alone")
}

// TestAffineWaitDefault: a negative AffineWait (no unigo.affine) leaves
// the wait to the host: 1 ms off PVM (the host tests run there), and an
// explicit value, 0 included, wins.
func TestAffineWaitDefault(t *testing.T) {
	saved := AffineWait
	defer func() { AffineWait = saved }()
	require.False(t, rt.CPL3Mode(), "host tests do not run in CPL-3 SYSCALL mode")
	AffineWait = -1
	assert.Equal(t, int64(affineWaitDefault), affineWait())
	AffineWait = 0
	assert.Equal(t, int64(0), affineWait())
	AffineWait = 3_000_000
	assert.Equal(t, int64(3_000_000), affineWait())
	assert.Greater(t, int64(affineWaitTrapped), int64(affineWaitDefault), "trapped hosts wait longer")
}
