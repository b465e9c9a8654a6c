package socket

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/vfs"
)

// AF_UNIX sockets, entirely in the kernel.
//
// Names: a bound socket sits on one list (unixNames) keyed by its
// address bytes: a filesystem path (compared up to its NUL; no inode is
// made, so unlink of the path is harmless and bind of a name still bound
// fails with EADDRINUSE) or an abstract name (leading NUL, compared with
// its length). The list is guarded by SchedLock.
//
// A stream connection is two socks linked as peers, each holding a
// reference to the other until it closes; a write goes straight into the
// peer's receive ring. connect makes the server's sock at once and queues
// it on the listener (as Linux does), so connect never waits for accept.
// Datagrams are queued on the receiver, addressed by name or, for a
// socketpair, by the peer link. SOCK_SEQPACKET is both: connected as a
// stream (listen, connect, accept, socketpair), its records queued on the
// peer as datagrams, boundaries kept.

var unixNames uintptr // bound socks, linked through sock.nameNext

// unixNameLen is the significant length of a unix address: path names
// end at their first NUL.
func unixNameLen(a *sockaddr) int {
	n := int(a.n)
	if n <= 2 {
		return n
	}
	if a.b[2] == 0 {
		return n // abstract
	}
	for i := 2; i < n; i++ {
		if a.b[i] == 0 {
			return i
		}
	}
	return n
}

func unixSameName(a, b *sockaddr) bool {
	na, nb := unixNameLen(a), unixNameLen(b)
	if na != nb || na <= 2 {
		return false
	}
	for i := 2; i < na; i++ {
		if a.b[i] != b.b[i] {
			return false
		}
	}
	return true
}

// unixLookupLocked finds the sock bound to a, or 0. Caller holds
// SchedLock.
func unixLookupLocked(a *sockaddr) uintptr {
	for p := unixNames; p != 0; p = sk(p).nameNext {
		if unixSameName(&sk(p).local, a) {
			return p
		}
	}
	return 0
}

// unixUnbindLocked drops p's name, if any. Caller holds SchedLock.
func unixUnbindLocked(p uintptr) {
	for q := &unixNames; *q != 0; q = &sk(*q).nameNext {
		if *q == p {
			*q = sk(p).nameNext
			sk(p).nameNext = 0
			return
		}
	}
}

func unixBind(p uintptr, a *sockaddr) int64 {
	if a.family() != afUnix {
		return -abi.EINVAL
	}
	if a.n > 110 {
		return -abi.EINVAL
	}
	if unixNameLen(a) <= 2 {
		// Linux autobinds to an abstract name; an unnamed address will
		// do for a program that only wants to be reachable by its peer.
		return -abi.EINVAL
	}
	kctx.SchedLock.Lock()
	defer kctx.SchedLock.Unlock()
	s := sk(p)
	if s.flags&sfBound != 0 {
		return -abi.EINVAL
	}
	if unixLookupLocked(a) != 0 {
		return -abi.EADDRINUSE
	}
	s.local = *a
	s.flags |= sfBound
	s.nameNext = unixNames
	unixNames = p
	return 0
}

// unixPair links a and b as connected peers.
func unixPair(a, b uintptr) {
	sk(a).peer, sk(b).peer = b, a
	sk(a).refs++
	sk(b).refs++
	sk(a).state, sk(b).state = ssConnected, ssConnected
}

// unixNoEntry is the error for a name nobody is bound to: ENOENT for a
// path (no such socket file), ECONNREFUSED for an abstract name.
func unixNoEntry(a *sockaddr) int64 {
	if a.n > 2 && a.b[2] == 0 {
		return -abi.ECONNREFUSED
	}
	return -abi.ENOENT
}

