package netstack

import (
	"bytes"
	"github.com/unigo-os/unigo/abi"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// Local event bits, beside the kernel's NetEv* bits in socket.pend.
const (
	evEndpoint = 1 << 16 // the endpoint's readiness changed
)

// bufSize is the size of the scratch buffers moving data between the
// kernel and an endpoint: the kernel's socket ring size, and room for
// any datagram.
const bufSize = 64 << 10

// smallBufSize is the size of the scratch buffer a stream socket pulls
// into first: a request or response of a few KiB, which is what most
// of a busy server's connections send, then holds 4 KiB, not 64, while
// the endpoint takes it. A pull that fills it goes on into a bufSize
// buffer (growTxBuf), and the socket pulls into bufSize buffers (txBig)
// until a pull finds less than smallBufSize.
const smallBufSize = 4 << 10

var (
	bufPool      = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}
	smallBufPool = sync.Pool{New: func() any { b := make([]byte, smallBufSize); return &b }}
)

// pullTx is SysNetTx as txPump calls it; tests replace it.
var pullTx = netTx

// socket is the netstack's side of one kernel socket.
type socket struct {
	id     uint64
	domain uint16
	typ    uint16
	ep     tcpip.Endpoint
	wq     *waiter.Queue
	entry  waiter.Entry

	sched atomic.Int32  // posts not yet seen by a step (workers.go)
	pend  atomic.Uint32 // abi.NetEv* | ev* bits not yet handled

	mu sync.Mutex
	ev abi.NetEvent // the latest event (request, options, shutdown)

	// Owned by the worker running the socket's step.
	listening  bool
	connecting bool
	closing    bool
	shutWr     bool // shutdown(SHUT_WR) asked, FIN not yet sent
	finSent    bool
	eofSent    bool
	dead       bool // the endpoint failed: drop data, wait for close
	txBuf      *[]byte
	txMore     bool               // the kernel may hold bytes to send (see txPump)
	txBig      bool               // a stream pull filled a small buffer: pull into bufSize
	txPending  []byte             // taken from the kernel, not yet accepted by ep
	txTo       *tcpip.FullAddress // datagram destination
	accepted   *pendingConn       // accepted from gVisor, not yet queued in the kernel
	optsSeen   abi.SockOpts
	optsLoaded bool
	// cur and txReader live here, not on run's and txPump's stacks,
	// because they escape (through the endpoint's interfaces), and as
	// locals they cost an allocation per event and per write.
	cur      abi.NetEvent // s.ev as run took it
	txReader bytes.Reader // txPending as the endpoint reads it
}

type pendingConn struct {
	ep tcpip.Endpoint
	wq *waiter.Queue
}

// sockets maps kernel ids to sockets. Lookups by the dispatcher and
// inserts by accepting goroutines hold socketsMu, so an event for a
// just-accepted socket is never routed before the socket is known.
var (
	socketsMu sync.Mutex
	sockets   = map[uint64]*socket{}
)

func newSocket(id uint64, domain, typ uint16, ep tcpip.Endpoint, wq *waiter.Queue) *socket {
	s := &socket{id: id, domain: domain, typ: typ, ep: ep, wq: wq, txMore: true}
	s.entry = waiter.NewFunctionEntry(waiter.EventIn|waiter.EventOut|waiter.EventErr|waiter.EventHUp, func(waiter.EventMask) {
		s.post(evEndpoint)
	})
	wq.EventRegister(&s.entry)
	return s
}

// post records bits and queues the socket for a worker.
func (s *socket) post(bits uint32) {
	s.pend.Or(bits)
	ready.post(s)
}

func (s *socket) schedCount() *atomic.Int32 { return &s.sched }

// createEndpoint makes the gVisor endpoint for a new kernel socket.
func createEndpoint(domain, typ uint16) (tcpip.Endpoint, *waiter.Queue, syscall.Errno) {
	netProto := ipv4.ProtocolNumber
	if domain == syscall.AF_INET6 {
		netProto = ipv6.ProtocolNumber
	}
	transProto := tcp.ProtocolNumber
	if typ == syscall.SOCK_DGRAM {
		transProto = udp.ProtocolNumber
	}
	wq := new(waiter.Queue)
	ep, err := theStack.NewEndpoint(transProto, netProto, wq)
	if err != nil {
		return nil, nil, errnoOf(err)
	}
	return ep, wq, 0
}

