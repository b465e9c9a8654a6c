package vfs

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/kmem"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/kernel/platform"
	"github.com/unigo-os/unigo/kernel/task"
)

// epoll. An interest item (epitem, a kmem block) names its epoll
// instance, the ofile it watches and that ofile's object. Items are found
// by object through a hash table (epBuckets), so that an object whose
// state changes (PollNotify) touches only its own watchers; each instance
// keeps the list of its items (for close) and a ready list of items
// notified since its last scan, so that epoll_pwait costs what is ready,
// not what is watched — a server watches thousands of sockets. A
// level-triggered item stays on the ready list while its object is
// ready; an edge-triggered one (EPOLLET, as Go's netpoller registers) is
// reported once per PollNotify. All of it is guarded by SchedLock.

const (
	EpollIn        = 0x1
	epollPri       = 0x2
	EpollOut       = 0x4
	EpollErr       = 0x8
	EpollHup       = 0x10
	EpollRdnorm    = 0x40
	EpollWrnorm    = 0x100
	EpollRdhup     = 0x2000
	epollExclusive = 1 << 28
	epollWakeup    = 1 << 29
	epollOneshot   = 1 << 30
	epollET        = 1 << 31

	epollPrivate = epollExclusive | epollWakeup | epollOneshot | epollET

	epollCtlAdd = 1
	epollCtlDel = 2
	epollCtlMod = 3

	epollEventSize = 12 // struct epoll_event is packed on amd64
	epollMaxEvents = (1 << 31) / epollEventSize

	// conObj is the object address standing for the console.
	conObj = 1
)

type epitem struct {
	onext  uintptr // next in the object's hash bucket
	inext  uintptr // next item of the same instance
	rnext  uintptr // next on the instance's ready list
	ep     uintptr
	file   uintptr // watched ofile (its kind and object say what to poll)
	fd     int32
	events uint32 // requested events | EPOLLERR | EPOLLHUP
	ready  bool   // on the ready list
	data   uint64
}

// epollInst is an epoll instance.
type epollInst struct {
	wq    task.Waitq // threads in epoll_pwait
	items uintptr    // its items, linked through inext
	rhead uintptr    // ready list, linked through rnext
	rtail uintptr
}

const epBucketCount = 512

var epBuckets [epBucketCount]uintptr

func ei(p uintptr) *epitem { return kctx.At[epitem](p) }

func epBucket(obj uintptr) *uintptr {
	return &epBuckets[(uint64(obj>>4)*0x9e3779b97f4a7c15)>>(64-9)]
}

// epReady puts item it on its instance's ready list and wakes the
// instance's waiters. Caller holds SchedLock.
func epReady(it uintptr) {
	e := ei(it)
	if e.ready {
		return
	}
	e.ready = true
	e.rnext = 0
	inst := kctx.At[epollInst](e.ep)
	if inst.rtail != 0 {
		ei(inst.rtail).rnext = it
	} else {
		inst.rhead = it
	}
	inst.rtail = it
	inst.wq.WakeAll()
}

// epUnlink takes item it off its bucket, its instance's list and the
// ready list, and frees it. Caller holds SchedLock.
func epUnlink(it uintptr) {
	e := ei(it)
	for p := epBucket(Of(e.file).Obj); *p != 0; p = &ei(*p).onext {
		if *p == it {
			*p = e.onext
			break
		}
	}
	inst := kctx.At[epollInst](e.ep)
	for p := &inst.items; *p != 0; p = &ei(*p).inext {
		if *p == it {
			*p = e.inext
			break
		}
	}
	if e.ready {
		var prev uintptr
		for q := inst.rhead; q != 0; prev, q = q, ei(q).rnext {
			if q != it {
				continue
			}
			if prev == 0 {
				inst.rhead = e.rnext
			} else {
				ei(prev).rnext = e.rnext
			}
			if inst.rtail == it {
				inst.rtail = prev
			}
			break
		}
	}
	kmem.Free(it, task.UintptrSize(epitem{}))
}

