package socket

import (
	"unsafe"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/kmem"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/kernel/platform"
	"github.com/unigo-os/unigo/kernel/task"
	"github.com/unigo-os/unigo/kernel/vfs"
)

// Sockets.
//
// A socket is a kernel object (sock, in kmem) behind an ofile of kind
// fdSocket. The kernel keeps everything a program asks about without
// waiting — buffered data, addresses, options, pending errors, the accept
// queue — so that read, write, accept4, getsockname, getsockopt and epoll
// never wait for anything but data, as on Linux.
//
// AF_UNIX sockets live entirely in the kernel: a connected stream pair
// moves bytes from one end's write straight into the other end's receive
// ring; datagrams are queued as messages on the receiver (socket_unix.go).
//
// AF_INET and AF_INET6 sockets are served by the netstack (package
// netstack: gVisor's tcpip), which runs as ordinary Go code beside the
// program, not in kernel context. The kernel and the netstack talk through
// a channel (netchan.go): the kernel marks a socket dirty (new socket,
// request, data to send, room to receive, shutdown, close, options) and
// the netstack, reading the channel's descriptor from Go's netpoller,
// takes a batch of dirty sockets and answers through private system
// calls that move data between its TCP/UDP endpoints and the sockets'
// buffers. Only bind, listen and a first connect wait for the netstack;
// Fuchsia's netstack is split from its sockets the same way.
//
// Locking: socket state, like pipes', is guarded by SchedLock (a wakeup
// needs it anyway); the name table of AF_UNIX sockets too. Nothing here
// runs user-memory checks (mm.UserOK) with SchedLock held.

// Address families, socket types and flags (Linux values).
const (
	afUnspec = 0
	afUnix   = 1
	afInet   = 2
	afInet6  = 10

	sockStream    = 1
	sockDgram     = 2
	sockSeqpacket = 5
	sockTypeMask  = 0xf
	sockNonblock  = vfs.ONonblock
	sockCloexec   = vfs.OCloexec

	msgOOB      = 0x1
	msgPeek     = 0x2
	msgCtrunc   = 0x8
	msgTrunc    = 0x20
	msgDontwait = 0x40
	msgWaitall  = 0x100
	msgNosignal = 0x4000
	msgCmsgExec = 0x40000000

	shutRd   = 0
	shutWr   = 1
	shutRdwr = 2
)

// Socket states.
const (
	ssNew        = iota
	ssListening  // listen(2) done
	ssConnecting // inet: connect sent to the netstack, not yet answered
	ssConnected
	ssClosed // connection over (reset, refused, or unix peer gone)
)

// sock.flags bits.
const (
	sfShutRd     = 1 << iota // shutdown(SHUT_RD) by this end
	sfShutWr                 // shutdown(SHUT_WR) by this end: no more writes
	sfEOF                    // the peer will send nothing more
	sfBound                  // has a local address
	sfHangup                 // the connection is gone both ways
	sfAutobind               // inet: the netstack assigned the local address
	sfNetClosed              // inet: the netstack dropped its side
	sfWasConnect             // a connect was attempted (for EALREADY/EISCONN)
)

// sockBufOrder sizes a stream socket's rings: 64 KiB each, allocated on
// first use and freed when drained, so idle connections cost only their
// sock block.
const (
	sockBufOrder = 4
	sockBufSize  = kmem.PageSize << sockBufOrder
	// maxDgram bounds a datagram (UDP's limit).
	maxDgram = 65507 + 28
	// dgramQueueBytes bounds the bytes queued on a datagram socket.
	dgramQueueBytes = 256 << 10
	// maxSockaddr is the largest address kept (sockaddr_un is 110 bytes).
	maxSockaddr = 112
)

// sockaddr is a socket address as the program passes it.
type sockaddr struct {
	n uint32
	b [maxSockaddr]byte
}

func (a *sockaddr) family() uint16 {
	if a.n < 2 {
		return afUnspec
	}
	return uint16(a.b[0]) | uint16(a.b[1])<<8
}

// sring is a byte ring of sockBufSize, its buffer allocated lazily.
type sring struct {
	buf   uintptr
	head  uint32
	count uint32
}

func (r *sring) room() int { return sockBufSize - int(r.count) }

// put copies as much of src as fits and returns the count; it fails (0)
// only if the ring is full or its buffer cannot be allocated.
func (r *sring) put(src []byte) int {
	if len(src) == 0 || r.count == sockBufSize {
		return 0
	}
	if r.buf == 0 {
		// Not cleared: only bytes put here are ever read back.
		if r.buf = kmem.AllocPagesDirty(sockBufOrder); r.buf == 0 {
			return 0
		}
	}
	n := vfs.RingPut(kctx.BytesAt(r.buf, sockBufSize), int(r.head), int(r.count), src)
	r.count += uint32(n)
	return n
}

