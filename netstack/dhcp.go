package netstack

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// DHCPv4 (RFC 2131) for the first device when the command line gives no
// static address. Messages are built and parsed by insomniacslk/dhcp's
// dhcpv4 package; they travel over an ordinary gVisor UDP endpoint bound
// to the NIC's port 68 with broadcast allowed. Before the NIC has an
// address, gVisor can route nothing from it, so while acquiring the NIC
// carries the unspecified address 0.0.0.0 (the source RFC 2131 asks for),
// removed as soon as the leased one is added so that it is never chosen
// as a source for the program's traffic. Requests ask the server to
// broadcast its replies (a NIC without the offered address would drop a
// unicast one); renewals are unicast from the leased address.

const (
	dhcpClientPort = 68
	dhcpServerPort = 67

	// dhcpInitialWait is how long the netstack's init waits for the first
	// lease, so that a program that connects at once usually finds its
	// interface configured; without a server the program starts after it
	// and the client goes on in the background.
	dhcpInitialWait = time.Second
	// dhcpGiveUp is how long one acquisition (DISCOVER to ACK) tries
	// before the client reports on stderr; it then retries every
	// dhcpRetryInterval, quietly.
	dhcpGiveUp        = 10 * time.Second
	dhcpRetryInterval = 30 * time.Second
	// Retransmissions start after dhcpFirstRetransmit and double, up to
	// dhcpMaxRetransmit while acquiring and dhcpMaxRenewRetransmit while
	// renewing (RFC 2131 4.4.5: no more often than every minute).
	dhcpFirstRetransmit    = 500 * time.Millisecond
	dhcpMaxRetransmit      = 4 * time.Second
	dhcpMaxRenewRetransmit = time.Minute
	// dhcpDefaultLease is assumed when an ACK names no lease time.
	dhcpDefaultLease = time.Hour
)

var (
	errDHCPTimeout = errors.New("no reply")
	errDHCPNak     = errors.New("server refused (NAK)")
)

// dhcpClient obtains and keeps a lease for one NIC. Only its run
// goroutine uses it after newDHCPClient.
type dhcpClient struct {
	s      *stack.Stack
	nic    tcpip.NICID
	mac    net.HardwareAddr
	static netConfig // unigo.gw/unigo.dns from the command line win over the lease's
	conn   *gonet.UDPConn

	giveUp        time.Duration
	retryInterval time.Duration
	report        io.Writer           // one-line reports (os.Stderr)
	publish       func(cfg netConfig) // writes /etc files for a new configuration

	cfg         netConfig // what is applied to the NIC now (addr invalid: nothing)
	unspecified bool      // 0.0.0.0 is on the NIC
	bound       chan struct{}
	boundOnce   sync.Once
}

// startDHCP starts a client for nic and waits up to wait for its first
// lease. Errors are reported on stderr; the program goes on without the
// interface.
func startDHCP(s *stack.Stack, nic tcpip.NICID, mac tcpip.LinkAddress, static netConfig, wait time.Duration) {
	c, err := newDHCPClient(s, nic, mac, static)
	if err != nil {
		fmt.Fprintf(os.Stderr, "unigo: netstack: DHCP: %v\n", err)
		return
	}
	go c.run()
	select {
	case <-c.bound:
	case <-time.After(wait):
	}
}

func newDHCPClient(s *stack.Stack, nic tcpip.NICID, mac tcpip.LinkAddress, static netConfig) (*dhcpClient, error) {
	var wq waiter.Queue
	ep, terr := s.NewEndpoint(udp.ProtocolNumber, ipv4.ProtocolNumber, &wq)
	if terr != nil {
		return nil, fmt.Errorf("endpoint: %v", terr)
	}
	ep.SocketOptions().SetBroadcast(true)
	if terr := ep.Bind(tcpip.FullAddress{NIC: nic, Port: dhcpClientPort}); terr != nil {
		ep.Close()
		return nil, fmt.Errorf("bind NIC %d port %d: %v", nic, dhcpClientPort, terr)
	}
	return &dhcpClient{
		s:             s,
		nic:           nic,
		mac:           net.HardwareAddr(mac),
		static:        static,
		conn:          gonet.NewUDPConn(&wq, ep),
		giveUp:        dhcpGiveUp,
		retryInterval: dhcpRetryInterval,
		report:        os.Stderr,
		publish: func(cfg netConfig) {
			writeResolvConf(cfg)
			writeHostIdentity(cfg)
		},
		bound: make(chan struct{}),
	}, nil
}

