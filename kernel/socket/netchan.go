package socket

import (
	"unsafe"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/idtable"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/kmem"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/kernel/platform"
	"github.com/unigo-os/unigo/kernel/task"
	"github.com/unigo-os/unigo/kernel/vfs"
)

// The kernel's side of the netstack channel (protocol: abi/netchan.go).
//
// Inet sockets are registered in netIDs (kernel/idtable): an id the
// netstack passes back is checked against the table, so a stale or forged
// one is refused (EBADF) instead of naming freed memory. A registered sock holds
// one reference for the netstack, dropped by abi.SysNetRelease.
//
// Dirty socks form a FIFO (netDirty, linked through sock.dirty); read(2)
// on the channel descriptor drains it. All of it is guarded by SchedLock.

// Short names for the event bits used by the socket code.
const (
	npCreate   = abi.NetEvCreate
	npRequest  = abi.NetEvRequest
	npTx       = abi.NetEvTx
	npRxSpace  = abi.NetEvRxSpace
	npAccept   = abi.NetEvAccept
	npShutdown = abi.NetEvShutdown
	npClose    = abi.NetEvClose
	npOpts     = abi.NetEvOpts
)

const maxNetSocks = 16384

var (
	netIDs     [maxNetSocks]idtable.Slot
	netIDNext  int
	netFile    uintptr
	netDirtyHd uintptr
	netDirtyTl uintptr
	netReaders task.Waitq // threads blocked reading the channel
)

// netChanObj is the object address epoll knows the channel by.
var netChanObj uintptr

func NetAttached() bool { return netFile != 0 }

// netLive counts the sockets the netstack still holds.
var netLive int

// exitFlushMax bounds how long exit_group waits for the netstack,
// however steadily the peers keep taking data.
const exitFlushMax = 30e9

// NetFlushAtExit closes the program's sockets and waits (up to
// exitFlushMax) for the netstack to deliver their queued data and let go of
// them, as Linux keeps sending a closed socket's data after its process
// exits: otherwise a server's last response (a /quit reply, say) dies
// with the VM. It runs in SysExitFlush, with the exiting goroutine in a
// system call as far as the scheduler knows (see kernel/task/exit.go), so the
// netstack's goroutines can run, on the exiting goroutine's P too.
func NetFlushAtExit() {
	if !NetAttached() {
		return
	}
	for fd := 0; fd < vfs.MaxFDs; fd++ {
		if vfs.FdKind(fd) == vfs.FdSocket {
			vfs.FdClose(fd)
		}
	}
	deadline := platform.Nanotime() + exitFlushMax
	for {
		kctx.SchedLock.Lock()
		live := netLive
		kctx.SchedLock.Unlock()
		if live == 0 || platform.Nanotime() >= deadline {
			return
		}
		task.SleepUntil(platform.Nanotime() + 1e6)
	}
}

// netRegister gives inet sock p an id and queues its creation for the
// netstack. Caller holds SchedLock.
func netRegister(p uintptr) bool {
	id := idtable.Alloc(netIDs[:], &netIDNext, p)
	if id == 0 {
		return false
	}
	sk(p).id = id
	sk(p).refs++ // the netstack's
	netLive++
	netPend(p, npCreate|npOpts)
	return true
}

// netLookup returns the sock with id, or 0. Caller holds SchedLock.
func netLookup(id uint64) uintptr { return idtable.Lookup(netIDs[:], id) }

// netPend marks bits pending on p and queues it for the netstack. Caller
// holds SchedLock.
func netPend(p uintptr, bits uint32) {
	s := sk(p)
	if s.id == 0 {
		return
	}
	s.pend |= bits
	if s.onDirty {
		return
	}
	s.onDirty = true
	s.dirty = 0
	if netDirtyTl != 0 {
		sk(netDirtyTl).dirty = p
	} else {
		netDirtyHd = p
	}
	netDirtyTl = p
	netReaders.WakeAll()
	vfs.PollNotify(netChanObj)
}

