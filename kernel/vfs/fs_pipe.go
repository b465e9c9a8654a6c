package vfs

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/kmem"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/kernel/task"
)

// Pipes and eventfds: in-kernel objects whose state (and wait queues) are
// guarded by SchedLock. Blocking follows one pattern: validate the user
// buffer (mm.UserOK may fault pages in, so it runs without SchedLock), take
// SchedLock, and either make progress or queue a waiter and block; after a
// wakeup start over, since the buffer may have been unmapped meanwhile.

// Pipes.
const (
	pipeOrder = 4 // 64 KiB, Linux's default capacity
	pipeSize  = kmem.PageSize << pipeOrder
	pipeBuf   = 4096 // PIPE_BUF: writes up to this size are atomic
)

type pipe struct {
	buf     uintptr
	head    uint32 // next byte to read
	count   uint32 // bytes buffered
	readers int32  // open read ends
	writers int32
	rq      task.Waitq // readers waiting for data
	wq      task.Waitq // writers waiting for room
}

func pp(p uintptr) *pipe { return kctx.At[pipe](p) }

// newPipe returns a pipe with one reader and one writer, or 0.
func newPipe() uintptr {
	p := kmem.Alloc(task.UintptrSize(pipe{}))
	if p == 0 {
		return 0
	}
	b := kmem.AllocPages(pipeOrder)
	if b == 0 {
		kmem.Free(p, task.UintptrSize(pipe{}))
		return 0
	}
	pp(p).buf = b
	pp(p).readers = 1
	pp(p).writers = 1
	return p
}

// RingPut copies as much of src as fits into the ring (count bytes held
// from head) and returns how many bytes it copied.
func RingPut(ring []byte, head, count int, src []byte) int {
	size := len(ring)
	n := size - count
	if n > len(src) {
		n = len(src)
	}
	tail := (head + count) % size
	first := size - tail
	if first > n {
		first = n
	}
	copy(ring[tail:tail+first], src[:first])
	copy(ring[:n-first], src[first:n])
	return n
}

// RingGet copies up to len(dst) bytes out of the ring and returns the
// count and the new head.
func RingGet(ring []byte, head, count int, dst []byte) (int, int) {
	size := len(ring)
	n := count
	if n > len(dst) {
		n = len(dst)
	}
	first := size - head
	if first > n {
		first = n
	}
	copy(dst[:first], ring[head:head+first])
	copy(dst[first:n], ring[:n-first])
	return n, (head + n) % size
}

func pipeRead(p uintptr, buf, n uintptr, nonblock bool) int64 {
	if n == 0 {
		return 0
	}
	for {
		if !mm.UserOK(buf, n, true) {
			return -abi.EFAULT
		}
		kctx.SchedLock.Lock()
		q := pp(p)
		if q.count > 0 {
			r, head := RingGet(kctx.BytesAt(q.buf, pipeSize), int(q.head), int(q.count), kctx.BytesAt(buf, int(n)))
			q.head = uint32(head)
			q.count -= uint32(r)
			if q.count == 0 {
				q.head = 0
			}
			q.wq.WakeAll()
			PollNotify(p)
			kctx.SchedLock.Unlock()
			return int64(r)
		}
		if q.writers == 0 {
			kctx.SchedLock.Unlock()
			return 0
		}
		if nonblock {
			kctx.SchedLock.Unlock()
			return -abi.EAGAIN
		}
		q.rq.Wait(0)
		kctx.SchedLock.Unlock()
	}
}

// pipeWrite writes to a pipe's write end: EPIPE once no read end is
// left; writes of up to PIPE_BUF bytes go in whole or wait for room.
func pipeWrite(p uintptr, buf, n uintptr, nonblock bool) int64 {
	return RingWrite(pipeSink(p), buf, n, nonblock)
}

// pipeSink is a pipe as RingWrite's sink.
type pipeSink uintptr

func (w pipeSink) Check() int64 {
	if pp(uintptr(w)).readers == 0 {
		return -abi.EPIPE
	}
	return 0
}

