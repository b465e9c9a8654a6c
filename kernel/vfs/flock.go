package vfs

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/platform"
	"github.com/unigo-os/unigo/kernel/task"
)

// flock(2) locks, as Linux: a lock belongs to an open file description
// (ofile), so two opens of one file conflict while dup'd descriptors share
// a lock; it goes with the ofile's last close (flockRelease). The table
// is static and guarded by FSLock; a full table fails with ENOLCK.
const (
	lockSh = 1
	lockEx = 2
	lockNb = 4
	lockUn = 8

	maxFlocks = 256
)

type flockEntry struct {
	ino   uintptr // memfs.Inode; 0: free slot
	owner uintptr // ofile
	excl  bool
}

var flocks [maxFlocks]flockEntry

func sysFlockOp(fd, op int) int64 {
	kind := op &^ lockNb
	if kind != lockSh && kind != lockEx && kind != lockUn {
		return -abi.EINVAL
	}
	f := Fget(fd)
	if f == 0 {
		return -abi.EBADF
	}
	defer Fput(f)
	if !OpsOf(Of(f).Kind).Inode {
		return 0 // sockets, pipes: nothing to conflict with
	}
	for {
		FSLock.Lock()
		r := flockLocked(f, kind)
		FSLock.Unlock()
		if r != -abi.EWOULDBLOCK || op&lockNb != 0 {
			return r
		}
		task.SleepUntil(platform.Nanotime() + 1e6)
	}
}

// flockLocked applies kind for ofile f: 0, or EWOULDBLOCK on a conflict.
// Caller holds FSLock.
func flockLocked(f uintptr, kind int) int64 {
	ino := Of(f).Obj
	mine, free := -1, -1
	for i := range flocks {
		e := &flocks[i]
		switch {
		case e.ino == 0:
			if free < 0 {
				free = i
			}
		case e.ino != ino:
		case e.owner == f:
			mine = i
		case kind == lockEx || e.excl:
			if kind != lockUn {
				return -abi.EWOULDBLOCK
			}
		}
	}
	if kind == lockUn {
		if mine >= 0 {
			flocks[mine] = flockEntry{}
		}
		return 0
	}
	if mine < 0 {
		if free < 0 {
			return -abi.ENOLCK
		}
		mine = free
	}
	flocks[mine] = flockEntry{ino: ino, owner: f, excl: kind == lockEx}
	return 0
}

// flockRelease drops ofile f's lock with its last reference. Caller holds
// FSLock.
func flockRelease(f uintptr) {
	for i := range flocks {
		if flocks[i].owner == f && flocks[i].ino != 0 {
			flocks[i] = flockEntry{}
		}
	}
}