func unixConnect(p uintptr, a *sockaddr, nonblock bool) int64 {
	s := sk(p)
	if a.family() == afUnspec && s.typ == sockDgram {
		kctx.SchedLock.Lock()
		s.remote = sockaddr{n: 2}
		s.remote.b[0] = afUnix
		kctx.SchedLock.Unlock()
		return 0
	}
	if a.family() != afUnix {
		return -abi.EINVAL
	}
	if s.typ == sockDgram {
		kctx.SchedLock.Lock()
		defer kctx.SchedLock.Unlock()
		if unixLookupLocked(a) == 0 {
			return unixNoEntry(a)
		}
		s.remote = *a
		return 0
	}
	c := newSock(afUnix, int(s.typ), 0)
	if c == 0 {
		return -abi.ENOMEM
	}
	for {
		kctx.SchedLock.Lock()
		if s.state == ssConnected {
			kctx.SchedLock.Unlock()
			sockPut(c)
			return -abi.EISCONN
		}
		if s.state != ssNew {
			kctx.SchedLock.Unlock()
			sockPut(c)
			return -abi.EINVAL
		}
		l := unixLookupLocked(a)
		if l == 0 || sk(l).state != ssListening || sk(l).typ != s.typ {
			kctx.SchedLock.Unlock()
			sockPut(c)
			switch {
			case l == 0:
				return unixNoEntry(a)
			case sk(l).typ != s.typ:
				return -abi.EPROTOTYPE
			}
			return -abi.ECONNREFUSED
		}
		ls := sk(l)
		if ls.aqLen >= ls.backlog {
			if nonblock {
				kctx.SchedLock.Unlock()
				sockPut(c)
				return -abi.EAGAIN
			}
			// Hold l while queued on it: a waiter unlinks itself
			// after waking, when l may be closed.
			ls.refs++
			woke := ls.wq.Wait(sockDeadline(s.opts.SndTimeoNS))
			sockPut(l)
			kctx.SchedLock.Unlock()
			if !woke {
				sockPut(c)
				return -abi.EAGAIN
			}
			continue
		}
		cs := sk(c)
		cs.local = ls.local
		cs.flags |= sfBound
		cs.remote = s.local
		s.remote = ls.local
		unixPair(p, c)
		acceptQueue(l, c)
		sockWake(p)
		kctx.SchedLock.Unlock()
		return 0
	}
}

// unixDgramSend queues datagram m (owned by the caller until queued) on
// its receiver: the name to, else the connected name, else the
// socketpair peer.
func unixDgramSend(p, m uintptr, to *sockaddr, nonblock bool) int64 {
	s := sk(p)
	size := int64(kctx.At[dgram](m).n)
	for {
		kctx.SchedLock.Lock()
		if s.flags&sfShutWr != 0 {
			kctx.SchedLock.Unlock()
			dgramFree(m)
			return -abi.EPIPE
		}
		var dst uintptr
		switch {
		case to != nil:
			if to.family() != afUnix {
				kctx.SchedLock.Unlock()
				dgramFree(m)
				return -abi.EINVAL
			}
			if dst = unixLookupLocked(to); dst == 0 {
				kctx.SchedLock.Unlock()
				dgramFree(m)
				return unixNoEntry(to)
			}
		case s.peer != 0:
			dst = s.peer
		case s.remote.n > 2:
			if dst = unixLookupLocked(&s.remote); dst == 0 {
				kctx.SchedLock.Unlock()
				dgramFree(m)
				return -abi.ECONNREFUSED
			}
		default:
			kctx.SchedLock.Unlock()
			dgramFree(m)
			switch {
			case s.typ == sockSeqpacket && s.flags&sfHangup != 0:
				return -abi.EPIPE // the peer closed
			case s.state == ssClosed:
				return -abi.ECONNREFUSED
			}
			return -abi.ENOTCONN
		}
		d := sk(dst)
		if d.typ != s.typ {
			kctx.SchedLock.Unlock()
			dgramFree(m)
			return -abi.EPROTOTYPE
		}
		if d.flags&sfShutRd != 0 || d.state == ssClosed {
			kctx.SchedLock.Unlock()
			dgramFree(m)
			if s.typ == sockSeqpacket {
				return -abi.EPIPE
			}
			return -abi.ECONNREFUSED
		}
		if d.rxq.bytes+int(size) <= dgramQueueBytes || d.rxq.head == 0 {
			kctx.At[dgram](m).from = s.local
			d.rxq.push(m)
			d.rq.WakeAll()
			vfs.PollNotify(dst)
			kctx.SchedLock.Unlock()
			return size
		}
		if nonblock {
			kctx.SchedLock.Unlock()
			dgramFree(m)
			return -abi.EAGAIN
		}
		// Wait for the receiver to drain its queue (it wakes its wq).
		d.refs++ // see unixConnect
		woke := d.wq.Wait(sockDeadline(s.opts.SndTimeoNS))
		sockPut(dst)
		kctx.SchedLock.Unlock()
		if !woke {
			dgramFree(m)
			return -abi.EAGAIN
		}
	}
}