// netUndirty takes p off the dirty list. Caller holds SchedLock.
func netUndirty(p uintptr) {
	if !sk(p).onDirty {
		return
	}
	var prev uintptr
	for q := netDirtyHd; q != 0; prev, q = q, sk(q).dirty {
		if q != p {
			continue
		}
		if prev == 0 {
			netDirtyHd = sk(q).dirty
		} else {
			sk(prev).dirty = sk(q).dirty
		}
		if netDirtyTl == p {
			netDirtyTl = prev
		}
		break
	}
	sk(p).onDirty = false
	sk(p).dirty = 0
}

// netRequest issues a request the program waits for (bind, listen,
// connect) and returns the netstack's answer as -errno. One request per
// socket is outstanding; others queue behind it.
func netRequest(p uintptr, req uint32, a *sockaddr, arg int64) int64 {
	kctx.SchedLock.Lock()
	defer kctx.SchedLock.Unlock()
	s := sk(p)
	for s.req != 0 {
		s.reqQueue.Wait(0)
	}
	if s.id == 0 {
		// The netstack has let go of the socket.
		return -abi.EINVAL
	}
	s.req = req
	s.reqDone = false
	s.reqErr = 0
	s.reqArg = arg
	if a != nil {
		s.reqAddr = *a
	} else {
		s.reqAddr = sockaddr{}
	}
	netPend(p, npRequest)
	for !s.reqDone {
		s.reqQueue.Wait(0)
	}
	e := s.reqErr
	s.req = 0
	s.reqQueue.WakeAll()
	return -int64(e)
}

// netConnect serves connect(2) on an inet socket.
func netConnect(p uintptr, a *sockaddr, nonblock bool) int64 {
	s := sk(p)
	kctx.SchedLock.Lock()
	switch {
	case s.typ == sockStream && s.state == ssConnected:
		kctx.SchedLock.Unlock()
		return -abi.EISCONN
	case s.typ == sockStream && s.state == ssConnecting:
		kctx.SchedLock.Unlock()
		return -abi.EALREADY
	case s.state == ssListening:
		kctx.SchedLock.Unlock()
		return -abi.EISCONN
	case s.typ == sockStream && s.state == ssClosed:
		e := s.err
		s.err = 0
		kctx.SchedLock.Unlock()
		if e != 0 {
			return -int64(e)
		}
		return -abi.EISCONN
	}
	if s.typ == sockStream && nonblock && s.id != 0 && s.req == 0 {
		// Go's connect: don't wait for the netstack at all. The
		// attempt is queued and the program polls for EPOLLOUT, then
		// reads SO_ERROR; an error the netstack finds at once arrives
		// the same way. (Waiting would cost a trip through Go's
		// scheduler: the netstack's goroutine needs the P this thread
		// holds in its system call.)
		s.req = abi.NetReqConnect
		s.reqAsync = true
		s.reqDone = false
		s.reqAddr = *a
		s.remote = *a
		s.state = ssConnecting
		s.flags |= sfWasConnect
		netPend(p, npRequest)
		kctx.SchedLock.Unlock()
		return -abi.EINPROGRESS
	}
	kctx.SchedLock.Unlock()
	r := netRequest(p, abi.NetReqConnect, a, 0)
	if s.typ == sockDgram || r != -abi.EINPROGRESS {
		return r
	}
	if nonblock {
		return r
	}
	kctx.SchedLock.Lock()
	defer kctx.SchedLock.Unlock()
	for s.state == ssConnecting {
		s.wq.Wait(0)
	}
	if s.state == ssConnected {
		return 0
	}
	e := s.err
	s.err = 0
	if e == 0 {
		e = abi.ECONNREFUSED
	}
	return -int64(e)
}

// netShutdown passes a shutdown on. Caller holds SchedLock.
func netShutdown(p uintptr, how uint32) {
	s := sk(p)
	switch how {
	case shutRd:
		s.shutHow |= abi.NetShutRd
	case shutWr:
		s.shutHow |= abi.NetShutWr
	default:
		s.shutHow |= abi.NetShutRd | abi.NetShutWr
	}
	netPend(p, npShutdown)
}

// Channel descriptor.