// get copies out up to len(dst) bytes; with peek it leaves them queued.
func (r *sring) get(dst []byte, peek bool) int {
	if r.count == 0 || len(dst) == 0 {
		return 0
	}
	n, head := vfs.RingGet(kctx.BytesAt(r.buf, sockBufSize), int(r.head), int(r.count), dst)
	if !peek {
		r.head = uint32(head)
		r.count -= uint32(n)
		if r.count == 0 {
			r.release()
		}
	}
	return n
}

func (r *sring) release() {
	if r.buf != 0 {
		kmem.FreePages(r.buf, sockBufOrder)
	}
	*r = sring{}
}

// dgram is one queued datagram: this header, then the payload.
type dgram struct {
	next uintptr
	n    uint32
	_    uint32
	from sockaddr
}

const dgramHdr = int(unsafe.Sizeof(dgram{}))

// msgq is a FIFO of datagrams.
type msgq struct {
	head, tail uintptr
	bytes      int
	count      int
}

func dgramAlloc(n int) uintptr {
	size := uintptr(dgramHdr + n)
	if size <= 2048 {
		return kmem.Alloc(size)
	}
	return kmem.AllocPages(dgramOrder(size))
}

func dgramFree(m uintptr) {
	size := uintptr(dgramHdr + int(kctx.At[dgram](m).n))
	if size <= 2048 {
		kmem.Free(m, size)
		return
	}
	kmem.FreePages(m, dgramOrder(size))
}

func dgramOrder(size uintptr) int {
	o := 0
	for uintptr(kmem.PageSize)<<o < size {
		o++
	}
	return o
}

func dgramData(m uintptr) []byte {
	return kctx.BytesAt(m+uintptr(dgramHdr), int(kctx.At[dgram](m).n))
}

func (q *msgq) push(m uintptr) {
	kctx.At[dgram](m).next = 0
	if q.tail != 0 {
		kctx.At[dgram](q.tail).next = m
	} else {
		q.head = m
	}
	q.tail = m
	q.bytes += int(kctx.At[dgram](m).n)
	q.count++
}

func (q *msgq) pop() uintptr {
	m := q.head
	if m == 0 {
		return 0
	}
	q.head = kctx.At[dgram](m).next
	if q.head == 0 {
		q.tail = 0
	}
	q.bytes -= int(kctx.At[dgram](m).n)
	q.count--
	return m
}

func (q *msgq) drain() {
	for m := q.pop(); m != 0; m = q.pop() {
		dgramFree(m)
	}
}

// sock is a socket.
type sock struct {
	domain uint16
	typ    uint16
	proto  uint16
	state  uint8
	_      uint8
	flags  uint32
	err    int32 // pending error for SO_ERROR (positive errno)
	refs   int32 // the ofile; a unix peer's link; the netstack (inet)

	rx  sring // bytes for the program
	tx  sring // inet stream: bytes for the netstack
	rxq msgq  // datagrams for the program
	txq msgq  // inet: datagrams for the netstack

	peer     uintptr // unix: the connected peer sock
	aqHead   uintptr // listener: queue of accepted socks (linked by next)
	aqTail   uintptr
	aqLen    int32
	backlog  int32
	next     uintptr // link in a listener's accept queue
	nameNext uintptr // link in the unix name list

	local  sockaddr
	remote sockaddr
	opts   abi.SockOpts

	rq task.Waitq // readers and accepters
	wq task.Waitq // writers and connecters

	// Netstack channel state (netchan.go).
	id       uint64 // handle the netstack knows this socket by
	pend     uint32 // events not yet taken by the netstack
	dirty    uintptr
	onDirty  bool
	req      uint32 // outstanding request (reqBind, ...), 0 if none
	reqErr   int32
	reqDone  bool
	reqAsync bool // a connect nobody waits for (see netConnect)
	reqArg   int64
	reqAddr  sockaddr
	shutHow  uint32     // shutdowns to pass on
	reqQueue task.Waitq // threads waiting to issue or finish a request
}

func sk(p uintptr) *sock { return kctx.At[sock](p) }

func newSock(domain, typ, proto int) uintptr {
	p := kmem.Alloc(task.UintptrSize(sock{}))
	if p == 0 {
		return 0
	}
	s := sk(p)
	s.domain = uint16(domain)
	s.typ = uint16(typ)
	s.proto = uint16(proto)
	s.refs = 1
	s.local.n = 2
	s.local.b[0] = byte(domain)
	return p
}

// sockPut drops a reference; the last frees the sock. Caller holds
// SchedLock.
func sockPut(p uintptr) {
	s := sk(p)
	s.refs--
	if s.refs > 0 {
		return
	}
	s.rx.release()
	s.tx.release()
	s.rxq.drain()
	s.txq.drain()
	kmem.Free(p, task.UintptrSize(sock{}))
}

// SocketOps is the row of a socket: read and write are recv and send
// without flags or addresses.
var SocketOps = vfs.FileOps{
	Read:     sockFileRead,
	Write:    sockFileWrite,
	Release:  sockFileRelease,
	Poll:     sockMask,
	Fionread: sockFileFionread,
	Mode:     0o140777,
	Dev:      0x8,
}

