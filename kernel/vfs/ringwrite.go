package vfs

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/mm"
)

// write(2) into a ring buffer that readers drain: the loop pipes and
// stream sockets share. What differs between them (when a write must
// stop, which ring takes the bytes, whom to wake, how long to wait for
// room) is the ringSink the loop is instantiated with; the loop owns what
// is the same: user-buffer validation outside SchedLock, partial writes,
// EFAULT, EAGAIN and blocking.

// ringSink is the receiving end of RingWrite. Every method runs with
// SchedLock held. Implementations are uintptr-sized values naming a
// kernel object (a pipe, a sock), so the calls allocate nothing.
type ringSink interface {
	// Check returns 0 if the write may go on, else the (negative) errno
	// that ends it; the caller returns that errno only if nothing was
	// written yet, else the count written.
	Check() int64
	// Put copies what fits of src (the part of the write not yet done;
	// whole is the write's full length) into the ring, wakes the readers
	// if it copied anything, and returns the count: 0 means no room now.
	Put(src []byte, whole uintptr) int
	// WaitRoom blocks until room may have been made (SchedLock is
	// released while the thread sleeps); false means a send timeout
	// expired first.
	WaitRoom() bool
}

// RingWrite writes n bytes from the program's buf into sink. It returns
// the count written once all of n is written, or once some is and the
// write cannot go on (nonblock and no room, a fault further in, a check
// that fails, a timeout); else the errno: EFAULT, EAGAIN or Check's.
// Blocking writes loop until done; after every wakeup the buffer is
// validated again, since the program may have unmapped it meanwhile.
//
// Kernel context: mm.UserOK may fault pages in, so it runs without
// SchedLock; everything else runs under it.
func RingWrite[S ringSink](sink S, buf, n uintptr, nonblock bool) int64 {
	if n == 0 {
		return 0
	}
	var done uintptr
	for {
		if !mm.UserOK(buf+done, n-done, false) {
			return writeResult(done, -abi.EFAULT)
		}
		kctx.SchedLock.Lock()
		if e := sink.Check(); e != 0 {
			kctx.SchedLock.Unlock()
			return writeResult(done, e)
		}
		if w := sink.Put(kctx.BytesAt(buf+done, int(n-done)), n); w > 0 {
			done += uintptr(w)
			kctx.SchedLock.Unlock()
			if done == n || nonblock {
				return int64(done)
			}
			continue
		}
		if nonblock {
			kctx.SchedLock.Unlock()
			return writeResult(done, -abi.EAGAIN)
		}
		woke := sink.WaitRoom()
		kctx.SchedLock.Unlock()
		if !woke {
			return writeResult(done, -abi.EAGAIN)
		}
	}
}

// writeResult is what a write that stops early returns: the count
// written if any, else errno.
func writeResult(done uintptr, errno int64) int64 {
	if done > 0 {
		return int64(done)
	}
	return errno
}