// step handles whatever is pending, and reports whether the socket is
// finished (closed, its endpoint released).
func (s *socket) step() bool {
	bits := s.pend.Swap(0)
	if bits&abi.NetEvTx != 0 {
		s.txMore = true
	}
	s.mu.Lock()
	s.cur = s.ev
	s.mu.Unlock()
	ev := &s.cur
	if bits&abi.NetEvOpts != 0 {
		s.applyOpts(&ev.Opts)
	}
	if bits&abi.NetEvRequest != 0 {
		s.request(ev)
	}
	if bits&abi.NetEvShutdown != 0 {
		if ev.Shut&abi.NetShutRd != 0 && s.typ == syscall.SOCK_STREAM {
			s.ep.Shutdown(tcpip.ShutdownRead)
		}
		if ev.Shut&abi.NetShutWr != 0 {
			s.shutWr = true
		}
	}
	if bits&abi.NetEvClose != 0 {
		s.closing = true
	}
	if s.listening {
		s.acceptPump()
	} else {
		if s.connecting {
			s.checkConnect()
		}
		if !s.connecting {
			s.txPump()
			s.rxPump()
		}
	}
	if s.shutWr && !s.finSent && s.txDrained() && s.typ == syscall.SOCK_STREAM && !s.connecting {
		s.ep.Shutdown(tcpip.ShutdownWrite)
		s.finSent = true
	}
	if s.closing && (s.txDrained() || s.dead || s.listening) {
		s.finish()
		return true
	}
	return false
}

// txDrained reports whether everything the program sent has been given
// to the endpoint.
func (s *socket) txDrained() bool {
	if len(s.txPending) > 0 {
		return false
	}
	// Peek at the kernel: one more pull settles it.
	s.txMore = true
	s.txPump()
	return len(s.txPending) == 0
}

// finish closes the endpoint and lets the kernel free the socket.
func (s *socket) finish() {
	s.wq.EventUnregister(&s.entry)
	if s.accepted != nil {
		s.accepted.ep.Close()
		s.accepted = nil
	}
	s.ep.Close()
	s.releaseBuf()
	socketsMu.Lock()
	delete(sockets, s.id)
	socketsMu.Unlock()
	if s.typ == syscall.SOCK_STREAM && !s.listening {
		// The program's close returned long ago, as on Linux. Waiting
		// holds only the kernel's sock block and a goroutine of its
		// own: the kernel freed its send ring when drained into ep
		// (gVisor keeps the unacknowledged bytes) and its receive ring
		// at close.
		go func(ep tcpip.Endpoint, id uint64) {
			awaitAcked(ep)
			netRelease(id)
		}(s.ep, s.id)
		return
	}
	netRelease(s.id)
}

// exitLinger is abi.ExitLinger; tests shorten it.
var exitLinger = time.Duration(abi.ExitLinger)