func sockFileRead(f uintptr, o *vfs.OFile, buf, n uintptr, pos int64) int64 {
	var fl int32
	return sockRecv(f, o.Obj, 0, 0, buf, n, nil, 0, &fl)
}

func sockFileWrite(f uintptr, o *vfs.OFile, buf, n uintptr, pos int64) int64 {
	return sockSend(f, o.Obj, 0, 0, buf, n, nil, 0)
}

func sockFileRelease(o *vfs.OFile) { sockRelease(o.Obj) }

func sockFileFionread(o *vfs.OFile) int64 { return sockFionread(o.Obj) }

// sockRelease runs when the ofile closes: the program lets go of the
// socket. Takes SchedLock.
func sockRelease(p uintptr) {
	kctx.SchedLock.Lock()
	s := sk(p)
	// Listener: unaccepted connections go too.
	for c := s.aqHead; c != 0; {
		n := sk(c).next
		sk(c).next = 0
		sockCloseLocked(c)
		sockPut(c)
		c = n
	}
	s.aqHead, s.aqTail, s.aqLen = 0, 0, 0
	sockCloseLocked(p)
	sockPut(p)
	kctx.SchedLock.Unlock()
}

// sockCloseLocked ends the program's use of a socket: unix peers see
// EOF, the netstack is told, names are dropped. Caller holds SchedLock.
func sockCloseLocked(p uintptr) {
	s := sk(p)
	s.state = ssClosed
	s.flags |= sfShutRd | sfShutWr
	if s.domain == afUnix {
		unixUnbindLocked(p)
		if q := s.peer; q != 0 {
			s.peer = 0
			if sk(q).peer == p {
				sk(q).peer = 0
				sk(q).flags |= sfEOF | sfHangup
				sockWake(q)
				sockPut(p) // q's link to p
			}
			sockPut(q) // p's link to q
		}
		sockWake(p)
		return
	}
	// Bytes the program never read are freed now: the netstack may hold
	// the socket a while yet (until the peer acknowledges the FIN), and
	// doNetRx discards what arrives meanwhile.
	s.rx.release()
	s.rxq.drain()
	netPend(p, npClose)
	sockWake(p)
}

// sockWake wakes everything waiting on s and its pollers. Caller holds
// SchedLock.
func sockWake(p uintptr) {
	s := sk(p)
	s.rq.WakeAll()
	s.wq.WakeAll()
	vfs.PollNotify(p)
}

// sockMask is a socket's epoll readiness. Caller holds SchedLock.
func sockMask(p uintptr) uint32 {
	s := sk(p)
	var m uint32
	if s.state == ssListening {
		if s.aqHead != 0 {
			m |= vfs.EpollIn | vfs.EpollRdnorm
		}
		return m
	}
	if s.rx.count > 0 || s.rxq.head != 0 {
		m |= vfs.EpollIn | vfs.EpollRdnorm
	}
	if s.flags&(sfEOF|sfShutRd) != 0 {
		m |= vfs.EpollIn | vfs.EpollRdnorm | vfs.EpollRdhup
	}
	if s.err != 0 {
		m |= vfs.EpollErr
	}
	if s.flags&sfHangup != 0 || s.flags&sfShutWr != 0 && s.flags&sfEOF != 0 {
		m |= vfs.EpollHup
	}
	if sockWritable(p) {
		m |= vfs.EpollOut | vfs.EpollWrnorm
	}
	return m
}

// sockWritable reports whether a write would make progress now (or fail
// at once). Caller holds SchedLock.
func sockWritable(p uintptr) bool {
	s := sk(p)
	if s.flags&(sfShutWr|sfHangup) != 0 || s.err != 0 {
		return true
	}
	switch {
	case s.typ == sockDgram && s.domain != afUnix:
		return s.txq.bytes < dgramQueueBytes
	case s.typ == sockDgram:
		return true // datagrams to a full unix receiver fail with EAGAIN
	case s.typ == sockSeqpacket:
		return s.state != ssConnected || s.peer == 0 || sk(s.peer).rxq.bytes < dgramQueueBytes
	case s.state == ssConnected && s.domain == afUnix:
		return s.peer != 0 && sk(s.peer).rx.room() > 0
	case s.state == ssConnected:
		return s.tx.room() > 0
	}
	return false
}

// sockOf returns the sock behind fd with the ofile referenced, or an
// errno.
func sockOf(fd int) (f, p uintptr, errno int64) {
	f = vfs.Fget(fd)
	if f == 0 {
		return 0, 0, -abi.EBADF
	}
	if vfs.Of(f).Kind != vfs.FdSocket {
		vfs.Fput(f)
		return 0, 0, -abi.ENOTSOCK
	}
	return f, vfs.Of(f).Obj, 0
}