func doNetAttach() int64 {
	kctx.SchedLock.Lock()
	if netFile != 0 {
		kctx.SchedLock.Unlock()
		return -abi.EBUSY
	}
	kctx.SchedLock.Unlock()
	f := vfs.NewOFile(vfs.FdNetchan, vfs.ORdwr|vfs.ONonblock, 0)
	if f == 0 {
		return -abi.ENOMEM
	}
	kctx.SchedLock.Lock()
	netFile = f
	netChanObj = f
	vfs.Of(f).Obj = f
	vfs.Of(f).Refs++ // the kernel keeps the channel for good
	kctx.SchedLock.Unlock()
	return vfs.FdInstall(f, true)
}

// NetchanOps is the row of the netstack channel's descriptor.
var NetchanOps = vfs.FileOps{
	Read: netchanFileRead,
	Poll: netchanPoll,
	Mode: 0o600,
	Dev:  0xe, // anonymous inode
}

func netchanFileRead(f uintptr, o *vfs.OFile, buf, n uintptr, pos int64) int64 {
	return netchanRead(buf, n, o.Flags&vfs.ONonblock != 0)
}

func netchanPoll(uintptr) uint32 { return netchanMask() }

// netchanMask is the channel's epoll readiness. Caller holds SchedLock.
func netchanMask() uint32 {
	m := uint32(vfs.EpollOut | vfs.EpollWrnorm)
	if netDirtyHd != 0 {
		m |= vfs.EpollIn | vfs.EpollRdnorm
	}
	return m
}

// netchanRead fills buf with abi.NetEvent records.
func netchanRead(buf, n uintptr, nonblock bool) int64 {
	return vfs.ChanRead(buf, n, unsafe.Sizeof(abi.NetEvent{}), nonblock, &netReaders, netPending, netTake)
}

func netPending() bool { return netDirtyHd != 0 }

// netTake moves dirty socks to buf (n bytes), one abi.NetEvent each with
// their pending bits, and clears those. Caller holds SchedLock.
func netTake(buf, n uintptr) uintptr {
	const size = unsafe.Sizeof(abi.NetEvent{})
	var done uintptr
	for netDirtyHd != 0 && done+size <= n {
		p := netDirtyHd
		netDirtyHd = sk(p).dirty
		if netDirtyHd == 0 {
			netDirtyTl = 0
		}
		s := sk(p)
		s.onDirty = false
		s.dirty = 0
		ev := kctx.At[abi.NetEvent](buf + done)
		*ev = abi.NetEvent{}
		ev.ID = s.id
		ev.Pend = s.pend
		ev.Domain = s.domain
		ev.Type = s.typ
		ev.Proto = s.proto
		ev.Shut = s.shutHow
		ev.Opts = s.opts
		if s.pend&npRequest != 0 {
			ev.Req = s.req
			ev.Arg = s.reqArg
			ev.AddrLen = s.reqAddr.n
			ev.Addr = s.reqAddr.b
		}
		s.pend = 0
		done += size
	}
	return done
}

// Calls from the netstack. Each validates addresses and buffers first,
// then looks the socket up by id with netSockLocked and works under
// SchedLock.

// netSockLocked takes SchedLock and returns the sock the netstack names
// by id. Found: it returns the sock and errno 0 with SchedLock held, for
// the caller to release (a defer, open-coded, in the caller: the kernel
// context has no runtime-managed defers). Not found (stale, forged or
// released id): it returns 0 and -EBADF with SchedLock already released.
func netSockLocked(id uint64) (p uintptr, errno int64) {
	kctx.SchedLock.Lock()
	if p = netLookup(id); p == 0 {
		kctx.SchedLock.Unlock()
		return 0, -abi.EBADF
	}
	return p, 0
}

