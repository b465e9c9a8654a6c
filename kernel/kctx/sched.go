package kctx

import "github.com/unigo-os/unigo/kernel/spinlock"

// SchedLock guards everything about threads that is not a run queue: the
// Blocked state and the wait queues (futexes, pipes, epoll, the console),
// the timer list, signals, CPU-time timers, zombies and the thread list.
// See kernel/task/runq.go for how it nests with the run queues. Nothing runs
// user-memory checks (which may fault pages in) with it held.
var SchedLock spinlock.Lock
