package netstack

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/waiter"
)

var (
	testClientMAC = tcpip.LinkAddress("\x52\x54\x00\x12\x34\x56")
	testServerMAC = tcpip.LinkAddress("\x5a\x94\xef\xe4\x0c\xdd")
	testServerIP  = net.IPv4(192, 168, 127, 1).To4()
	testLeaseIP   = net.IPv4(192, 168, 127, 2).To4()
)

// testServer is a DHCP server (insomniacslk's server4) on its own gVisor
// stack, wired to the client's NIC by an Ethernet "cable" of two channel
// endpoints.
type testServer struct {
	lease    time.Duration
	hostname string
	nak      bool // NAK every REQUEST
	nakRenew bool // NAK renewals (REQUESTs with ciaddr)

	mu       sync.Mutex
	requests []*dhcpv4.DHCPv4 // REQUESTs received
}

func (ts *testServer) handle(conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4) {
	reply, err := dhcpv4.NewReplyFromRequest(m,
		dhcpv4.WithYourIP(testLeaseIP),
		dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
		dhcpv4.WithRouter(testServerIP),
		dhcpv4.WithDNS(testServerIP),
		dhcpv4.WithLeaseTime(uint32(ts.lease/time.Second)),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(testServerIP)))
	if err != nil {
		return
	}
	if ts.hostname != "" {
		reply.UpdateOption(dhcpv4.OptHostName(ts.hostname))
	}
	switch m.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		reply.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeOffer))
	case dhcpv4.MessageTypeRequest:
		ts.mu.Lock()
		ts.requests = append(ts.requests, m)
		ts.mu.Unlock()
		reply.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeAck))
		if ts.nak || ts.nakRenew && !m.ClientIPAddr.IsUnspecified() {
			reply.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeNak))
		}
	default:
		return
	}
	conn.WriteTo(reply.ToBytes(), peer)
}

func (ts *testServer) requestsSeen() []*dhcpv4.DHCPv4 {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]*dhcpv4.DHCPv4(nil), ts.requests...)
}

// cable forwards every frame written to from into to.
func cable(ctx context.Context, from, to *channel.Endpoint) {
	for {
		pkt := from.ReadContext(ctx)
		if pkt == nil {
			return
		}
		frame := pkt.ToView().AsSlice()
		frame = append([]byte(nil), frame...)
		pkt.DecRef()
		in := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(frame)})
		to.InjectInbound(0, in)
		in.DecRef()
	}
}

// newDHCPPair makes a client stack with NIC firstDeviceNIC and, unless
// ts is nil, a server stack serving ts on the other end of the cable.
func newDHCPPair(t *testing.T, ts *testServer) *stack.Stack {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	clientCh := channel.New(64, 1500, testClientMAC)
	cs := newStack()
	require.Nil(t, cs.CreateNIC(firstDeviceNIC, ethernet.New(clientCh)))
	t.Cleanup(cs.Close)
	if ts == nil {
		return cs
	}
	serverCh := channel.New(64, 1500, testServerMAC)
	ss := newStack()
	require.Nil(t, ss.CreateNIC(1, ethernet.New(serverCh)))
	require.Nil(t, ss.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFromSlice(testServerIP), PrefixLen: 24}}, stack.AddressProperties{}))
	sub := tcpip.AddressWithPrefix{Address: tcpip.AddrFromSlice(testServerIP), PrefixLen: 24}.Subnet()
	ss.AddRoute(tcpip.Route{Destination: sub, NIC: 1})
	t.Cleanup(ss.Close)
	go cable(ctx, clientCh, serverCh)
	go cable(ctx, serverCh, clientCh)

	var wq waiter.Queue
	ep, terr := ss.NewEndpoint(17, ipv4.ProtocolNumber, &wq)
	require.Nil(t, terr)
	ep.SocketOptions().SetBroadcast(true)
	require.Nil(t, ep.Bind(tcpip.FullAddress{NIC: 1, Port: dhcpServerPort}))
	srv, err := server4.NewServer("", nil, ts.handle, server4.WithConn(gonet.NewUDPConn(&wq, ep)))
	require.NoError(t, err)
	go srv.Serve()
	t.Cleanup(func() { srv.Close() })
	return cs
}

// syncBuffer is a report writer the test can read while the client writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newTestClient(t *testing.T, s *stack.Stack, static netConfig) (*dhcpClient, chan netConfig, *syncBuffer) {
	c, err := newDHCPClient(s, firstDeviceNIC, testClientMAC, static)
	require.NoError(t, err)
	published := make(chan netConfig, 16)
	c.publish = func(cfg netConfig) { published <- cfg }
	report := &syncBuffer{}
	c.report = report
	return c, published, report
}

func nicAddrs(s *stack.Stack) []tcpip.AddressWithPrefix {
	var out []tcpip.AddressWithPrefix
	for _, pa := range s.NICInfo()[firstDeviceNIC].ProtocolAddresses {
		if pa.Protocol == ipv4.ProtocolNumber {
			out = append(out, pa.AddressWithPrefix)
		}
	}
	return out
}