func doNetReply(id uint64, errno int64, addr uintptr, alen uint32) int64 {
	var a sockaddr
	if _, e := optAddr(&a, addr, alen); e != 0 {
		return e
	}
	p, e := netSockLocked(id)
	if e != 0 {
		return e
	}
	defer kctx.SchedLock.Unlock()
	s := sk(p)
	if s.req == 0 || s.reqDone {
		return -abi.EINVAL
	}
	if errno < 0 || errno > 4095 {
		errno = abi.EINVAL
	}
	if s.reqAsync {
		// Nobody waits: the outcome is the connection's state.
		s.reqAsync = false
		s.req = 0
		switch errno {
		case 0:
			s.state = ssConnected
		case abi.EINPROGRESS:
		default:
			s.state = ssClosed
			s.err = int32(errno)
			s.flags |= sfEOF | sfHangup
		}
		if addr != 0 {
			s.local = a
		}
		s.reqQueue.WakeAll()
		sockWake(p)
		return 0
	}
	switch {
	case errno == 0 && s.req == abi.NetReqBind:
		s.flags |= sfBound
	case errno == 0 && s.req == abi.NetReqListen:
		s.state = ssListening
		s.backlog = int32(s.reqArg)
	case s.req == abi.NetReqConnect && (errno == 0 || errno == abi.EINPROGRESS):
		s.flags |= sfWasConnect
		if s.typ == sockDgram {
			s.remote = s.reqAddr
			if s.reqAddr.family() == afUnspec {
				s.remote = sockaddr{n: 2}
				s.remote.b[0] = byte(s.domain)
			}
		} else if errno == 0 {
			s.state = ssConnected
			s.remote = s.reqAddr
		} else {
			s.state = ssConnecting
			s.remote = s.reqAddr
		}
	}
	if addr != 0 && errno == 0 || addr != 0 && errno == abi.EINPROGRESS {
		s.local = a
	}
	s.reqErr = int32(errno)
	s.reqDone = true
	s.reqQueue.WakeAll()
	sockWake(p)
	return 0
}

func doNetState(id uint64, kind int, errno int64, local, remote uintptr, alen uint32) int64 {
	var l, r sockaddr
	if _, e := optAddr(&l, local, alen); e != 0 {
		return e
	}
	if _, e := optAddr(&r, remote, alen); e != 0 {
		return e
	}
	p, e := netSockLocked(id)
	if e != 0 {
		return e
	}
	defer kctx.SchedLock.Unlock()
	s := sk(p)
	if local != 0 {
		s.local = l
		s.flags |= sfBound
	}
	if remote != 0 {
		s.remote = r
	}
	switch kind {
	case abi.NetStConnected:
		if s.state == ssConnecting || s.state == ssNew {
			s.state = ssConnected
		}
	case abi.NetStEOF:
		s.flags |= sfEOF
	case abi.NetStError:
		if errno <= 0 || errno > 4095 {
			errno = abi.ECONNRESET
		}
		s.err = int32(errno)
		if s.state != ssListening {
			s.state = ssClosed
			s.flags |= sfEOF | sfHangup
		}
		s.tx.release()
		s.txq.drain()
	case abi.NetStAddrs:
	default:
		return -abi.EINVAL
	}
	sockWake(p)
	return 0
}

func doNetRx(id uint64, buf, n uintptr, from uintptr, flen uint32) int64 {
	if n > maxDgram && n > sockBufSize {
		n = sockBufSize
	}
	if !mm.UserOK(buf, n, false) {
		return -abi.EFAULT
	}
	var a sockaddr
	if _, e := optAddr(&a, from, flen); e != 0 {
		return e
	}
	p, e := netSockLocked(id)
	if e != 0 {
		return e
	}
	defer kctx.SchedLock.Unlock()
	s := sk(p)
	if s.state == ssClosed && s.typ == sockStream || s.flags&sfShutRd != 0 {
		return int64(n) // nobody will read it: discard
	}
	if s.typ == sockDgram {
		if n > maxDgram {
			return -abi.EMSGSIZE
		}
		if s.rxq.bytes+int(n) > dgramQueueBytes {
			return -abi.EAGAIN
		}
		m := dgramAlloc(int(n))
		if m == 0 {
			return -abi.ENOBUFS
		}
		kctx.At[dgram](m).n = uint32(n)
		copy(dgramData(m), kctx.BytesAt(buf, int(n)))
		kctx.At[dgram](m).from = a
		s.rxq.push(m)
	} else {
		w := s.rx.put(kctx.BytesAt(buf, int(n)))
		if w == 0 && n > 0 {
			return -abi.EAGAIN
		}
		n = uintptr(w)
	}
	s.rq.WakeAll()
	vfs.PollNotify(p)
	return int64(n)
}

