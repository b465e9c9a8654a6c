package kernel

import (
	"github.com/unigo-os/unigo/kernel/kmem"
)

// epoll. Interest items (epitem) are kmem blocks on one global list (a Go
// program watches a handful of objects: the netpoller's eventfd, its
// pipes); each names its epoll instance, the ofile it watches and that
// ofile's object. An object whose state changes calls pollNotify, which
// marks the items watching it pending and wakes their epoll_pwait callers.
// epoll_pwait scans its items: a level-triggered item is reported while
// its object is ready, an edge-triggered one (EPOLLET, as Go's netpoller
// registers) only once per pollNotify. All of it is guarded by schedLock.

const (
	epollIn        = 0x1
	epollPri       = 0x2
	epollOut       = 0x4
	epollErr       = 0x8
	epollHup       = 0x10
	epollRdnorm    = 0x40
	epollWrnorm    = 0x100
	epollRdhup     = 0x2000
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
	next    uintptr // global list
	ep      uintptr
	file    uintptr // watched ofile
	obj     uintptr // its object
	kind    uint32  // its kind
	fd      int32
	events  uint32 // requested events | EPOLLERR | EPOLLHUP
	pending bool   // notified since last reported
	data    uint64
}

// epollInst is an epoll instance.
type epollInst struct {
	wq waitq // threads in epoll_pwait
}

var epitems uintptr

func ei(p uintptr) *epitem { return at[epitem](p) }

func sysEpollCreate1Impl(flags int) int64 {
	if flags&^oCloexec != 0 {
		return -EINVAL
	}
	p := kmem.Alloc(uintptrSize(epollInst{}))
	if p == 0 {
		return -ENOMEM
	}
	f := newOfile(fdEpoll, oRdwr, p)
	if f == 0 {
		kmem.Free(p, uintptrSize(epollInst{}))
		return -ENOMEM
	}
	return fdInstall(f, flags&oCloexec != 0)
}

// epollRelease drops every item of an instance and frees it.
func epollRelease(ep uintptr) {
	schedLock.Lock()
	for p := &epitems; *p != 0; {
		it := *p
		if ei(it).ep == ep {
			*p = ei(it).next
			kmem.Free(it, uintptrSize(epitem{}))
			continue
		}
		p = &ei(it).next
	}
	schedLock.Unlock()
	kmem.Free(ep, uintptrSize(epollInst{}))
}

// epollForget drops the items watching ofile f, which is going away.
// Caller holds schedLock.
func epollForget(f uintptr) {
	for p := &epitems; *p != 0; {
		it := *p
		if ei(it).file == f {
			*p = ei(it).next
			kmem.Free(it, uintptrSize(epitem{}))
			continue
		}
		p = &ei(it).next
	}
}

// pollMask is the current readiness of an object. Caller holds schedLock.
func pollMask(kind uint32, obj uintptr) uint32 {
	switch kind {
	case fdPipeR:
		return pipeMask(obj, false)
	case fdPipeW:
		return pipeMask(obj, true)
	case fdEventfd:
		return eventfdMask(obj)
	case fdSocket:
		return sockMask(obj)
	case fdNetchan:
		return netchanMask()
	case fdConsole:
		m := uint32(epollOut | epollWrnorm)
		if conHead != conTail {
			m |= epollIn | epollRdnorm
		}
		return m
	}
	return 0
}

// pollNotify records that obj's readiness may have changed. Caller holds
// schedLock.
func pollNotify(obj uintptr) {
	for it := epitems; it != 0; it = ei(it).next {
		e := ei(it)
		if e.obj == obj {
			e.pending = true
			at[epollInst](e.ep).wq.wakeAll()
		}
	}
}

func sysEpollCtlImpl(epfd, op, fd int, evp uintptr) int64 {
	var ev [12]byte
	if op != epollCtlDel {
		if !userOK(evp, epollEventSize, false) {
			return -EFAULT
		}
		copy(ev[:], bytesAt(evp, epollEventSize))
	}
	epf := fget(epfd)
	if epf == 0 {
		return -EBADF
	}
	tf := fget(fd)
	if tf == 0 {
		fput(epf)
		return -EBADF
	}
	r := epollCtl(epf, tf, op, fd, &ev)
	fput(tf)
	fput(epf)
	return r
}

