package netstack

import (
	"net/netip"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

func TestSockaddrRoundTrip(t *testing.T) {
	v4 := tcpip.FullAddress{Addr: tcpip.AddrFrom4([4]byte{10, 0, 2, 15}), Port: 8080}
	b := encodeSockaddr(syscall.AF_INET, v4)
	require.EqualValues(t, 16, b.n)
	got, unspec, errno := parseSockaddr(syscall.AF_INET, b.b[:b.n])
	require.Zero(t, errno)
	assert.False(t, unspec)
	assert.Equal(t, v4, got)

	// An AF_INET6 socket sees IPv4 peers as v4-mapped addresses and may
	// name them that way.
	b = encodeSockaddr(syscall.AF_INET6, v4)
	require.EqualValues(t, 28, b.n)
	assert.Equal(t, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 2, 15}, b.b[8:24])
	got, _, errno = parseSockaddr(syscall.AF_INET6, b.b[:b.n])
	require.Zero(t, errno)
	assert.Equal(t, v4, got)

	v6 := tcpip.FullAddress{Addr: tcpip.AddrFrom16([16]byte{0: 0xfd, 15: 1}), Port: 443}
	b = encodeSockaddr(syscall.AF_INET6, v6)
	got, _, errno = parseSockaddr(syscall.AF_INET6, b.b[:b.n])
	require.Zero(t, errno)
	assert.Equal(t, v6, got)
}

func TestParseSockaddrEdges(t *testing.T) {
	// The unspecified address means "any": gVisor's empty address.
	any6 := encodeSockaddr(syscall.AF_INET6, tcpip.FullAddress{Addr: tcpip.AddrFrom16([16]byte{}), Port: 80})
	got, _, errno := parseSockaddr(syscall.AF_INET6, any6.b[:any6.n])
	require.Zero(t, errno)
	assert.Equal(t, 0, got.Addr.Len())
	assert.EqualValues(t, 80, got.Port)

	_, unspec, errno := parseSockaddr(syscall.AF_INET, []byte{0, 0})
	assert.Zero(t, errno)
	assert.True(t, unspec, "AF_UNSPEC disconnects")

	_, _, errno = parseSockaddr(syscall.AF_INET, []byte{2})
	assert.Equal(t, syscall.EINVAL, errno, "too short")
	_, _, errno = parseSockaddr(syscall.AF_INET, []byte{2, 0, 0, 80})
	assert.Equal(t, syscall.EINVAL, errno, "truncated sockaddr_in")
	v6 := encodeSockaddr(syscall.AF_INET6, tcpip.FullAddress{})
	_, _, errno = parseSockaddr(syscall.AF_INET, v6.b[:v6.n])
	assert.Equal(t, syscall.EAFNOSUPPORT, errno, "IPv6 address on an IPv4 socket")
	v4 := encodeSockaddr(syscall.AF_INET, tcpip.FullAddress{})
	_, _, errno = parseSockaddr(syscall.AF_INET6, v4.b[:v4.n])
	assert.Equal(t, syscall.EAFNOSUPPORT, errno, "sockaddr_in on an IPv6 socket")
	_, _, errno = parseSockaddr(syscall.AF_INET, []byte{99, 0, 0, 0})
	assert.Equal(t, syscall.EAFNOSUPPORT, errno)
}

func TestErrnoOf(t *testing.T) {
	assert.Equal(t, syscall.Errno(0), errnoOf(nil))
	assert.Equal(t, syscall.EADDRINUSE, errnoOf(&tcpip.ErrPortInUse{}))
	assert.Equal(t, syscall.ECONNREFUSED, errnoOf(&tcpip.ErrConnectionRefused{}))
	assert.Equal(t, syscall.EINPROGRESS, errnoOf(&tcpip.ErrConnectStarted{}))
	assert.Equal(t, syscall.ETIMEDOUT, errnoOf(&tcpip.ErrTimeout{}))
	assert.Equal(t, syscall.EINVAL, errnoOf(&tcpip.ErrAlreadyBound{}), "binding twice is EINVAL on Linux")
}

func TestParseConfig(t *testing.T) {
	c, err := parseConfig("GOGC=50 unigo.ip=192.168.127.2/24 unigo.gw=192.168.127.1 unigo.dns=192.168.127.1 unigo.argv0=x -- unigo.ip=1.2.3.4/8")
	require.NoError(t, err)
	assert.Equal(t, netip.MustParsePrefix("192.168.127.2/24"), c.addr)
	assert.Equal(t, netip.MustParseAddr("192.168.127.1"), c.gw)
	assert.Equal(t, netip.MustParseAddr("192.168.127.1"), c.dns)

	c, err = parseConfig("unigo.argv0=x")
	require.NoError(t, err)
	assert.False(t, c.addr.IsValid(), "no address configured")

	_, err = parseConfig("unigo.ip=192.168.127.2")
	assert.ErrorContains(t, err, "unigo.ip=192.168.127.2", "an address without a prefix length is refused")
	_, err = parseConfig("unigo.gw=nonsense")
	assert.Error(t, err)
}

func TestCompleteChecksum(t *testing.T) {
	// A TCP SYN in an Ethernet frame whose checksum field holds only the
	// pseudo-header sum, as a device passes it with NEEDS_CSUM.
	src, dst := tcpip.AddrFrom4([4]byte{10, 0, 2, 2}), tcpip.AddrFrom4([4]byte{10, 0, 2, 15})
	frame := make([]byte, header.EthernetMinimumSize+header.IPv4MinimumSize+header.TCPMinimumSize)
	ip := header.IPv4(frame[header.EthernetMinimumSize:])
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(frame) - header.EthernetMinimumSize), TTL: 64,
		Protocol: uint8(header.TCPProtocolNumber), SrcAddr: src, DstAddr: dst})
	ip.SetChecksum(^ip.CalculateChecksum())
	tcp := header.TCP(ip.Payload())
	tcp.Encode(&header.TCPFields{SrcPort: 4242, DstPort: 8080, SeqNum: 1, DataOffset: header.TCPMinimumSize,
		Flags: header.TCPFlagSyn, WindowSize: 65535})
	tcp.SetChecksum(header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, header.TCPMinimumSize))
	require.False(t, tcp.IsChecksumValid(src, dst, 0, 0), "partial checksum")

	start := header.EthernetMinimumSize + header.IPv4MinimumSize
	require.True(t, completeChecksum(frame, start, header.TCPChecksumOffset))
	assert.True(t, tcp.IsChecksumValid(src, dst, 0, 0), "completed checksum")

	assert.False(t, completeChecksum(frame, len(frame), 0), "start past the end")
	assert.False(t, completeChecksum(frame, start, header.TCPMinimumSize), "field past the end")
}