// run acquires a lease, keeps it while the server renews it, and
// acquires again when it is lost; it never returns.
func (c *dhcpClient) run() {
	failing := false
	for {
		ack, err := c.acquire(c.giveUp)
		if err != nil {
			if !failing {
				fmt.Fprintf(c.report, "unigo: netstack: DHCP on NIC %d: no lease after %v (%v); retrying in the background\n", c.nic, c.giveUp, err)
				failing = true
			}
			time.Sleep(c.retryInterval)
			continue
		}
		if failing {
			fmt.Fprintf(c.report, "unigo: netstack: DHCP on NIC %d: leased %v\n", c.nic, ack.YourIPAddr)
			failing = false
		}
		c.keep(ack)
	}
}

// acquire runs DISCOVER, OFFER, REQUEST, ACK (RFC 2131 3.1), giving up
// after limit.
func (c *dhcpClient) acquire(limit time.Duration) (*dhcpv4.DHCPv4, error) {
	c.setUnspecified(true)
	deadline := time.Now().Add(limit)
	bcast := &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpServerPort}
	disc, err := dhcpv4.NewDiscovery(c.mac, dhcpv4.WithBroadcast(true),
		dhcpv4.WithRequestedOptions(dhcpv4.OptionHostName, dhcpv4.OptionIPAddressLeaseTime))
	if err != nil {
		return nil, err
	}
	offer, err := c.exchange(disc, bcast, deadline, dhcpMaxRetransmit, dhcpv4.MessageTypeOffer)
	if err != nil {
		return nil, fmt.Errorf("DISCOVER: %w", err)
	}
	if _, err := leaseAddr(offer); err != nil {
		return nil, fmt.Errorf("OFFER from %v: %w", offer.ServerIdentifier(), err)
	}
	req, err := dhcpv4.NewRequestFromOffer(offer, dhcpv4.WithBroadcast(true),
		dhcpv4.WithRequestedOptions(dhcpv4.OptionHostName, dhcpv4.OptionIPAddressLeaseTime))
	if err != nil {
		return nil, err
	}
	ack, err := c.exchange(req, bcast, deadline, dhcpMaxRetransmit, dhcpv4.MessageTypeAck)
	if err != nil {
		return nil, fmt.Errorf("REQUEST %v: %w", offer.YourIPAddr, err)
	}
	if _, err := leaseAddr(ack); err != nil {
		return nil, fmt.Errorf("ACK from %v: %w", ack.ServerIdentifier(), err)
	}
	return ack, nil
}

// keep applies the lease and renews it at T1 (unicast to its server),
// rebinds at T2 (broadcast, any server), and returns, with the
// configuration removed, when the lease ends or a server refuses it.
func (c *dhcpClient) keep(ack *dhcpv4.DHCPv4) {
	for {
		start := time.Now()
		lease, t1, t2 := leaseTimes(ack)
		c.install(ack)

		time.Sleep(time.Until(start.Add(t1)))
		renew, err := dhcpv4.NewRenewFromAck(ack, dhcpv4.WithRequestedOptions(dhcpv4.OptionHostName, dhcpv4.OptionIPAddressLeaseTime))
		if err != nil {
			break
		}
		server := &net.UDPAddr{IP: ack.ServerIdentifier(), Port: dhcpServerPort}
		if server.IP == nil {
			server.IP = net.IPv4bcast
		}
		next, err := c.exchange(renew, server, start.Add(t2), dhcpMaxRenewRetransmit, dhcpv4.MessageTypeAck)
		if errors.Is(err, errDHCPTimeout) {
			next, err = c.exchange(renew, &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpServerPort},
				start.Add(lease), dhcpMaxRenewRetransmit, dhcpv4.MessageTypeAck)
		}
		if err == nil {
			if _, err = leaseAddr(next); err == nil {
				ack = next
				continue
			}
		}
		fmt.Fprintf(c.report, "unigo: netstack: DHCP on NIC %d: lease of %v lost: %v\n", c.nic, c.cfg.addr, err)
		break
	}
	removeConfig(c.s, c.nic, c.cfg)
	c.cfg = netConfig{}
}

// dhcpMinLease bounds how often a server can make the client renew.
const dhcpMinLease = 2 * time.Second

// leaseTimes are an ACK's lease time, T1 and T2 (RFC 2131 4.4.5:
// by default half and seven eighths of the lease), made consistent and
// at least dhcpMinLease; an infinite lease (0xffffffff s) is 136 years.
func leaseTimes(ack *dhcpv4.DHCPv4) (lease, t1, t2 time.Duration) {
	lease = max(ack.IPAddressLeaseTime(dhcpDefaultLease), dhcpMinLease)
	t1 = ack.IPAddressRenewalTime(lease / 2)
	t2 = ack.IPAddressRebindingTime(lease / 8 * 7)
	if t1 <= 0 || t2 > lease || t2 < t1 {
		t1, t2 = lease/2, lease/8*7
	}
	return lease, t1, t2
}