func epollCtl(epf, tf uintptr, op, fd int, ev *[12]byte) int64 {
	if of(epf).kind != fdEpoll || epf == tf {
		return -EINVAL
	}
	t := of(tf)
	switch t.kind {
	case fdPipeR, fdPipeW, fdEventfd, fdConsole, fdSocket, fdNetchan:
	default:
		// Regular files, directories and /dev/null cannot be polled.
		return -EPERM
	}
	if t.kind == fdConsole {
		consoleIRQEnable()
	}
	ep := of(epf).obj
	events := uint32(ev[0]) | uint32(ev[1])<<8 | uint32(ev[2])<<16 | uint32(ev[3])<<24
	var data uint64
	for i := 0; i < 8; i++ {
		data |= uint64(ev[4+i]) << (8 * i)
	}
	schedLock.Lock()
	r := epollCtlLocked(ep, tf, op, fd, events, data)
	schedLock.Unlock()
	return r
}

// epollCtlLocked adds, changes or removes the item for (ep, tf, fd).
// Caller holds schedLock.
func epollCtlLocked(ep, tf uintptr, op, fd int, events uint32, data uint64) int64 {
	t := of(tf)
	var found uintptr
	for it := epitems; it != 0; it = ei(it).next {
		if ei(it).ep == ep && ei(it).file == tf && ei(it).fd == int32(fd) {
			found = it
			break
		}
	}
	switch op {
	case epollCtlAdd:
		if found != 0 {
			return -EEXIST
		}
		it := kmem.Alloc(uintptrSize(epitem{}))
		if it == 0 {
			return -ENOMEM
		}
		e := ei(it)
		e.ep, e.file, e.obj, e.kind, e.fd = ep, tf, t.obj, t.kind, int32(fd)
		e.events = events | epollErr | epollHup
		e.data = data
		e.pending = true // report the current state once, as Linux does
		e.next = epitems
		epitems = it
		at[epollInst](ep).wq.wakeAll()
		return 0
	case epollCtlMod:
		if found == 0 {
			return -ENOENT
		}
		e := ei(found)
		e.events = events | epollErr | epollHup
		e.data = data
		e.pending = true
		at[epollInst](ep).wq.wakeAll()
		return 0
	case epollCtlDel:
		if found == 0 {
			return -ENOENT
		}
		for p := &epitems; *p != 0; p = &ei(*p).next {
			if *p == found {
				*p = ei(found).next
				break
			}
		}
		kmem.Free(found, uintptrSize(epitem{}))
		return 0
	}
	return -EINVAL
}

// epollScan writes up to max ready events of instance ep to the user
// array at evs (already validated). Caller holds schedLock.
func epollScan(ep uintptr, evs uintptr, max int) int {
	n := 0
	for it := epitems; it != 0 && n < max; it = ei(it).next {
		e := ei(it)
		if e.ep != ep {
			continue
		}
		if e.events&epollET != 0 && !e.pending {
			continue
		}
		e.pending = false
		m := pollMask(e.kind, e.obj) & e.events &^ epollPrivate
		if m == 0 {
			continue
		}
		b := bytesAt(evs+uintptr(n)*epollEventSize, epollEventSize)
		for i := 0; i < 4; i++ {
			b[i] = byte(m >> (8 * i))
		}
		for i := 0; i < 8; i++ {
			b[4+i] = byte(e.data >> (8 * i))
		}
		n++
		if e.events&epollOneshot != 0 {
			e.events &= epollPrivate
		}
	}
	return n
}

// sysEpollPwaitImpl serves epoll_wait/epoll_pwait; timeout is in ms
// (negative: forever). The signal mask is ignored (no signals arrive while
// blocked in the kernel).
func sysEpollPwaitImpl(epfd int, evs uintptr, max int, timeoutNS int64) int64 {
	if max <= 0 || max > epollMaxEvents {
		return -EINVAL
	}
	f := fget(epfd)
	if f == 0 {
		return -EBADF
	}
	defer fput(f)
	if of(f).kind != fdEpoll {
		return -EINVAL
	}
	ep := of(f).obj
	var deadline int64
	if timeoutNS > 0 {
		deadline = nanotime() + timeoutNS
	}
	for {
		if !userOK(evs, uintptr(max)*epollEventSize, true) {
			return -EFAULT
		}
		schedLock.Lock()
		n := epollScan(ep, evs, max)
		if n > 0 || timeoutNS == 0 || deadline != 0 && nanotime() >= deadline {
			schedLock.Unlock()
			return int64(n)
		}
		at[epollInst](ep).wq.wait(deadline)
		schedLock.Unlock()
	}
}