// IsInet reports whether fd is an inet (netstack) socket; ok is
// false when fd is not a socket.
func IsInet(fd int) (inet, ok bool) {
	f, p, e := sockOf(fd)
	if e != 0 {
		return false, false
	}
	inet = sk(p).domain != afUnix
	vfs.Fput(f)
	return inet, true
}

// sockDeadline is the deadline of a blocking operation with timeout ns
// (0: none).
func sockDeadline(ns int64) int64 {
	if ns <= 0 {
		return 0
	}
	return platform.Nanotime() + ns
}

func doSocket(domain, typ, proto int) int64 {
	flags := typ &^ sockTypeMask
	typ &= sockTypeMask
	if flags&^(sockNonblock|sockCloexec) != 0 {
		return -abi.EINVAL
	}
	switch domain {
	case afUnix:
		if typ != sockStream && typ != sockDgram && typ != sockSeqpacket {
			return -abi.ESOCKTNOSUPPORT
		}
		if proto != 0 {
			return -abi.EPROTONOSUPPORT
		}
	case afInet, afInet6:
		switch {
		case typ == sockStream && (proto == 0 || proto == 6):
			proto = 6
		case typ == sockDgram && (proto == 0 || proto == 17):
			proto = 17
		case typ == sockStream || typ == sockDgram:
			return -abi.EPROTONOSUPPORT
		default:
			return -abi.ESOCKTNOSUPPORT
		}
		if !NetAttached() {
			return -abi.EAFNOSUPPORT
		}
	default:
		return -abi.EAFNOSUPPORT
	}
	p := newSock(domain, typ, proto)
	if p == 0 {
		return -abi.ENOMEM
	}
	if domain != afUnix {
		kctx.SchedLock.Lock()
		ok := netRegister(p)
		kctx.SchedLock.Unlock()
		if !ok {
			kmem.Free(p, task.UintptrSize(sock{}))
			return -abi.ENFILE
		}
	}
	return sockInstall(p, uint32(flags))
}

// sockInstall puts sock p (one reference, handed over) behind a new
// descriptor.
func sockInstall(p uintptr, flags uint32) int64 {
	f := vfs.NewOFile(vfs.FdSocket, vfs.ORdwr|flags&vfs.ONonblock, p)
	if f == 0 {
		sockRelease(p)
		return -abi.ENOMEM
	}
	return vfs.FdInstall(f, flags&vfs.OCloexec != 0)
}

// copyInAddr copies a sockaddr from the program.
func copyInAddr(a *sockaddr, addr uintptr, n uint32) int64 {
	if n > maxSockaddr {
		if n > 128 {
			return -abi.EINVAL
		}
		n = maxSockaddr
	}
	if n < 2 {
		return -abi.EINVAL
	}
	if !mm.UserOK(addr, uintptr(n), false) {
		return -abi.EFAULT
	}
	a.n = n
	copy(a.b[:n], kctx.BytesAt(addr, int(n)))
	return 0
}

// optAddr copies in the address at addr, if there is one: it returns nil
// for addr 0, else a filled from the program.
func optAddr(a *sockaddr, addr uintptr, n uint32) (*sockaddr, int64) {
	if addr == 0 {
		return nil, 0
	}
	if e := copyInAddr(a, addr, n); e != 0 {
		return nil, e
	}
	return a, 0
}

// copyOutAddr writes a to the program's (addr, *lenp) as getsockname
// does: truncated to the buffer, the full length stored in *lenp.
func copyOutAddr(a *sockaddr, addr, lenp uintptr) int64 {
	if lenp == 0 {
		return 0
	}
	if !mm.UserOK(lenp, 4, true) {
		return -abi.EFAULT
	}
	l := *kctx.At[int32](lenp)
	if l < 0 {
		return -abi.EINVAL
	}
	n := a.n
	if uint32(l) < n {
		n = uint32(l)
	}
	if n > 0 {
		if !mm.UserOK(addr, uintptr(n), true) {
			return -abi.EFAULT
		}
		copy(kctx.BytesAt(addr, int(n)), a.b[:n])
	}
	*kctx.At[int32](lenp) = int32(a.n)
	return 0
}

func doBind(fd int, addr uintptr, n uint32) int64 {
	f, p, e := sockOf(fd)
	if e != 0 {
		return e
	}
	defer vfs.Fput(f)
	var a sockaddr
	if e := copyInAddr(&a, addr, n); e != 0 {
		return e
	}
	if sk(p).domain == afUnix {
		return unixBind(p, &a)
	}
	return netRequest(p, abi.NetReqBind, &a, 0)
}

func doListen(fd, backlog int) int64 {
	f, p, e := sockOf(fd)
	if e != 0 {
		return e
	}
	defer vfs.Fput(f)
	s := sk(p)
	if s.typ != sockStream && s.typ != sockSeqpacket {
		return -abi.EOPNOTSUPP
	}
	if backlog <= 0 || backlog > 4096 {
		backlog = 4096
	}
	if s.domain == afUnix {
		kctx.SchedLock.Lock()
		defer kctx.SchedLock.Unlock()
		if s.flags&sfBound == 0 {
			return -abi.EINVAL
		}
		if s.state != ssNew && s.state != ssListening {
			return -abi.EINVAL
		}
		s.state = ssListening
		s.backlog = int32(backlog)
		return 0
	}
	return netRequest(p, abi.NetReqListen, nil, int64(backlog))
}