func doEpollCreate1(flags int) int64 {
	if flags&^OCloexec != 0 {
		return -abi.EINVAL
	}
	p := kmem.Alloc(task.UintptrSize(epollInst{}))
	if p == 0 {
		return -abi.ENOMEM
	}
	f := NewOFile(fdEpoll, ORdwr, p)
	if f == 0 {
		kmem.Free(p, task.UintptrSize(epollInst{}))
		return -abi.ENOMEM
	}
	return FdInstall(f, flags&OCloexec != 0)
}

// epollOps is the row of an epoll instance: it is only closed (epoll
// instances cannot be watched by epoll here).
var epollOps = FileOps{
	Release: epollFileRelease,
	Mode:    0o600,
	Dev:     0xe, // anonymous inode
}

func epollFileRelease(o *OFile) { epollRelease(o.Obj) }

// epollRelease drops every item of an instance and frees it.
func epollRelease(ep uintptr) {
	kctx.SchedLock.Lock()
	for kctx.At[epollInst](ep).items != 0 {
		epUnlink(kctx.At[epollInst](ep).items)
	}
	kctx.SchedLock.Unlock()
	kmem.Free(ep, task.UintptrSize(epollInst{}))
}

// epollForget drops the items watching ofile f, which is going away.
// Caller holds SchedLock.
func epollForget(f uintptr) {
	p := epBucket(Of(f).Obj)
	for it := *p; it != 0; {
		next := ei(it).onext
		if ei(it).file == f {
			epUnlink(it)
		}
		it = next
	}
}

// pollMask is the current readiness of an object. Caller holds SchedLock.
func pollMask(kind uint32, obj uintptr) uint32 {
	if poll := OpsOf(kind).Poll; poll != nil {
		return poll(obj)
	}
	return 0
}

// PollNotify records that obj's readiness may have changed. Caller holds
// SchedLock.
func PollNotify(obj uintptr) {
	for it := *epBucket(obj); it != 0; it = ei(it).onext {
		if Of(ei(it).file).Obj == obj {
			epReady(it)
		}
	}
}

func doEpollCtl(epfd, op, fd int, evp uintptr) int64 {
	var ev [12]byte
	if op != epollCtlDel {
		if !mm.UserOK(evp, epollEventSize, false) {
			return -abi.EFAULT
		}
		copy(ev[:], kctx.BytesAt(evp, epollEventSize))
	}
	epf := Fget(epfd)
	if epf == 0 {
		return -abi.EBADF
	}
	tf := Fget(fd)
	if tf == 0 {
		Fput(epf)
		return -abi.EBADF
	}
	r := epollCtl(epf, tf, op, fd, &ev)
	Fput(tf)
	Fput(epf)
	return r
}

func epollCtl(epf, tf uintptr, op, fd int, ev *[12]byte) int64 {
	if Of(epf).Kind != fdEpoll || epf == tf {
		return -abi.EINVAL
	}
	ops := OpsOf(Of(tf).Kind)
	if ops.Poll == nil {
		// Regular files, directories and /dev/null cannot be polled.
		return -abi.EPERM
	}
	if ops.watch != nil {
		ops.watch()
	}
	ep := Of(epf).Obj
	events := uint32(ev[0]) | uint32(ev[1])<<8 | uint32(ev[2])<<16 | uint32(ev[3])<<24
	var data uint64
	for i := 0; i < 8; i++ {
		data |= uint64(ev[4+i]) << (8 * i)
	}
	kctx.SchedLock.Lock()
	r := epollCtlLocked(ep, tf, op, fd, events, data)
	kctx.SchedLock.Unlock()
	return r
}

