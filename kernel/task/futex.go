package task

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/mm"
)

// Futexes: wait queues keyed by the address of the futex word. There is
// one address space, so the virtual address identifies the word (private
// and shared futexes are the same thing here).
const futexBuckets = 256

var futexQ [futexBuckets]uintptr // singly-linked via thread.next

func futexBucket(addr uintptr) *uintptr { return &futexQ[(addr>>2)%futexBuckets] }

// futexDequeue removes t from its futex queue. Caller holds SchedLock.
func futexDequeue(t uintptr) {
	for p := futexBucket(Th(t).futex); *p != 0; p = &Th(*p).next {
		if *p == t {
			*p = Th(t).next
			break
		}
	}
	Th(t).next = 0
	Th(t).futex = 0
}

// futexWait blocks while *addr == val, until woken or deadline (0: none).
func futexWait(addr uintptr, val uint32, deadline int64) int64 {
	if addr&3 != 0 {
		return -abi.EINVAL
	}
	if !mm.UserOK(addr, 4, false) {
		return -abi.EFAULT
	}
	kctx.SchedLock.Lock()
	defer kctx.SchedLock.Unlock()
	if *kctx.At[uint32](addr) != val {
		return -abi.EAGAIN
	}
	t := CPU().Current
	Th(t).futex = addr
	b := futexBucket(addr)
	Th(t).next = *b
	*b = t
	if !block(deadline) {
		return -abi.ETIMEDOUT
	}
	return 0
}

// futexWake wakes up to n threads waiting on addr.
func futexWake(addr uintptr, n int) int64 {
	kctx.SchedLock.Lock()
	defer kctx.SchedLock.Unlock()
	woken := 0
	for p := futexBucket(addr); *p != 0 && woken < n; {
		t := *p
		if Th(t).futex != addr {
			p = &Th(t).next
			continue
		}
		*p = Th(t).next
		Th(t).next = 0
		Th(t).futex = 0
		Th(t).woken = true
		wakeup(t)
		woken++
	}
	if woken > 0 {
		armTimerSoon() // after the release: a trap must not lengthen the hold
	}
	return int64(woken)
}