// TestDHCPLeaseAndRenew: the client gets 192.168.127.2/24 with router,
// name server and host name from the server, installs address and routes
// (and drops the 0.0.0.0 it sent from), then renews at T1 by unicast from
// the leased address and keeps it.
func TestDHCPLeaseAndRenew(t *testing.T) {
	ts := &testServer{lease: 2 * time.Second, hostname: "guest-one"}
	s := newDHCPPair(t, ts)
	c, published, report := newTestClient(t, s, netConfig{})
	start := time.Now()
	go c.run()

	var cfg netConfig
	select {
	case cfg = <-published:
	case <-time.After(5 * time.Second):
		t.Fatalf("no lease; report %q", report.String())
	}
	t.Logf("lease after %v", time.Since(start))
	assert.Equal(t, netip.MustParsePrefix("192.168.127.2/24"), cfg.addr)
	assert.Equal(t, netip.MustParseAddr("192.168.127.1"), cfg.gw)
	assert.Equal(t, netip.MustParseAddr("192.168.127.1"), cfg.dns)
	assert.Equal(t, "guest-one", cfg.hostname)
	assert.True(t, cfg.dhcp)
	<-c.bound
	assert.Equal(t, []tcpip.AddressWithPrefix{{Address: tcpip.AddrFromSlice(testLeaseIP), PrefixLen: 24}}, nicAddrs(s))
	var gw tcpip.Address
	for _, r := range s.GetRouteTable() {
		if r.Destination == header.IPv4EmptySubnet {
			gw = r.Gateway
		}
	}
	assert.Equal(t, tcpip.AddrFromSlice(testServerIP), gw, "default route")

	// T1 is 1 s: a unicast renewal from the leased address.
	require.Eventually(t, func() bool { return len(ts.requestsSeen()) >= 2 }, 5*time.Second, 20*time.Millisecond)
	renew := ts.requestsSeen()[1]
	assert.Equal(t, testLeaseIP, renew.ClientIPAddr.To4(), "renewal's ciaddr")
	assert.False(t, renew.IsBroadcast(), "renewals are unicast")
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, []tcpip.AddressWithPrefix{{Address: tcpip.AddrFromSlice(testLeaseIP), PrefixLen: 24}}, nicAddrs(s))
	assert.Len(t, published, 0, "an unchanged renewal rewrites nothing")
	assert.Empty(t, report.String())
}

// TestDHCPLeaseLost: a server that refuses the renewal takes the address
// away; the client reports it and acquires a lease again.
func TestDHCPLeaseLost(t *testing.T) {
	ts := &testServer{lease: 2 * time.Second, nakRenew: true}
	s := newDHCPPair(t, ts)
	c, published, report := newTestClient(t, s, netConfig{})
	go c.run()
	for i := 0; i < 2; i++ {
		select {
		case cfg := <-published:
			assert.Equal(t, netip.MustParsePrefix("192.168.127.2/24"), cfg.addr)
		case <-time.After(5 * time.Second):
			t.Fatalf("no lease %d; report %q", i+1, report.String())
		}
	}
	assert.Equal(t, "unigo: netstack: DHCP on NIC 2: lease of 192.168.127.2/24 lost: server refused (NAK)\n", report.String())
	var kinds []bool // renewal?
	for _, r := range ts.requestsSeen()[:3] {
		kinds = append(kinds, !r.ClientIPAddr.IsUnspecified())
	}
	assert.Equal(t, []bool{false, true, false}, kinds, "select, renew (NAKed), select again")
	assert.Equal(t, []tcpip.AddressWithPrefix{{Address: tcpip.AddrFromSlice(testLeaseIP), PrefixLen: 24}}, nicAddrs(s))
}

// TestDHCPStaticOverrides: unigo.gw and unigo.dns on the command line win
// over the lease's.
func TestDHCPStaticOverrides(t *testing.T) {
	s := newDHCPPair(t, &testServer{lease: time.Hour})
	static := netConfig{dhcp: true, gw: netip.MustParseAddr("192.168.127.254"), dns: netip.MustParseAddr("9.9.9.9")}
	c, _, _ := newTestClient(t, s, static)
	ack, err := c.acquire(5 * time.Second)
	require.NoError(t, err)
	cfg := c.leaseConfig(ack)
	assert.Equal(t, netip.MustParsePrefix("192.168.127.2/24"), cfg.addr)
	assert.Equal(t, static.gw, cfg.gw)
	assert.Equal(t, static.dns, cfg.dns)
	assert.Empty(t, cfg.hostname)
}

// TestDHCPNak: a server that refuses the REQUEST fails the acquisition.
func TestDHCPNak(t *testing.T) {
	s := newDHCPPair(t, &testServer{lease: time.Hour, nak: true})
	c, _, _ := newTestClient(t, s, netConfig{})
	_, err := c.acquire(5 * time.Second)
	assert.ErrorIs(t, err, errDHCPNak)
}