// install applies a lease's configuration, unless it is the one in force.
func (c *dhcpClient) install(ack *dhcpv4.DHCPv4) {
	cfg := c.leaseConfig(ack)
	if cfg != c.cfg {
		if cfg.addr != c.cfg.addr || cfg.gw != c.cfg.gw {
			removeConfig(c.s, c.nic, c.cfg)
			c.setUnspecified(false)
			if err := applyConfig(c.s, c.nic, cfg); err != nil {
				fmt.Fprintf(c.report, "unigo: netstack: DHCP: %v\n", err)
			}
		}
		c.cfg = cfg
		c.publish(cfg)
	}
	c.setUnspecified(false)
	c.boundOnce.Do(func() { close(c.bound) })
}

// leaseConfig is the configuration an ACK gives, with the command line's
// gateway and name server in preference to the lease's.
func (c *dhcpClient) leaseConfig(ack *dhcpv4.DHCPv4) netConfig {
	addr, _ := leaseAddr(ack)
	cfg := netConfig{addr: addr, dhcp: true}
	if r := ack.Router(); len(r) > 0 {
		cfg.gw, _ = netip.AddrFromSlice(r[0].To4())
	}
	if d := ack.DNS(); len(d) > 0 {
		cfg.dns, _ = netip.AddrFromSlice(d[0].To4())
	}
	if c.static.gw.IsValid() {
		cfg.gw = c.static.gw
	}
	if c.static.dns.IsValid() {
		cfg.dns = c.static.dns
	}
	if name := ack.HostName(); validHostname(name) {
		cfg.hostname = name
	}
	return cfg
}

// leaseAddr is the address and prefix a reply offers: yiaddr with the
// subnet mask option (the address class's mask without one).
func leaseAddr(m *dhcpv4.DHCPv4) (netip.Prefix, error) {
	ip4 := m.YourIPAddr.To4()
	a, ok := netip.AddrFromSlice(ip4)
	if !ok || a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || ip4.Equal(net.IPv4bcast) {
		return netip.Prefix{}, fmt.Errorf("unusable address %v", m.YourIPAddr)
	}
	mask := m.SubnetMask()
	ones, bits := mask.Size()
	if bits != 32 || ones == 0 {
		ones, _ = ip4.DefaultMask().Size()
	}
	return netip.PrefixFrom(a, ones), nil
}

// validHostname reports whether name can be a host name (RFC 1123
// labels, at most the 64 bytes of Linux's), so that a hostile server
// cannot put a line into /etc/hosts.
func validHostname(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if !('a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || ch == '-' || ch == '.') {
			return false
		}
	}
	return name[0] != '-' && name[0] != '.'
}

// exchange sends msg to dst until a reply of type want to it arrives or
// deadline passes, retransmitting after dhcpFirstRetransmit, doubling up
// to maxWait. A NAK ends a wait for an ACK.
func (c *dhcpClient) exchange(msg *dhcpv4.DHCPv4, dst *net.UDPAddr, deadline time.Time, maxWait time.Duration, want dhcpv4.MessageType) (*dhcpv4.DHCPv4, error) {
	buf := make([]byte, 1<<16)
	wait := dhcpFirstRetransmit
	out := msg.ToBytes()
	for time.Now().Before(deadline) {
		if _, err := c.conn.WriteTo(out, dst); err != nil {
			// No route yet (e.g. the lease's router went away): wait
			// and try again like a lost packet.
			time.Sleep(min(wait, time.Until(deadline)))
		}
		until := time.Now().Add(wait)
		if until.After(deadline) {
			until = deadline
		}
		c.conn.SetReadDeadline(until)
		for {
			n, _, err := c.conn.ReadFrom(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				return nil, err
			}
			m, err := dhcpv4.FromBytes(buf[:n])
			if err != nil || m.OpCode != dhcpv4.OpcodeBootReply || m.TransactionID != msg.TransactionID ||
				!bytes.Equal(m.ClientHWAddr, c.mac) {
				continue
			}
			switch t := m.MessageType(); {
			case t == want:
				return m, nil
			case t == dhcpv4.MessageTypeNak && want == dhcpv4.MessageTypeAck:
				return nil, errDHCPNak
			}
		}
		wait = min(2*wait, maxWait)
	}
	return nil, errDHCPTimeout
}

// setUnspecified adds or removes 0.0.0.0 on the NIC (see the top of this
// file).
func (c *dhcpClient) setUnspecified(on bool) {
	if on == c.unspecified {
		return
	}
	if on {
		pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: header.IPv4Any}}
		if err := c.s.AddProtocolAddress(c.nic, pa, stack.AddressProperties{}); err != nil {
			fmt.Fprintf(c.report, "unigo: netstack: DHCP: add 0.0.0.0 to NIC %d: %v\n", c.nic, err)
			return
		}
	} else {
		c.s.RemoveAddress(c.nic, header.IPv4Any)
	}
	c.unspecified = on
}
