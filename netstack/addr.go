package netstack

import (
	"encoding/binary"
	"syscall"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// Socket addresses: struct sockaddr_in/sockaddr_in6 <-> tcpip.FullAddress.
// An AF_INET6 socket talking IPv4 sees v4-mapped addresses (::ffff:a.b.c.d)
// as on Linux.

// parseSockaddr decodes b (from the program) for a socket of domain.
// unspec reports an AF_UNSPEC address (disconnect).
func parseSockaddr(domain uint16, b []byte) (addr tcpip.FullAddress, unspec bool, errno syscall.Errno) {
	if len(b) < 2 {
		return addr, false, syscall.EINVAL
	}
	switch fam := binary.LittleEndian.Uint16(b); fam {
	case syscall.AF_UNSPEC:
		return addr, true, 0
	case syscall.AF_INET:
		if len(b) < 16 {
			return addr, false, syscall.EINVAL
		}
		addr.Port = binary.BigEndian.Uint16(b[2:])
		addr.Addr = tcpip.AddrFrom4Slice(b[4:8])
		if domain == syscall.AF_INET6 {
			return addr, false, syscall.EAFNOSUPPORT
		}
		return anyAddr(addr), false, 0
	case syscall.AF_INET6:
		if len(b) < 24 {
			return addr, false, syscall.EINVAL
		}
		if domain != syscall.AF_INET6 {
			return addr, false, syscall.EAFNOSUPPORT
		}
		addr.Port = binary.BigEndian.Uint16(b[2:])
		a := tcpip.AddrFrom16Slice(b[8:24])
		if isV4Mapped(b[8:24]) {
			a = tcpip.AddrFrom4Slice(b[20:24])
		}
		addr.Addr = a
		return anyAddr(addr), false, 0
	}
	return addr, false, syscall.EAFNOSUPPORT
}

// anyAddr turns the unspecified address (0.0.0.0, ::) into the empty
// one, which is what gVisor takes for "any local address".
func anyAddr(a tcpip.FullAddress) tcpip.FullAddress {
	if a.Addr.Unspecified() {
		a.Addr = tcpip.Address{}
	}
	return a
}

func isV4Mapped(b []byte) bool {
	for i := 0; i < 10; i++ {
		if b[i] != 0 {
			return false
		}
	}
	return b[10] == 0xff && b[11] == 0xff
}

// encodeSockaddr encodes a for a socket of domain.
func encodeSockaddr(domain uint16, a tcpip.FullAddress) *sockaddrBuf {
	var s sockaddrBuf
	if domain == syscall.AF_INET {
		binary.LittleEndian.PutUint16(s.b[0:], syscall.AF_INET)
		binary.BigEndian.PutUint16(s.b[2:], a.Port)
		if a.Addr.Len() == 4 {
			v4 := a.Addr.As4()
			copy(s.b[4:8], v4[:])
		}
		s.n = 16
		return &s
	}
	binary.LittleEndian.PutUint16(s.b[0:], syscall.AF_INET6)
	binary.BigEndian.PutUint16(s.b[2:], a.Port)
	switch a.Addr.Len() {
	case 4:
		v4 := a.Addr.As4()
		s.b[18], s.b[19] = 0xff, 0xff
		copy(s.b[20:24], v4[:])
	case 16:
		v6 := a.Addr.As16()
		copy(s.b[8:24], v6[:])
	}
	s.n = 28
	return &s
}