// epollCtlLocked adds, changes or removes the item for (ep, tf, fd).
// Caller holds SchedLock.
func epollCtlLocked(ep, tf uintptr, op, fd int, events uint32, data uint64) int64 {
	t := Of(tf)
	var found uintptr
	for it := *epBucket(t.Obj); it != 0; it = ei(it).onext {
		if ei(it).ep == ep && ei(it).file == tf && ei(it).fd == int32(fd) {
			found = it
			break
		}
	}
	switch op {
	case epollCtlAdd:
		if found != 0 {
			return -abi.EEXIST
		}
		it := kmem.Alloc(task.UintptrSize(epitem{}))
		if it == 0 {
			return -abi.ENOMEM
		}
		e := ei(it)
		e.ep, e.file, e.fd = ep, tf, int32(fd)
		e.events = events | EpollErr | EpollHup
		e.data = data
		b := epBucket(t.Obj)
		e.onext = *b
		*b = it
		inst := kctx.At[epollInst](ep)
		e.inext = inst.items
		inst.items = it
		epReady(it) // report the current state once, as Linux does
		return 0
	case epollCtlMod:
		if found == 0 {
			return -abi.ENOENT
		}
		e := ei(found)
		e.events = events | EpollErr | EpollHup
		e.data = data
		epReady(found)
		return 0
	case epollCtlDel:
		if found == 0 {
			return -abi.ENOENT
		}
		epUnlink(found)
		return 0
	}
	return -abi.EINVAL
}

// epollScan writes up to max ready events of instance ep to the user
// array at evs (already validated). Each item on the ready list is taken
// off it and reported if its object is ready; a level-triggered item that
// is still ready goes back on the list (after this scan, so one busy
// object cannot fill every call). Caller holds SchedLock.
func epollScan(ep uintptr, evs uintptr, max int) int {
	inst := kctx.At[epollInst](ep)
	n := 0
	var again, againTail uintptr // level-triggered items to requeue
	for inst.rhead != 0 && n < max {
		it := inst.rhead
		e := ei(it)
		inst.rhead = e.rnext
		if inst.rhead == 0 {
			inst.rtail = 0
		}
		e.ready = false
		e.rnext = 0
		m := pollMask(Of(e.file).Kind, Of(e.file).Obj) & e.events &^ epollPrivate
		if m == 0 {
			continue
		}
		b := kctx.BytesAt(evs+uintptr(n)*epollEventSize, epollEventSize)
		for i := 0; i < 4; i++ {
			b[i] = byte(m >> (8 * i))
		}
		for i := 0; i < 8; i++ {
			b[4+i] = byte(e.data >> (8 * i))
		}
		n++
		if e.events&epollOneshot != 0 {
			e.events &= epollPrivate
			continue
		}
		if e.events&epollET == 0 {
			e.ready = true
			if againTail != 0 {
				ei(againTail).rnext = it
			} else {
				again = it
			}
			againTail = it
		}
	}
	if again != 0 {
		if inst.rtail != 0 {
			ei(inst.rtail).rnext = again
		} else {
			inst.rhead = again
		}
		inst.rtail = againTail
	}
	return n
}

// doEpollPwait serves epoll_wait/epoll_pwait; timeout is in ms
// (negative: forever). The signal mask is ignored (no signals arrive while
// blocked in the kernel).
func doEpollPwait(epfd int, evs uintptr, max int, timeoutNS int64) int64 {
	if max <= 0 || max > epollMaxEvents {
		return -abi.EINVAL
	}
	f := Fget(epfd)
	if f == 0 {
		return -abi.EBADF
	}
	defer Fput(f)
	if Of(f).Kind != fdEpoll {
		return -abi.EINVAL
	}
	ep := Of(f).Obj
	var deadline int64
	if timeoutNS > 0 {
		deadline = platform.Nanotime() + timeoutNS
	}
	for {
		if !mm.UserOK(evs, uintptr(max)*epollEventSize, true) {
			return -abi.EFAULT
		}
		kctx.SchedLock.Lock()
		n := epollScan(ep, evs, max)
		if n > 0 || timeoutNS == 0 || deadline != 0 && platform.Nanotime() >= deadline {
			kctx.SchedLock.Unlock()
			return int64(n)
		}
		kctx.At[epollInst](ep).wq.Wait(deadline)
		kctx.SchedLock.Unlock()
	}
}