func doConnect(fd int, addr uintptr, n uint32) int64 {
	f, p, e := sockOf(fd)
	if e != 0 {
		return e
	}
	defer vfs.Fput(f)
	var a sockaddr
	if e := copyInAddr(&a, addr, n); e != 0 {
		return e
	}
	nonblock := vfs.Of(f).Flags&vfs.ONonblock != 0
	if sk(p).domain == afUnix {
		return unixConnect(p, &a, nonblock)
	}
	return netConnect(p, &a, nonblock)
}

// acceptQueue appends the connected sock c to listener l's accept queue
// and wakes whoever waits to accept (threads in accept4, epoll). Both
// kinds of listener use it: unix connect and the netstack's abi.SysNetAccept.
// Caller holds SchedLock.
func acceptQueue(l, c uintptr) {
	ls := sk(l)
	if ls.aqTail != 0 {
		sk(ls.aqTail).next = c
	} else {
		ls.aqHead = c
	}
	ls.aqTail = c
	ls.aqLen++
	ls.rq.WakeAll()
	vfs.PollNotify(l)
}

func doAccept4(fd int, addr, lenp uintptr, flags int) int64 {
	if flags&^(sockNonblock|sockCloexec) != 0 {
		return -abi.EINVAL
	}
	f, p, e := sockOf(fd)
	if e != 0 {
		return e
	}
	defer vfs.Fput(f)
	s := sk(p)
	for {
		kctx.SchedLock.Lock()
		if s.state != ssListening {
			kctx.SchedLock.Unlock()
			return -abi.EINVAL
		}
		if c := s.aqHead; c != 0 {
			s.aqHead = sk(c).next
			if s.aqHead == 0 {
				s.aqTail = 0
			}
			sk(c).next = 0
			s.aqLen--
			if s.domain != afUnix {
				netPend(p, npAccept)
			} else {
				s.wq.WakeAll() // connecters waiting for backlog room
			}
			remote := sk(c).remote
			kctx.SchedLock.Unlock()
			r := sockInstall(c, uint32(flags))
			if r >= 0 && addr != 0 {
				if e := copyOutAddr(&remote, addr, lenp); e != 0 {
					return e
				}
			}
			return r
		}
		if vfs.Of(f).Flags&vfs.ONonblock != 0 {
			kctx.SchedLock.Unlock()
			return -abi.EAGAIN
		}
		woke := s.rq.Wait(sockDeadline(s.opts.RcvTimeoNS))
		kctx.SchedLock.Unlock()
		if !woke {
			return -abi.EAGAIN
		}
	}
}

func doShutdown(fd, how int) int64 {
	f, p, e := sockOf(fd)
	if e != 0 {
		return e
	}
	defer vfs.Fput(f)
	if how < shutRd || how > shutRdwr {
		return -abi.EINVAL
	}
	kctx.SchedLock.Lock()
	defer kctx.SchedLock.Unlock()
	s := sk(p)
	if s.state != ssConnected && !(s.typ == sockDgram && s.domain != afUnix) {
		return -abi.ENOTCONN
	}
	if how != shutWr {
		s.flags |= sfShutRd
	}
	if how != shutRd {
		s.flags |= sfShutWr
	}
	if s.domain == afUnix {
		if q := s.peer; q != 0 {
			if how != shutRd {
				sk(q).flags |= sfEOF
			}
			sockWake(q)
		}
	} else {
		netShutdown(p, uint32(how))
	}
	sockWake(p)
	return 0
}

func doGetsockname(fd int, addr, lenp uintptr, peer bool) int64 {
	f, p, e := sockOf(fd)
	if e != 0 {
		return e
	}
	defer vfs.Fput(f)
	kctx.SchedLock.Lock()
	s := sk(p)
	var a sockaddr
	if peer {
		if s.state != ssConnected && !(s.typ == sockDgram && s.remote.n > 2) {
			kctx.SchedLock.Unlock()
			return -abi.ENOTCONN
		}
		a = s.remote
	} else {
		a = s.local
	}
	kctx.SchedLock.Unlock()
	return copyOutAddr(&a, addr, lenp)
}