func (w pipeSink) Put(src []byte, whole uintptr) int {
	q := pp(uintptr(w))
	room := uintptr(pipeSize - q.count)
	need := uintptr(1)
	if whole <= pipeBuf {
		need = whole // atomic: all or nothing
	}
	if room < need {
		return 0
	}
	n := RingPut(kctx.BytesAt(q.buf, pipeSize), int(q.head), int(q.count), src)
	q.count += uint32(n)
	q.rq.WakeAll()
	PollNotify(uintptr(w))
	return n
}

// WaitRoom has no deadline: pipes have no send timeout.
func (w pipeSink) WaitRoom() bool {
	pp(uintptr(w)).wq.Wait(0)
	return true
}

// pipeReaderOps and pipeWriterOps are the rows of a pipe's two ends.
var pipeReaderOps = FileOps{
	Read:     pipeFileRead,
	Release:  pipeReaderRelease,
	Poll:     pipeReaderMask,
	Fionread: pipeFionread,
	Mode:     0o10600,
	Dev:      0xc,
}

var pipeWriterOps = FileOps{
	Write:   pipeFileWrite,
	Release: pipeWriterRelease,
	Poll:    pipeWriterMask,
	Mode:    0o10600,
	Dev:     0xc,
}

func pipeFileRead(f uintptr, o *OFile, buf, n uintptr, pos int64) int64 {
	return pipeRead(o.Obj, buf, n, o.Flags&ONonblock != 0)
}

func pipeFileWrite(f uintptr, o *OFile, buf, n uintptr, pos int64) int64 {
	return pipeWrite(o.Obj, buf, n, o.Flags&ONonblock != 0)
}

func pipeReaderRelease(o *OFile) { pipeRelease(o.Obj, false) }

func pipeWriterRelease(o *OFile) { pipeRelease(o.Obj, true) }

func pipeReaderMask(p uintptr) uint32 { return pipeMask(p, false) }

func pipeWriterMask(p uintptr) uint32 { return pipeMask(p, true) }

func pipeFionread(o *OFile) int64 {
	kctx.SchedLock.Lock()
	n := int64(pp(o.Obj).count)
	kctx.SchedLock.Unlock()
	return n
}

// pipeRelease drops one end; the pipe is freed with its last end.
func pipeRelease(p uintptr, writer bool) {
	kctx.SchedLock.Lock()
	defer kctx.SchedLock.Unlock()
	q := pp(p)
	if writer {
		q.writers--
	} else {
		q.readers--
	}
	q.rq.WakeAll()
	q.wq.WakeAll()
	PollNotify(p)
	if q.readers == 0 && q.writers == 0 {
		kmem.FreePages(q.buf, pipeOrder)
		kmem.Free(p, task.UintptrSize(pipe{}))
	}
}

// pipeMask is the epoll readiness of a pipe end. Caller holds SchedLock.
func pipeMask(p uintptr, writer bool) uint32 {
	q := pp(p)
	var m uint32
	if writer {
		if q.count < pipeSize {
			m |= EpollOut | EpollWrnorm
		}
		if q.readers == 0 {
			m |= EpollErr
		}
		return m
	}
	if q.count > 0 {
		m |= EpollIn | EpollRdnorm
	}
	if q.writers == 0 {
		m |= EpollHup
	}
	return m
}

func doPipe2(fdsAddr uintptr, flags int) int64 {
	if flags&^(OCloexec|ONonblock|oDirect) != 0 {
		return -abi.EINVAL
	}
	if !mm.UserOK(fdsAddr, 8, true) {
		return -abi.EFAULT
	}
	p := newPipe()
	if p == 0 {
		return -abi.ENFILE
	}
	st := uint32(flags) & ONonblock
	r := NewOFile(fdPipeR, oRdonly|st, p)
	w := NewOFile(fdPipeW, OWronly|st, p)
	if r == 0 || w == 0 {
		if r != 0 {
			kmem.Free(r, task.UintptrSize(OFile{}))
		}
		if w != 0 {
			kmem.Free(w, task.UintptrSize(OFile{}))
		}
		kmem.FreePages(pp(p).buf, pipeOrder)
		kmem.Free(p, task.UintptrSize(pipe{}))
		return -abi.ENFILE
	}
	cloexec := flags&OCloexec != 0
	FSLock.Lock()
	defer FSLock.Unlock()
	rfd := fdAllocLocked(r, 0, cloexec)
	if rfd < 0 {
		filePutLocked(r)
		filePutLocked(w)
		return rfd
	}
	wfd := fdAllocLocked(w, 0, cloexec)
	if wfd < 0 {
		fds[rfd] = fdSlot{}
		filePutLocked(r)
		filePutLocked(w)
		return wfd
	}
	*kctx.At[[2]int32](fdsAddr) = [2]int32{int32(rfd), int32(wfd)}
	return 0
}

