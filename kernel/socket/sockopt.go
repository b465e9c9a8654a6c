package socket

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/kernel/vfs"
)

// setsockopt and getsockopt. Options are kept in the sock (abi.SockOpts); the
// kernel answers getsockopt from there, and for inet sockets the netstack
// receives the whole set with abi.NetEvOpts and applies it to its endpoint,
// so setting an option never waits for the netstack.

const (
	solSocket   = 1
	ipprotoIP   = 0
	ipprotoTCP  = 6
	ipprotoIPv6 = 41

	soReuseaddr   = 2
	soType        = 3
	soError       = 4
	soBroadcast   = 6
	soSndbuf      = 7
	soRcvbuf      = 8
	soKeepalive   = 9
	soLinger      = 13
	soReuseport   = 15
	soRcvtimeo    = 20
	soSndtimeo    = 21
	soAcceptconn  = 30
	soSndbufforce = 32
	soRcvbufforce = 33
	soProtocol    = 38
	soDomain      = 39

	tcpNodelay     = 1
	tcpMaxseg      = 2
	tcpKeepidle    = 4
	tcpKeepintvl   = 5
	tcpKeepcnt     = 6
	tcpUserTimeout = 18

	ipTos       = 1
	ipTTL       = 2
	ipMTUDisc   = 10 // IP_MTU_DISCOVER
	ipv6MTUDisc = 23 // IPV6_MTU_DISCOVER
	pmtuDiscMax = 5  // IP_PMTUDISC_OMIT, the highest mode
	pmtuWant    = 1  // IP_PMTUDISC_WANT, Linux's default
	ipv6V6only  = 26
	ipv6Unicast = 16

	defaultSockBuf = sockBufSize
)

func doSetsockopt(fd, level, name int, val uintptr, vlen uint32) int64 {
	f, p, e := sockOf(fd)
	if e != 0 {
		return e
	}
	r := setsockopt(p, level, name, val, vlen)
	vfs.Fput(f)
	return r
}

func setsockopt(p uintptr, level, name int, val uintptr, vlen uint32) int64 {
	var v int32
	var tv [2]int64
	isTime := level == solSocket && (name == soRcvtimeo || name == soSndtimeo)
	isLinger := level == solSocket && name == soLinger
	switch {
	case isTime:
		if vlen < 16 {
			return -abi.EINVAL
		}
		if !mm.UserOK(val, 16, false) {
			return -abi.EFAULT
		}
		tv = *kctx.At[[2]int64](val)
		if tv[1] < 0 || tv[1] >= 1000000 || tv[0] < 0 {
			return -abi.EDOM
		}
	case isLinger:
		if vlen < 8 {
			return -abi.EINVAL
		}
		if !mm.UserOK(val, 8, false) {
			return -abi.EFAULT
		}
		tv[0], tv[1] = int64(*kctx.At[int32](val)), int64(*kctx.At[int32](val + 4))
	default:
		if vlen < 4 {
			if vlen == 0 {
				return -abi.EINVAL
			}
			if !mm.UserOK(val, 1, false) {
				return -abi.EFAULT
			}
			v = int32(*kctx.At[uint8](val))
		} else {
			if !mm.UserOK(val, 4, false) {
				return -abi.EFAULT
			}
			v = *kctx.At[int32](val)
		}
	}
	b := int32(0)
	if v != 0 {
		b = 1
	}
	kctx.SchedLock.Lock()
	r := setsockoptLocked(p, level, name, v, b, tv)
	kctx.SchedLock.Unlock()
	return r
}

// setsockoptLocked stores a decoded option value. Caller holds SchedLock.
func setsockoptLocked(p uintptr, level, name int, v, b int32, tv [2]int64) int64 {
	s := sk(p)
	o := &s.opts
	inet := s.domain != afUnix
	switch level {
	case solSocket:
		switch name {
		case soReuseaddr:
			o.ReuseAddr = b
		case soReuseport:
			o.ReusePort = b
		case soKeepalive:
			o.KeepAlive = b
		case soBroadcast:
			o.Broadcast = b
		case soSndbuf, soSndbufforce:
			o.SndBuf = clampBuf(v)
		case soRcvbuf, soRcvbufforce:
			o.RcvBuf = clampBuf(v)
		case soLinger:
			o.LingerOn = int32(tv[0])
			o.LingerSec = int32(tv[1])
		case soRcvtimeo:
			o.RcvTimeoNS = tv[0]*1e9 + tv[1]*1e3
		case soSndtimeo:
			o.SndTimeoNS = tv[0]*1e9 + tv[1]*1e3
		default:
			return sockoptUnknown(level, name)
		}
	case ipprotoTCP:
		if !inet || s.typ != sockStream {
			return -abi.EOPNOTSUPP
		}
		switch name {
		case tcpNodelay:
			o.NoDelay = b
		case tcpKeepidle, tcpKeepintvl:
			if v < 1 || v > 32767 {
				return -abi.EINVAL
			}
			if name == tcpKeepidle {
				o.KeepIdle = v
			} else {
				o.KeepIntvl = v
			}
		case tcpKeepcnt:
			if v < 1 || v > 127 {
				return -abi.EINVAL
			}
			o.KeepCnt = v
		case tcpUserTimeout:
			if v < 0 {
				return -abi.EINVAL
			}
			o.UserTimeo = v
		case tcpMaxseg:
		default:
			return sockoptUnknown(level, name)
		}
	case ipprotoIP:
		if !inet {
			return -abi.EOPNOTSUPP
		}
		switch name {
		case ipTos:
			o.TOS = v
		case ipTTL:
			o.TTL = v
		case ipMTUDisc:
			// Stored for getsockopt (QUIC stacks set it); the netstack
			// sends no ICMP-driven path MTU updates anyway.
			if v < 0 || v > pmtuDiscMax {
				return -abi.EINVAL
			}
			o.PMTUDisc = v + 1
		default:
			return sockoptUnknown(level, name)
		}
	case ipprotoIPv6:
		if s.domain != afInet6 {
			return -abi.ENOPROTOOPT
		}
		switch name {
		case ipv6V6only:
			o.V6Only = b
		case ipv6Unicast:
			o.TTL = v
		case ipv6MTUDisc:
			if v < 0 || v > pmtuDiscMax {
				return -abi.EINVAL
			}
			o.PMTUDisc6 = v + 1
		default:
			return sockoptUnknown(level, name)
		}
	default:
		return sockoptUnknown(level, name)
	}
	netPend(p, npOpts)
	return 0
}