func doSocketpair(domain, typ, proto int, sv uintptr) int64 {
	flags := typ &^ sockTypeMask
	typ &= sockTypeMask
	if domain != afUnix {
		return -abi.EOPNOTSUPP
	}
	if flags&^(sockNonblock|sockCloexec) != 0 {
		return -abi.EINVAL
	}
	if typ != sockStream && typ != sockDgram && typ != sockSeqpacket {
		return -abi.ESOCKTNOSUPPORT
	}
	if proto != 0 {
		return -abi.EPROTONOSUPPORT
	}
	if !mm.UserOK(sv, 8, true) {
		return -abi.EFAULT
	}
	a := newSock(domain, typ, proto)
	b := newSock(domain, typ, proto)
	if a == 0 || b == 0 {
		if a != 0 {
			kmem.Free(a, task.UintptrSize(sock{}))
		}
		if b != 0 {
			kmem.Free(b, task.UintptrSize(sock{}))
		}
		return -abi.ENOMEM
	}
	unixPair(a, b)
	fa := sockInstall(a, uint32(flags))
	if fa < 0 {
		sockRelease(b)
		return fa
	}
	fb := sockInstall(b, uint32(flags))
	if fb < 0 {
		vfs.FdClose(int(fa))
		return fb
	}
	if !mm.UserOK(sv, 8, true) {
		return -abi.EFAULT
	}
	*kctx.At[[2]int32](sv) = [2]int32{int32(fa), int32(fb)}
	return 0
}

// msghdr is struct msghdr (x86-64).
type msghdr struct {
	name       uintptr
	namelen    uint32
	_          uint32
	iov        uintptr
	iovlen     uint64
	control    uintptr
	controllen uint64
	flags      int32
	_          int32
}

// sockSend sends n bytes from the iovec list iov (cnt entries), or from
// the single buffer (buf, n) when iov is 0, to the address to (nil: the
// connected peer).
func sockSend(f, p uintptr, iov uintptr, cnt int, buf, n uintptr, to *sockaddr, flags int) int64 {
	s := sk(p)
	nonblock := vfs.Of(f).Flags&vfs.ONonblock != 0 || flags&msgDontwait != 0
	if iov != 0 {
		if cnt < 0 || cnt > 1024 {
			return -abi.EINVAL
		}
		if !mm.UserOK(iov, uintptr(cnt)*16, false) {
			return -abi.EFAULT
		}
	}
	if s.typ == sockDgram {
		return dgramSend(p, iov, cnt, buf, n, to, nonblock)
	}
	if s.typ == sockSeqpacket {
		// Records to the connected peer; an address is ignored.
		return dgramSend(p, iov, cnt, buf, n, nil, nonblock)
	}
	if to != nil && s.state != ssConnected {
		// sendto on an unconnected stream socket.
		return -abi.ENOTCONN
	}
	if iov == 0 {
		return streamWrite(p, buf, n, nonblock)
	}
	return vfs.EachIovec(iov, cnt, func(base, n uintptr, _ int64) int64 {
		return streamWrite(p, base, n, nonblock)
	})
}

// streamWrite writes to a connected stream socket: for unix into the
// peer's receive ring, for inet into the socket's send ring (then the
// netstack is told).
func streamWrite(p uintptr, buf, n uintptr, nonblock bool) int64 {
	if n > vfs.MaxRW {
		n = vfs.MaxRW
	}
	return vfs.RingWrite(streamSink(p), buf, n, nonblock)
}

// streamSink is a connected stream socket as RingWrite's sink.
type streamSink uintptr

// Check ends the write on a pending error of a closed connection (which
// it consumes), a shut-down or hung-up one, or one not connected.
func (w streamSink) Check() int64 {
	s := sk(uintptr(w))
	if e := s.err; e != 0 && s.state == ssClosed {
		s.err = 0
		return -int64(e)
	}
	if s.flags&sfShutWr != 0 || s.flags&sfHangup != 0 {
		return -abi.EPIPE
	}
	if s.state != ssConnected {
		return -abi.ENOTCONN
	}
	if s.domain == afUnix && s.peer == 0 {
		return -abi.EPIPE
	}
	return 0
}

func (w streamSink) Put(src []byte, whole uintptr) int {
	p := uintptr(w)
	s := sk(p)
	if s.domain == afUnix {
		r := sk(s.peer).rx.put(src)
		if r > 0 {
			sk(s.peer).rq.WakeAll()
			vfs.PollNotify(s.peer)
		}
		return r
	}
	r := s.tx.put(src)
	if r > 0 {
		netPend(p, npTx)
	}
	return r
}

// WaitRoom waits for the readers (the peer, or the netstack) to drain
// the ring, up to SO_SNDTIMEO.
func (w streamSink) WaitRoom() bool {
	s := sk(uintptr(w))
	return s.wq.Wait(sockDeadline(s.opts.SndTimeoNS))
}