// Eventfds.
const (
	efdSemaphore = 1
	efdNonblock  = ONonblock
	efdCloexec   = OCloexec
	EfdMax       = ^uint64(0) - 1
)

type Eventfd struct {
	Count uint64
	sem   bool
	Rq    task.Waitq
	wq    task.Waitq
}

func Ef(p uintptr) *Eventfd { return kctx.At[Eventfd](p) }

func doEventfd2(initval uint32, flags int) int64 {
	if flags&^(efdSemaphore|efdNonblock|efdCloexec) != 0 {
		return -abi.EINVAL
	}
	p := kmem.Alloc(task.UintptrSize(Eventfd{}))
	if p == 0 {
		return -abi.ENOMEM
	}
	Ef(p).Count = uint64(initval)
	Ef(p).sem = flags&efdSemaphore != 0
	f := NewOFile(FdEventfd, ORdwr|uint32(flags)&ONonblock, p)
	if f == 0 {
		kmem.Free(p, task.UintptrSize(Eventfd{}))
		return -abi.ENOMEM
	}
	return FdInstall(f, flags&efdCloexec != 0)
}

func eventfdRead(p uintptr, buf, n uintptr, nonblock bool) int64 {
	if n < 8 {
		return -abi.EINVAL
	}
	for {
		if !mm.UserOK(buf, 8, true) {
			return -abi.EFAULT
		}
		kctx.SchedLock.Lock()
		e := Ef(p)
		if e.Count > 0 {
			v := e.Count
			if e.sem {
				v = 1
			}
			e.Count -= v
			*kctx.At[uint64](buf) = v
			e.wq.WakeAll()
			PollNotify(p)
			kctx.SchedLock.Unlock()
			return 8
		}
		if nonblock {
			kctx.SchedLock.Unlock()
			return -abi.EAGAIN
		}
		e.Rq.Wait(0)
		kctx.SchedLock.Unlock()
	}
}

func eventfdWrite(p uintptr, buf, n uintptr, nonblock bool) int64 {
	if n < 8 {
		return -abi.EINVAL
	}
	for {
		if !mm.UserOK(buf, 8, false) {
			return -abi.EFAULT
		}
		v := *kctx.At[uint64](buf)
		if v == ^uint64(0) {
			return -abi.EINVAL
		}
		kctx.SchedLock.Lock()
		e := Ef(p)
		if v <= EfdMax-e.Count {
			e.Count += v
			if v > 0 {
				e.Rq.WakeAll()
				PollNotify(p)
			}
			kctx.SchedLock.Unlock()
			return 8
		}
		if nonblock {
			kctx.SchedLock.Unlock()
			return -abi.EAGAIN
		}
		e.wq.Wait(0)
		kctx.SchedLock.Unlock()
	}
}

// eventfdOps is the row of an eventfd.
var eventfdOps = FileOps{
	Read:    eventfdFileRead,
	Write:   eventfdFileWrite,
	Release: eventfdFileRelease,
	Poll:    eventfdMask,
	Mode:    0o600,
	Dev:     0xe, // anonymous inode
}

func eventfdFileRead(f uintptr, o *OFile, buf, n uintptr, pos int64) int64 {
	return eventfdRead(o.Obj, buf, n, o.Flags&ONonblock != 0)
}

func eventfdFileWrite(f uintptr, o *OFile, buf, n uintptr, pos int64) int64 {
	return eventfdWrite(o.Obj, buf, n, o.Flags&ONonblock != 0)
}

func eventfdFileRelease(o *OFile) { eventfdRelease(o.Obj) }

func eventfdMask(p uintptr) uint32 {
	e := Ef(p)
	var m uint32
	if e.Count > 0 {
		m |= EpollIn | EpollRdnorm
	}
	if e.Count < EfdMax {
		m |= EpollOut | EpollWrnorm
	}
	return m
}

func eventfdRelease(p uintptr) {
	kmem.Free(p, task.UintptrSize(Eventfd{}))
}