// awaitAcked waits until a closed stream endpoint's peer has
// acknowledged everything it was given, FIN included (FIN-WAIT-2 and
// later), or the connection is gone, or the peer has sent nothing for
// exitLinger. The kernel holds the socket until it is released
// and exit_group waits for every release, so this is what keeps a
// program's last words from dying with the VM. When it gives up, gVisor
// goes on sending; only exit stops waiting. It returns false when it
// gave up on a silent peer.
func awaitAcked(ep tcpip.Endpoint) bool {
	deadline := time.Now().Add(exitLinger)
	heard := segmentsFromPeer(ep)
	for pause := time.Millisecond; ; pause = min(2*pause, 64*time.Millisecond) {
		switch tcp.EndpointState(ep.State()) {
		case tcp.StateFinWait2, tcp.StateTimeWait, tcp.StateClose, tcp.StateError, tcp.StateInitial, tcp.StateBound:
			return true
		}
		if n := segmentsFromPeer(ep); n != heard {
			heard, deadline = n, time.Now().Add(exitLinger) // the peer is taking it
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
	}
}

// segmentsFromPeer counts the segments ep has received. While the peer
// takes data it acknowledges it, so the count grows; a peer whose window
// stays shut answers only the sender's zero-window probes, which back off
// until they are further apart than exitLinger. (gVisor's TCP endpoint
// does not answer SendQueueSizeOption, so the unacknowledged byte count
// is not to be had.)
func segmentsFromPeer(ep tcpip.Endpoint) uint64 {
	if st, ok := ep.Stats().(*tcp.Stats); ok {
		return st.SegmentsReceived.Value()
	}
	return 0
}

func (s *socket) releaseBuf() {
	if s.txBuf != nil {
		if len(*s.txBuf) == bufSize {
			bufPool.Put(s.txBuf)
		} else {
			smallBufPool.Put(s.txBuf)
		}
		s.txBuf = nil
	}
	s.txPending = nil
}

// growTxBuf moves the n bytes a full small buffer holds into a bufSize
// one and pulls more after them, so that a sender that outgrew the small
// buffer still gives the endpoint one write of up to bufSize (as many
// segments of a full MSS), not a 4 KiB one first. It returns the bytes
// the large buffer holds.
func (s *socket) growTxBuf(n int) int {
	big := bufPool.Get().(*[]byte)
	copy(*big, (*s.txBuf)[:n])
	s.releaseBuf()
	s.txBuf = big
	if m, errno := pullTx(s.id, (*big)[n:], nil); errno == 0 {
		n += m
	}
	return n
}

// takeTxBuf makes txBuf the buffer the next pull wants: bufSize for a
// datagram (room for any) or a stream that is sending in bulk,
// smallBufSize otherwise. txPending is empty when it is called.
func (s *socket) takeTxBuf() {
	big := s.typ == syscall.SOCK_DGRAM || s.txBig
	if s.txBuf != nil && (len(*s.txBuf) == bufSize) == big {
		return
	}
	s.releaseBuf()
	if big {
		s.txBuf = bufPool.Get().(*[]byte)
	} else {
		s.txBuf = smallBufPool.Get().(*[]byte)
	}
}

func (s *socket) request(ev *abi.NetEvent) {
	addrBytes := ev.Addr[:min(int(ev.AddrLen), len(ev.Addr))]
	switch ev.Req {
	case abi.NetReqBind:
		addr, _, errno := parseSockaddr(s.domain, addrBytes)
		if errno == 0 {
			errno = errnoOf(s.ep.Bind(addr))
		}
		s.reply(errno)
	case abi.NetReqListen:
		errno := errnoOf(s.ep.Listen(int(ev.Arg)))
		if errno == 0 {
			s.listening = true
		}
		s.reply(errno)
	case abi.NetReqConnect:
		addr, unspec, errno := parseSockaddr(s.domain, addrBytes)
		if errno == 0 {
			if unspec {
				addr = tcpip.FullAddress{}
			}
			errno = errnoOf(s.ep.Connect(addr))
		}
		if errno == syscall.EINPROGRESS {
			s.connecting = true
		}
		s.reply(errno)
		if errno == syscall.EINPROGRESS {
			s.checkConnect()
		}
	default:
		s.reply(syscall.EINVAL)
	}
}

// reply answers the outstanding request with the local address.
func (s *socket) reply(errno syscall.Errno) {
	var local *sockaddrBuf
	if a, err := s.ep.GetLocalAddress(); err == nil {
		local = encodeSockaddr(s.domain, a)
	}
	netReply(s.id, errno, local)
}

// checkConnect finishes a started connect once the endpoint is writable
// or failed.
func (s *socket) checkConnect() {
	if s.ep.Readiness(waiter.EventOut|waiter.EventErr|waiter.EventHUp) == 0 {
		return
	}
	err := s.ep.Connect(tcpip.FullAddress{Addr: tcpip.Address{}})
	switch err.(type) {
	case *tcpip.ErrConnectStarted, *tcpip.ErrAlreadyConnecting:
		return
	case nil, *tcpip.ErrAlreadyConnected:
		s.connecting = false
		s.sendAddrs(abi.NetStConnected)
	default:
		if e := s.ep.SocketOptions().GetLastError(); e != nil {
			err = e
		}
		s.connecting = false
		s.dead = true
		netState(s.id, abi.NetStError, errnoOf(err), nil, nil)
	}
}

func (s *socket) sendAddrs(kind int) {
	var local, remote *sockaddrBuf
	if a, err := s.ep.GetLocalAddress(); err == nil {
		local = encodeSockaddr(s.domain, a)
	}
	if a, err := s.ep.GetRemoteAddress(); err == nil {
		remote = encodeSockaddr(s.domain, a)
	}
	netState(s.id, kind, 0, local, remote)
}

// txPump moves what the program sent from the kernel into the endpoint
// until either runs dry or the endpoint is full. It pulls from the kernel
// only while txMore says there may be something: the kernel posts
// NetEvTx whenever the program adds bytes, so an event that is only the
// endpoint's (a received segment, an ACK that made room) costs no empty
// SysNetTx.
func (s *socket) txPump() {
	if s.dead {
		return
	}
	for {
		if len(s.txPending) == 0 {
			if !s.txMore {
				s.releaseBuf()
				return
			}
			s.takeTxBuf()
			var to *sockaddrBuf
			if s.typ == syscall.SOCK_DGRAM {
				to = new(sockaddrBuf)
			}
			n, errno := pullTx(s.id, *s.txBuf, to)
			if errno != 0 || n == 0 {
				s.txMore = false
				s.releaseBuf()
				return
			}
			if s.typ == syscall.SOCK_STREAM && n == smallBufSize {
				n = s.growTxBuf(n)
			}
			s.txPending = (*s.txBuf)[:n]
			// A stream pull that did not fill the buffer took all the
			// kernel held: once it is written, stop rather than pull
			// again for nothing (a system call per send event). What the
			// program writes meanwhile posts NetEvTx again.
			if s.typ == syscall.SOCK_STREAM {
				if n < len(*s.txBuf) {
					s.txMore = false
				}
				s.txBig = n >= smallBufSize
			}
			s.txTo = nil
			if to != nil && to.n > 2 {
				addr, unspec, e := parseSockaddr(s.domain, to.b[:to.n])
				if e != 0 || unspec {
					s.txPending = nil // undeliverable datagram
					continue
				}
				s.txTo = &addr
			}
		}
		s.txReader.Reset(s.txPending)
		n, err := s.ep.Write(&s.txReader, tcpip.WriteOptions{To: s.txTo})
		if s.typ == syscall.SOCK_DGRAM {
			// A datagram goes whole or not at all; UDP drops what
			// cannot be sent (no route, full queue) as Linux may.
			s.txPending = nil
			continue
		}
		s.txPending = s.txPending[n:]
		if err != nil {
			if _, ok := err.(*tcpip.ErrWouldBlock); ok {
				return
			}
			s.fail(err)
			return
		}
		if len(s.txPending) > 0 {
			return // the endpoint is full: wait for EventOut
		}
	}
}

// fail reports a broken connection to the kernel once.
func (s *socket) fail(err tcpip.Error) {
	if s.dead {
		return
	}
	s.dead = true
	s.releaseBuf()
	netState(s.id, abi.NetStError, errnoOf(err), nil, nil)
}

// rxWriter writes into the kernel socket's receive buffer; a short write
// means the buffer is full, and gVisor keeps the rest queued.
type rxWriter struct{ id uint64 }

var errRxFull = syscall.EAGAIN

func (w rxWriter) Write(p []byte) (int, error) {
	n, errno := netRx(w.id, p, nil)
	if errno != 0 {
		return 0, errRxFull
	}
	if n < len(p) {
		return n, errRxFull
	}
	return n, nil
}

// rxPump moves received data from the endpoint into the kernel until
// either runs dry or the kernel's buffer is full.
func (s *socket) rxPump() {
	if s.dead {
		return
	}
	if s.typ == syscall.SOCK_DGRAM {
		s.rxDatagrams()
		return
	}
	for {
		_, err := s.ep.Read(rxWriter{s.id}, tcpip.ReadOptions{})
		switch err.(type) {
		case nil:
			continue
		case *tcpip.ErrWouldBlock, *tcpip.ErrBadBuffer:
			return // nothing more, or the kernel is full (RxSpace follows)
		case *tcpip.ErrClosedForReceive:
			if !s.eofSent {
				s.eofSent = true
				netState(s.id, abi.NetStEOF, 0, nil, nil)
			}
			return
		case *tcpip.ErrNotConnected, *tcpip.ErrInvalidEndpointState:
			return
		default:
			s.fail(err)
			return
		}
	}
}

func (s *socket) rxDatagrams() {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	for {
		w := tcpip.SliceWriter(*bp)
		res, err := s.ep.Read(&w, tcpip.ReadOptions{NeedRemoteAddr: true})
		if err != nil {
			return
		}
		from := encodeSockaddr(s.domain, res.RemoteAddr)
		// A full receive queue drops the datagram, as UDP does.
		netRx(s.id, (*bp)[:res.Count], from)
	}
}

// acceptPump hands connections gVisor accepted to the kernel's accept
// queue while it has room.
func (s *socket) acceptPump() {
	for {
		if s.accepted == nil {
			nep, nwq, err := s.ep.Accept(nil)
			if err != nil {
				return
			}
			s.accepted = &pendingConn{nep, nwq}
		}
		c := s.accepted
		var local, remote *sockaddrBuf
		if a, err := c.ep.GetLocalAddress(); err == nil {
			local = encodeSockaddr(s.domain, a)
		} else {
			local = encodeSockaddr(s.domain, tcpip.FullAddress{})
		}
		if a, err := c.ep.GetRemoteAddress(); err == nil {
			remote = encodeSockaddr(s.domain, a)
		} else {
			remote = encodeSockaddr(s.domain, tcpip.FullAddress{})
		}
		socketsMu.Lock()
		id, errno := netAccept(s.id, local, remote)
		if errno != 0 {
			socketsMu.Unlock()
			if errno == syscall.EAGAIN {
				return // the program's backlog is full: NetEvAccept follows
			}
			c.ep.Close()
			s.accepted = nil
			continue
		}
		ns := newSocket(id, s.domain, s.typ, c.ep, c.wq)
		ns.mu.Lock()
		ns.ev.Opts = s.optsSeen
		ns.mu.Unlock()
		sockets[id] = ns
		socketsMu.Unlock()
		s.accepted = nil
		ns.post(evEndpoint) // data may already be waiting
	}
}

// applyOpts gives the endpoint the options the program set.
func (s *socket) applyOpts(o *abi.SockOpts) {
	if s.optsLoaded && *o == s.optsSeen {
		return
	}
	s.optsSeen, s.optsLoaded = *o, true
	so := s.ep.SocketOptions()
	so.SetReuseAddress(o.ReuseAddr != 0)
	so.SetReusePort(o.ReusePort != 0)
	so.SetKeepAlive(o.KeepAlive != 0)
	so.SetBroadcast(o.Broadcast != 0)
	if s.domain == syscall.AF_INET6 {
		so.SetV6Only(o.V6Only != 0)
	}
	if o.RcvBuf > 0 {
		so.SetReceiveBufferSize(int64(o.RcvBuf), true)
	}
	if o.SndBuf > 0 {
		so.SetSendBufferSize(int64(o.SndBuf), true)
	}
	so.SetLinger(tcpip.LingerOption{Enabled: o.LingerOn != 0, Timeout: time.Duration(o.LingerSec) * time.Second})
	if s.typ == syscall.SOCK_STREAM {
		so.SetDelayOption(o.NoDelay == 0)
		if o.KeepIdle > 0 {
			v := tcpip.KeepaliveIdleOption(time.Duration(o.KeepIdle) * time.Second)
			s.ep.SetSockOpt(&v)
		}
		if o.KeepIntvl > 0 {
			v := tcpip.KeepaliveIntervalOption(time.Duration(o.KeepIntvl) * time.Second)
			s.ep.SetSockOpt(&v)
		}
		if o.KeepCnt > 0 {
			s.ep.SetSockOptInt(tcpip.KeepaliveCountOption, int(o.KeepCnt))
		}
		if o.UserTimeo > 0 {
			v := tcpip.TCPUserTimeoutOption(time.Duration(o.UserTimeo) * time.Millisecond)
			s.ep.SetSockOpt(&v)
		}
	}
	if o.TTL > 0 {
		if s.domain == syscall.AF_INET6 {
			s.ep.SetSockOptInt(tcpip.IPv6HopLimitOption, int(o.TTL))
		} else {
			s.ep.SetSockOptInt(tcpip.IPv4TTLOption, int(o.TTL))
		}
	}
	if o.TOS > 0 && s.domain == syscall.AF_INET {
		s.ep.SetSockOptInt(tcpip.IPv4TOSOption, int(o.TOS))
	}
}
