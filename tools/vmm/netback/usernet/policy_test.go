package usernet

import (
	"github.com/unigo-os/unigo/tools/vmm/netback"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

func TestUserPolicyDest(t *testing.T) {
	hostAddr := netip.MustParseAddr("10.9.8.7") // stands for an address of the host's
	outside := netip.MustParseAddr("93.184.215.14")
	lan := netip.MustParseAddr("10.1.2.3")
	for _, tc := range []struct {
		name    string
		p       netback.UserPolicy
		dst     string
		allowed bool
		to      string
	}{
		{"outside", netback.UserPolicy{}, outside.String(), true, outside.String()},
		{"lan", netback.UserPolicy{}, lan.String(), true, lan.String()},
		{"host loopback, default", netback.UserPolicy{}, netback.UserHostIP, false, ""},
		{"host loopback, opted in", netback.UserPolicy{HostLoopback: true}, netback.UserHostIP, true, "127.0.0.1"},
		{"loopback directly", netback.UserPolicy{HostLoopback: true}, "127.0.0.1", false, ""},
		{"loopback net", netback.UserPolicy{}, "127.1.2.3", false, ""},
		{"this host", netback.UserPolicy{}, "0.0.0.0", false, ""},
		{"metadata", netback.UserPolicy{}, "169.254.169.254", false, ""},
		{"multicast", netback.UserPolicy{}, "224.0.0.251", false, ""},
		{"broadcast", netback.UserPolicy{}, "255.255.255.255", false, ""},
		{"gateway", netback.UserPolicy{}, netback.UserGateway, false, ""},
		{"host address", netback.UserPolicy{}, hostAddr.String(), false, ""},
		{"host address, opted in", netback.UserPolicy{HostLoopback: true}, hostAddr.String(), true, hostAddr.String()},
		{"restrict", netback.UserPolicy{Restrict: true}, outside.String(), false, ""},
		{"restrict, host loopback", netback.UserPolicy{Restrict: true, HostLoopback: true}, netback.UserHostIP, true, "127.0.0.1"},
		{"ipv6", netback.UserPolicy{}, "2001:db8::1", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newNATGate(tc.p)
			g.hostAddrs[hostAddr] = true
			to, err := g.dest(netip.MustParseAddr(tc.dst))
			if !tc.allowed {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.to, to.String())
		})
	}
}

func TestUserPolicyCap(t *testing.T) {
	g := newNATGate(netback.UserPolicy{MaxConns: 2})
	assert.True(t, g.acquire())
	assert.True(t, g.acquire())
	assert.False(t, g.acquire(), "beyond the cap")
	g.release()
	assert.True(t, g.acquire())
	assert.Equal(t, 2, g.Conns())
	assert.Equal(t, netback.DefaultMaxConns, maxConns(netback.UserPolicy{}))
}

// TestUserPolicyStack: the library still keeps its stack where the launcher
// looks for it.
func TestUserPolicyStack(t *testing.T) {
	u, err := NewUser(nil, netback.UserPolicy{})
	require.NoError(t, err)
	defer u.Close()
	s, err := vnStack(u.vn)
	require.NoError(t, err)
	assert.NotNil(t, s)
}

func TestRestrictedFrame(t *testing.T) {
	frame := func(dst tcpip.Address, proto tcpip.TransportProtocolNumber, port uint16) []byte {
		f := make([]byte, header.EthernetMinimumSize+header.IPv4MinimumSize+header.UDPMinimumSize)
		header.Ethernet(f).Encode(&header.EthernetFields{Type: header.IPv4ProtocolNumber})
		ip := header.IPv4(f[header.EthernetMinimumSize:])
		ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(ip)), Protocol: uint8(proto), DstAddr: dst,
			SrcAddr: tcpip.AddrFrom4([4]byte{192, 168, 127, 2})})
		header.UDP(ip.Payload()).Encode(&header.UDPFields{DstPort: port})
		return f
	}
	gw := tcpip.AddrFrom4([4]byte{192, 168, 127, 1})
	assert.True(t, restrictedFrame(frame(gw, header.UDPProtocolNumber, 53)))
	assert.True(t, restrictedFrame(frame(gw, header.TCPProtocolNumber, 53)))
	assert.False(t, restrictedFrame(frame(gw, header.UDPProtocolNumber, 67)), "DHCP")
	assert.False(t, restrictedFrame(frame(tcpip.AddrFrom4([4]byte{1, 1, 1, 1}), header.UDPProtocolNumber, 53)))
	assert.False(t, restrictedFrame(frame(gw, header.UDPProtocolNumber, 53)[:20]), "short")
}