// sockRecv receives into the iovec list iov (or the single buffer buf,
// n); from, if set, gets the sender's address; *outFlags gets MSG_TRUNC
// for a cut datagram.
func sockRecv(f, p uintptr, iov uintptr, cnt int, buf, n uintptr, from *sockaddr, flags int, outFlags *int32) int64 {
	s := sk(p)
	nonblock := vfs.Of(f).Flags&vfs.ONonblock != 0 || flags&msgDontwait != 0
	if flags&msgOOB != 0 {
		return -abi.EINVAL
	}
	if iov != 0 {
		if cnt < 0 || cnt > 1024 {
			return -abi.EINVAL
		}
		if !mm.UserOK(iov, uintptr(cnt)*16, false) {
			return -abi.EFAULT
		}
	} else {
		cnt = 1
	}
	// Validate the buffers first: nothing below may fault.
	var total uintptr
	for i := 0; i < cnt; i++ {
		b, l := buf, n
		if iov != 0 {
			v := *kctx.At[[2]uintptr](iov + uintptr(i)*16)
			b, l = v[0], v[1]
		}
		if l > vfs.MaxRW {
			return -abi.EINVAL
		}
		if !mm.UserOK(b, l, true) {
			return -abi.EFAULT
		}
		total += l
	}
	peek := flags&msgPeek != 0
	for {
		kctx.SchedLock.Lock()
		if s.typ != sockStream { // datagrams, or seqpacket records
			if m := s.rxq.head; m != 0 {
				data := dgramData(m)
				r := scatter(iov, cnt, buf, n, data)
				if r < len(data) {
					*outFlags |= msgTrunc
				}
				if from != nil {
					*from = kctx.At[dgram](m).from
				}
				if flags&msgTrunc != 0 {
					r = len(data)
				}
				if !peek {
					s.rxq.pop()
					dgramFree(m)
					if s.domain != afUnix {
						netPend(p, npRxSpace)
					} else {
						s.wq.WakeAll() // senders waiting for room
					}
				}
				kctx.SchedLock.Unlock()
				return int64(r)
			}
		} else if s.rx.count > 0 {
			var r int
			wasFull := s.rx.room() == 0
			if iov == 0 {
				r = s.rx.get(kctx.BytesAt(buf, int(n)), peek)
			} else {
				for i := 0; i < cnt; i++ {
					v := *kctx.At[[2]uintptr](iov + uintptr(i)*16)
					if v[1] == 0 {
						continue
					}
					g := s.rx.get(kctx.BytesAt(v[0], int(v[1])), peek)
					r += g
					if g < int(v[1]) || peek {
						break
					}
				}
			}
			if from != nil {
				*from = s.remote
			}
			if !peek {
				if s.domain == afUnix {
					if q := s.peer; q != 0 {
						sk(q).wq.WakeAll()
						vfs.PollNotify(q)
					}
				} else if wasFull || s.rx.count == 0 {
					netPend(p, npRxSpace)
				}
			}
			kctx.SchedLock.Unlock()
			return int64(r)
		}
		if total == 0 && s.typ == sockStream {
			kctx.SchedLock.Unlock()
			return 0
		}
		if s.err != 0 {
			e := s.err
			s.err = 0
			kctx.SchedLock.Unlock()
			return -int64(e)
		}
		if s.flags&(sfEOF|sfShutRd) != 0 {
			kctx.SchedLock.Unlock()
			return 0
		}
		if s.typ != sockDgram && s.state != ssConnected && s.state != ssConnecting {
			kctx.SchedLock.Unlock()
			return -abi.ENOTCONN
		}
		if nonblock {
			kctx.SchedLock.Unlock()
			return -abi.EAGAIN
		}
		woke := s.rq.Wait(sockDeadline(s.opts.RcvTimeoNS))
		kctx.SchedLock.Unlock()
		if !woke {
			return -abi.EAGAIN
		}
	}
}

// scatter copies data into the iovec list (or single buffer) and returns
// how much fit. The buffers were validated by the caller.
func scatter(iov uintptr, cnt int, buf, n uintptr, data []byte) int {
	if iov == 0 {
		return copy(kctx.BytesAt(buf, int(n)), data)
	}
	done := 0
	for i := 0; i < cnt && done < len(data); i++ {
		v := *kctx.At[[2]uintptr](iov + uintptr(i)*16)
		done += copy(kctx.BytesAt(v[0], int(v[1])), data[done:])
	}
	return done
}