// TestDHCPNoServer: without a server, startDHCP returns after its wait,
// the client reports one line after giving up, and the NIC has no
// address.
func TestDHCPNoServer(t *testing.T) {
	s := newDHCPPair(t, nil)
	c, _, report := newTestClient(t, s, netConfig{})
	c.giveUp = 700 * time.Millisecond
	c.retryInterval = time.Hour
	go c.run()
	require.Eventually(t, func() bool { return report.String() != "" }, 5*time.Second, 20*time.Millisecond)
	assert.Equal(t, "unigo: netstack: DHCP on NIC 2: no lease after 700ms (DISCOVER: no reply); retrying in the background\n", report.String())
	assert.Equal(t, []tcpip.AddressWithPrefix{{Address: header.IPv4Any}}, nicAddrs(s),
		"only the unspecified address, while acquiring")

	s2 := newDHCPPair(t, nil)
	start := time.Now()
	startDHCP(s2, firstDeviceNIC, testClientMAC, netConfig{}, 200*time.Millisecond)
	assert.Less(t, time.Since(start), time.Second)
}

func TestLeaseAddr(t *testing.T) {
	m, err := dhcpv4.New(dhcpv4.WithYourIP(net.IPv4(10, 0, 2, 15)))
	require.NoError(t, err)
	p, err := leaseAddr(m)
	require.NoError(t, err)
	assert.Equal(t, "10.0.2.15/8", p.String(), "class A without a mask option")
	m.UpdateOption(dhcpv4.OptSubnetMask(net.CIDRMask(24, 32)))
	p, _ = leaseAddr(m)
	assert.Equal(t, "10.0.2.15/24", p.String())
	for _, bad := range []net.IP{net.IPv4zero, net.IPv4bcast, net.IPv4(127, 0, 0, 1), net.IPv4(224, 0, 0, 1), nil} {
		m.YourIPAddr = bad
		_, err := leaseAddr(m)
		assert.Error(t, err, "%v", bad)
	}
}

func TestLeaseTimes(t *testing.T) {
	m, err := dhcpv4.New()
	require.NoError(t, err)
	lease, t1, t2 := leaseTimes(m)
	assert.Equal(t, []time.Duration{time.Hour, 30 * time.Minute, 52*time.Minute + 30*time.Second}, []time.Duration{lease, t1, t2},
		"no options: an hour")
	m.UpdateOption(dhcpv4.OptIPAddressLeaseTime(0xffffffff * time.Second))
	lease, t1, t2 = leaseTimes(m)
	assert.True(t, 0 < t1 && t1 < t2 && t2 < lease, "infinite: %v %v %v", lease, t1, t2)
	m.UpdateOption(dhcpv4.OptIPAddressLeaseTime(0))
	m.UpdateOption(dhcpv4.OptRenewTimeValue(time.Hour))
	lease, t1, t2 = leaseTimes(m)
	assert.Equal(t, []time.Duration{2 * time.Second, time.Second, 1750 * time.Millisecond}, []time.Duration{lease, t1, t2},
		"zero, with a T1 past it")
}

func TestValidHostname(t *testing.T) {
	for _, ok := range []string{"guest", "guest-1.example.org", "A1"} {
		assert.True(t, validHostname(ok), ok)
	}
	for _, bad := range []string{"", "-x", ".x", "a b", "x\n1.2.3.4 evil", strings.Repeat("a", 65)} {
		assert.False(t, validHostname(bad), bad)
	}
}

func TestParseConfigDHCP(t *testing.T) {
	c, err := parseConfig("unigo.ip=dhcp unigo.dns=1.1.1.1 -- prog")
	require.NoError(t, err)
	assert.True(t, c.dhcp)
	assert.False(t, c.addr.IsValid())
	assert.Equal(t, "1.1.1.1", c.dns.String())
	// The last unigo.ip wins, as for every parameter.
	c, err = parseConfig("unigo.ip=dhcp unigo.ip=10.0.0.2/24")
	require.NoError(t, err)
	assert.False(t, c.dhcp)
	assert.Equal(t, "10.0.0.2/24", c.addr.String())
}

// FuzzDHCPReply feeds arbitrary DHCP replies (what a hostile server on the
// network sends) through the client's parsing and, when acceptable as a
// lease, installs them on a NIC: nothing may crash, a host name must be
// one /etc/hosts can hold, and the NIC must end up with exactly the
// leased address.
func FuzzDHCPReply(f *testing.F) {
	s := newStack()
	if err := s.CreateNIC(firstDeviceNIC, ethernet.New(channel.New(1, 1500, testClientMAC))); err != nil {
		f.Fatal(err)
	}
	c, err := newDHCPClient(s, firstDeviceNIC, testClientMAC, netConfig{})
	if err != nil {
		f.Fatal(err)
	}
	c.publish = func(netConfig) {}
	c.report = io.Discard
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		cfg := c.leaseConfig(m)
		if cfg.hostname != "" && !validHostname(cfg.hostname) {
			t.Fatalf("host name %q accepted", cfg.hostname)
		}
		if _, err := leaseAddr(m); err != nil {
			return
		}
		c.install(m)
		addrs := nicAddrs(s)
		if len(addrs) != 1 || addrs[0].Address != tcpip.AddrFromSlice(cfg.addr.Addr().AsSlice()) {
			t.Fatalf("NIC addresses %v after installing %v", addrs, cfg.addr)
		}
	})
}