// clampBuf applies Linux's SO_RCVBUF/SO_SNDBUF rule: the value is doubled
// (for bookkeeping) within limits.
func clampBuf(v int32) int32 {
	if v < 2304 {
		v = 2304
	}
	if v > 4<<20 {
		v = 4 << 20
	}
	return 2 * v
}

var sockoptReported [64]bool

// sockoptUnknown refuses an option the kernel does not know, reporting
// each (level, name) once on the console so the gap is visible.
func sockoptUnknown(level, name int) int64 {
	k := (level*31 + name) & 63
	if !sockoptReported[k] {
		sockoptReported[k] = true
		kctx.Print("unigo: socket option level ")
		kctx.PrintDec(uint64(level))
		kctx.Print(" name ")
		kctx.PrintDec(uint64(name))
		kctx.Print(" not supported (ENOPROTOOPT)\n")
	}
	return -abi.ENOPROTOOPT
}

func doGetsockopt(fd, level, name int, val, lenp uintptr) int64 {
	f, p, e := sockOf(fd)
	if e != 0 {
		return e
	}
	defer vfs.Fput(f)
	if !mm.UserOK(lenp, 4, true) {
		return -abi.EFAULT
	}
	l := *kctx.At[int32](lenp)
	if l < 0 {
		return -abi.EINVAL
	}
	kctx.SchedLock.Lock()
	s := sk(p)
	o := &s.opts
	var v int32
	var pair [2]int64
	size := 4
	switch level {
	case solSocket:
		switch name {
		case soType:
			v = int32(s.typ)
		case soError:
			v = s.err
			s.err = 0
		case soReuseaddr:
			v = o.ReuseAddr
		case soReuseport:
			v = o.ReusePort
		case soKeepalive:
			v = o.KeepAlive
		case soBroadcast:
			v = o.Broadcast
		case soSndbuf:
			v = o.SndBuf
			if v == 0 {
				v = defaultSockBuf
			}
		case soRcvbuf:
			v = o.RcvBuf
			if v == 0 {
				v = defaultSockBuf
			}
		case soAcceptconn:
			if s.state == ssListening {
				v = 1
			}
		case soProtocol:
			v = int32(s.proto)
		case soDomain:
			v = int32(s.domain)
		case soLinger:
			pair = [2]int64{int64(o.LingerOn), int64(o.LingerSec)}
			size = 8
		case soRcvtimeo, soSndtimeo:
			ns := o.RcvTimeoNS
			if name == soSndtimeo {
				ns = o.SndTimeoNS
			}
			pair = [2]int64{ns / 1e9, ns % 1e9 / 1e3}
			size = 16
		default:
			kctx.SchedLock.Unlock()
			return sockoptUnknown(level, name)
		}
	case ipprotoTCP:
		switch name {
		case tcpNodelay:
			v = o.NoDelay
		case tcpKeepidle:
			v = orDefault(o.KeepIdle, 7200)
		case tcpKeepintvl:
			v = orDefault(o.KeepIntvl, 75)
		case tcpKeepcnt:
			v = orDefault(o.KeepCnt, 9)
		case tcpUserTimeout:
			v = o.UserTimeo
		case tcpMaxseg:
			v = 1460
		default:
			kctx.SchedLock.Unlock()
			return sockoptUnknown(level, name)
		}
	case ipprotoIPv6:
		switch name {
		case ipv6V6only:
			v = o.V6Only
		case ipv6MTUDisc:
			v = orDefault(o.PMTUDisc6, pmtuWant+1) - 1
		default:
			kctx.SchedLock.Unlock()
			return sockoptUnknown(level, name)
		}
	case ipprotoIP:
		switch name {
		case ipTTL:
			v = orDefault(o.TTL, 64)
		case ipTos:
			v = o.TOS
		case ipMTUDisc:
			v = orDefault(o.PMTUDisc, pmtuWant+1) - 1
		default:
			kctx.SchedLock.Unlock()
			return sockoptUnknown(level, name)
		}
	default:
		kctx.SchedLock.Unlock()
		return sockoptUnknown(level, name)
	}
	kctx.SchedLock.Unlock()
	var buf [16]byte
	switch size {
	case 4:
		vfs.PutLE32(buf[:], uint32(v))
	case 8:
		vfs.PutLE32(buf[:], uint32(pair[0]))
		vfs.PutLE32(buf[4:], uint32(pair[1]))
	case 16:
		vfs.PutLE64(buf[:], uint64(pair[0]))
		vfs.PutLE64(buf[8:], uint64(pair[1]))
	}
	n := size
	if int(l) < n {
		n = int(l)
	}
	if n > 0 {
		if !mm.UserOK(val, uintptr(n), true) {
			return -abi.EFAULT
		}
		copy(kctx.BytesAt(val, n), buf[:n])
	}
	*kctx.At[int32](lenp) = int32(size)
	return 0
}

func orDefault(v, d int32) int32 {
	if v == 0 {
		return d
	}
	return v
}
