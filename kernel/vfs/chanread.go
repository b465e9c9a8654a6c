package vfs

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/kernel/task"
)

// ChanRead is read(2) on a channel descriptor a Go-side server drains
// (the file channel here, the netstack channel in kernel/socket): it
// refuses a buffer shorter than min (one record) or not writable, takes
// SchedLock, waits on readers until ready reports records (or fails with
// EAGAIN when nonblock), and returns what take copies to buf: whole
// records while they fit in n bytes. ready and take run under SchedLock.
func ChanRead(buf, n, min uintptr, nonblock bool, readers *task.Waitq, ready func() bool, take func(buf, n uintptr) uintptr) int64 {
	if n < min {
		return -abi.EINVAL
	}
	if !mm.UserOK(buf, n, true) {
		return -abi.EFAULT
	}
	kctx.SchedLock.Lock()
	defer kctx.SchedLock.Unlock()
	for !ready() {
		if nonblock {
			return -abi.EAGAIN
		}
		readers.Wait(0)
	}
	return int64(take(buf, n))
}