func doNetTx(id uint64, buf, n uintptr, to, tolen uintptr) int64 {
	if !mm.UserOK(buf, n, true) {
		return -abi.EFAULT
	}
	if to != 0 && (!mm.UserOK(to, maxSockaddr, true) || !mm.UserOK(tolen, 4, true)) {
		return -abi.EFAULT
	}
	p, e := netSockLocked(id)
	if e != 0 {
		return e
	}
	defer kctx.SchedLock.Unlock()
	s := sk(p)
	var r int
	if s.typ == sockDgram {
		m := s.txq.head
		if m == 0 {
			return 0
		}
		d := dgramData(m)
		if len(d) > int(n) {
			return -abi.EMSGSIZE
		}
		s.txq.pop()
		r = copy(kctx.BytesAt(buf, int(n)), d)
		if to != 0 {
			a := &kctx.At[dgram](m).from
			storeAddr(to, a)
			*kctx.At[uint32](tolen) = a.n
		}
		dgramFree(m)
	} else {
		r = s.tx.get(kctx.BytesAt(buf, int(n)), false)
	}
	if r > 0 {
		s.wq.WakeAll()
		vfs.PollNotify(p)
	}
	return int64(r)
}

func doNetAccept(lid uint64, local, remote uintptr, alen uint32) int64 {
	var l, r sockaddr
	if e := copyInAddr(&l, local, alen); e != 0 {
		return e
	}
	if e := copyInAddr(&r, remote, alen); e != 0 {
		return e
	}
	c := kmem.Alloc(task.UintptrSize(sock{}))
	if c == 0 {
		return -abi.ENOMEM
	}
	lp, e := netSockLocked(lid)
	if e != 0 {
		kmem.Free(c, task.UintptrSize(sock{}))
		return e
	}
	defer kctx.SchedLock.Unlock()
	ls := sk(lp)
	if ls.state != ssListening {
		kmem.Free(c, task.UintptrSize(sock{}))
		return -abi.EINVAL
	}
	if ls.aqLen >= ls.backlog {
		kmem.Free(c, task.UintptrSize(sock{}))
		return -abi.EAGAIN
	}
	cs := sk(c)
	cs.domain, cs.typ, cs.proto = ls.domain, ls.typ, ls.proto
	cs.refs = 1 // the accept queue's, then the ofile's
	cs.state = ssConnected
	cs.flags = sfBound
	cs.local, cs.remote = l, r
	cs.opts = ls.opts
	if !netRegister(c) {
		kmem.Free(c, task.UintptrSize(sock{}))
		return -abi.ENFILE
	}
	// The netstack already has the endpoint: no creation event.
	cs.pend &^= npCreate
	acceptQueue(lp, c)
	return int64(cs.id)
}

func doNetRelease(id uint64) int64 {
	p, e := netSockLocked(id)
	if e != 0 {
		return e
	}
	defer kctx.SchedLock.Unlock()
	idtable.Free(netIDs[:], id)
	netLive--
	netUndirty(p)
	s := sk(p)
	s.id = 0
	if s.req != 0 && s.reqAsync {
		s.req, s.reqAsync = 0, false
		s.err = abi.ECONNABORTED
		s.reqQueue.WakeAll()
	}
	if s.req != 0 && !s.reqDone {
		s.reqErr = abi.ECONNABORTED
		s.reqDone = true
		s.reqQueue.WakeAll()
	}
	s.flags |= sfNetClosed | sfEOF | sfHangup
	if s.state != ssListening {
		s.state = ssClosed
	}
	sockWake(p)
	sockPut(p)
	return 0
}

// storeAddr writes a's bytes to the program's buffer at to. It is a
// function of its own, not inlined: go1.26's compiler crashes
// ("disjointTypes") on a fixed-size copy between two unsafe-derived
// slices in the same function.
//
//go:noinline
func storeAddr(to uintptr, a *sockaddr) {
	dst := kctx.BytesAt(to, maxSockaddr)
	for i := range dst {
		dst[i] = a.b[i]
	}
}