// dgramSend builds one datagram from the program's buffers and queues it
// on the receiver (unix) or for the netstack (inet).
func dgramSend(p uintptr, iov uintptr, cnt int, buf, n uintptr, to *sockaddr, nonblock bool) int64 {
	s := sk(p)
	size := n
	if iov != 0 {
		size = 0
		for i := 0; i < cnt; i++ {
			v := *kctx.At[[2]uintptr](iov + uintptr(i)*16)
			size += v[1]
		}
	}
	if size > maxDgram {
		return -abi.EMSGSIZE
	}
	m := dgramAlloc(int(size))
	if m == 0 {
		return -abi.ENOBUFS
	}
	kctx.At[dgram](m).n = uint32(size)
	data := dgramData(m)
	off := 0
	for i := 0; i < cnt || iov == 0; i++ {
		b, l := buf, n
		if iov != 0 {
			v := *kctx.At[[2]uintptr](iov + uintptr(i)*16)
			b, l = v[0], v[1]
		}
		if !mm.UserOK(b, l, false) {
			dgramFree(m)
			return -abi.EFAULT
		}
		off += copy(data[off:], kctx.BytesAt(b, int(l)))
		if iov == 0 {
			break
		}
	}
	if to != nil {
		kctx.At[dgram](m).from = *to // for inet: the destination
	}
	if s.domain == afUnix {
		return unixDgramSend(p, m, to, nonblock)
	}
	for {
		kctx.SchedLock.Lock()
		if s.flags&sfShutWr != 0 {
			kctx.SchedLock.Unlock()
			dgramFree(m)
			return -abi.EPIPE
		}
		if to == nil && s.remote.n <= 2 {
			kctx.SchedLock.Unlock()
			dgramFree(m)
			return -abi.EDESTADDRREQ
		}
		if to == nil {
			kctx.At[dgram](m).from = s.remote
		}
		if s.txq.bytes < dgramQueueBytes {
			s.txq.push(m)
			netPend(p, npTx)
			kctx.SchedLock.Unlock()
			return int64(size)
		}
		if nonblock {
			kctx.SchedLock.Unlock()
			dgramFree(m)
			return -abi.EAGAIN
		}
		woke := s.wq.Wait(sockDeadline(s.opts.SndTimeoNS))
		kctx.SchedLock.Unlock()
		if !woke {
			dgramFree(m)
			return -abi.EAGAIN
		}
	}
}

func doSendto(fd int, buf, n uintptr, flags int, addr uintptr, alen uint32) int64 {
	f, p, e := sockOf(fd)
	if e != 0 {
		return e
	}
	defer vfs.Fput(f)
	var to sockaddr
	top, e := optAddr(&to, addr, alen)
	if e != 0 {
		return e
	}
	return sockSend(f, p, 0, 0, buf, n, top, flags)
}

func doRecvfrom(fd int, buf, n uintptr, flags int, addr, lenp uintptr) int64 {
	f, p, e := sockOf(fd)
	if e != 0 {
		return e
	}
	defer vfs.Fput(f)
	var from sockaddr
	var oflags int32
	r := sockRecv(f, p, 0, 0, buf, n, &from, flags, &oflags)
	if r >= 0 && addr != 0 {
		if e := copyOutAddr(&from, addr, lenp); e != 0 {
			return e
		}
	}
	return r
}

// msgOf reads the msghdr at mp and looks up fd's socket (with the ofile
// referenced, unless it returns an errno).
func msgOf(fd int, mp uintptr, write bool) (m msghdr, f, p uintptr, errno int64) {
	if !mm.UserOK(mp, task.UintptrSize(msghdr{}), write) {
		return m, 0, 0, -abi.EFAULT
	}
	m = *kctx.At[msghdr](mp)
	if m.iovlen > 1024 {
		return m, 0, 0, -abi.EMSGSIZE
	}
	f, p, errno = sockOf(fd)
	return m, f, p, errno
}

func doSendmsg(fd int, mp uintptr, flags int) int64 {
	m, f, p, e := msgOf(fd, mp, false)
	if e != 0 {
		return e
	}
	defer vfs.Fput(f)
	var to sockaddr
	var top *sockaddr
	if m.namelen != 0 {
		if top, e = optAddr(&to, m.name, m.namelen); e != 0 {
			return e
		}
	}
	if m.iovlen == 0 {
		return sockSend(f, p, 0, 0, 0, 0, top, flags)
	}
	return sockSend(f, p, m.iov, int(m.iovlen), 0, 0, top, flags)
}

func doRecvmsg(fd int, mp uintptr, flags int) int64 {
	m, f, p, e := msgOf(fd, mp, true)
	if e != 0 {
		return e
	}
	defer vfs.Fput(f)
	var from sockaddr
	var oflags int32
	var r int64
	if m.iovlen == 0 {
		r = sockRecv(f, p, 0, 0, 0, 0, &from, flags, &oflags)
	} else {
		r = sockRecv(f, p, m.iov, int(m.iovlen), 0, 0, &from, flags, &oflags)
	}
	if r < 0 {
		return r
	}
	if !mm.UserOK(mp, task.UintptrSize(msghdr{}), true) {
		return -abi.EFAULT
	}
	hm := kctx.At[msghdr](mp)
	if m.name != 0 {
		n := from.n
		if n > m.namelen {
			n = m.namelen
		}
		if n > 0 {
			if !mm.UserOK(m.name, uintptr(n), true) {
				return -abi.EFAULT
			}
			copy(kctx.BytesAt(m.name, int(n)), from.b[:n])
		}
		hm.namelen = from.n
	}
	// No ancillary data is produced.
	hm.controllen = 0
	hm.flags = oflags
	return r
}

// sockFionread is FIONREAD: bytes (stream) or the next datagram's
// (record's) size.
func sockFionread(p uintptr) int64 {
	kctx.SchedLock.Lock()
	defer kctx.SchedLock.Unlock()
	s := sk(p)
	if s.typ != sockStream {
		if s.rxq.head != 0 {
			return int64(kctx.At[dgram](s.rxq.head).n)
		}
		return 0
	}
	return int64(s.rx.count)
}
