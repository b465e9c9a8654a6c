package usernet

import (
	"fmt"
	"github.com/unigo-os/unigo/tools/vmm/netback"
	"net"
	"net/netip"
	"reflect"
	"sync"
	"unsafe"

	"github.com/containers/gvisor-tap-vsock/pkg/services/forwarder"
	"github.com/containers/gvisor-tap-vsock/pkg/virtualnetwork"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// deniedNets are never NAT destinations: the host's own loopback and
// "this host" (a dial to 0.0.0.0 reaches the loopback), link-local
// (cloud metadata services), multicast, reserved and broadcast, and the
// user-mode subnet itself (only the gateway and netback.UserHostIP live there).
var deniedNets = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix(netback.UserSubnet),
}

var userHostAddr = netip.MustParseAddr(netback.UserHostIP)

// natGate decides the NAT's destinations and counts its connections.
type natGate struct {
	policy netback.UserPolicy
	// hostAddrs are the host's own interface addresses: a guest reaches
	// them only when it may reach the host.
	hostAddrs map[netip.Addr]bool

	mu    sync.Mutex
	conns int
}

func newNATGate(p netback.UserPolicy) *natGate {
	g := &natGate{policy: p, hostAddrs: map[netip.Addr]bool{}}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok {
					g.hostAddrs[ip.Unmap()] = true
				}
			}
		}
	}
	return g
}

// dest maps a guest's destination to the host address to dial, or says
// why the guest may not reach it.
func (g *natGate) dest(a netip.Addr) (netip.Addr, error) {
	a = a.Unmap()
	if a == userHostAddr {
		if g.policy.HostLoopback {
			return netip.AddrFrom4([4]byte{127, 0, 0, 1}), nil
		}
		return netip.Addr{}, fmt.Errorf("%v: the host's loopback needs -net user,hostloopback", a)
	}
	if g.policy.Restrict {
		return netip.Addr{}, fmt.Errorf("%v: outbound traffic is off (-net user,restrict)", a)
	}
	if !a.Is4() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return netip.Addr{}, fmt.Errorf("%v: not a unicast IPv4 address", a)
	}
	for _, p := range deniedNets {
		if p.Contains(a) {
			return netip.Addr{}, fmt.Errorf("%v: in %v", a, p)
		}
	}
	if g.hostAddrs[a] && !g.policy.HostLoopback {
		return netip.Addr{}, fmt.Errorf("%v: the host's own address", a)
	}
	return a, nil
}

// acquire takes a connection slot; false when the cap is reached.
func (g *natGate) acquire() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.conns >= maxConns(g.policy) {
		return false
	}
	g.conns++
	return true
}

func (g *natGate) release() {
	g.mu.Lock()
	g.conns--
	g.mu.Unlock()
}

// Conns is the number of outbound TCP connections the NAT holds.
func (g *natGate) Conns() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.conns
}

func addrOf(a tcpip.Address) netip.Addr {
	ip, _ := netip.AddrFromSlice(a.AsSlice())
	return ip
}

// vnStack is the gateway's TCP/IP stack. gvisor-tap-vsock offers no hook
// for its NAT's policy (it dials whatever the guest asks, through a fixed
// NAT table), so the launcher replaces its forwarders on the stack,
// which the library keeps unexported; TestUserPolicy* catch a library
// update that moves it.
func vnStack(vn *virtualnetwork.VirtualNetwork) (*stack.Stack, error) {
	f := reflect.ValueOf(vn).Elem().FieldByName("stack")
	if !f.IsValid() || f.Type() != reflect.TypeFor[*stack.Stack]() {
		return nil, fmt.Errorf("gvisor-tap-vsock: no stack field in VirtualNetwork")
	}
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface().(*stack.Stack), nil
}

// installNAT replaces the library's TCP and UDP forwarders with ones that
// ask g first.
func installNAT(vn *virtualnetwork.VirtualNetwork, g *natGate) error {
	s, err := vnStack(vn)
	if err != nil {
		return err
	}
	tcpFwd := tcp.NewForwarder(s, 0, 10, func(r *tcp.ForwarderRequest) {
		dst, err := g.dest(addrOf(r.ID().LocalAddress))
		if err != nil || !g.acquire() {
			r.Complete(true) // RST: connection refused in the guest
			return
		}
		outbound, err := net.Dial("tcp", netip.AddrPortFrom(dst, r.ID().LocalPort).String())
		var host *hostConn
		if err == nil {
			if host, err = newHostConn(outbound.(*net.TCPConn)); err != nil {
				outbound.Close()
			}
		}
		if err != nil {
			g.release()
			r.Complete(true)
			return
		}
		var wq waiter.Queue
		ep, tcpErr := r.CreateEndpoint(&wq)
		r.Complete(false)
		if tcpErr != nil {
			outbound.Close()
			g.release()
			return
		}
		go func() {
			defer g.release()
			relay(newGuestConn(&wq, ep), host)
		}()
	})
	s.SetTransportProtocolHandler(tcp.ProtocolNumber, tcpFwd.HandlePacket)

	// UDP: the library's forwarder (its NAT table holds netback.UserHostIP only
	// with HostLoopback) behind the same destination check.
	var natLock sync.Mutex
	nat := map[tcpip.Address]tcpip.Address{}
	if g.policy.HostLoopback {
		nat[tcpip.AddrFrom4(userHostAddr.As4())] = tcpip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	udpFwd := forwarder.UDP(s, nat, &natLock, false)
	s.SetTransportProtocolHandler(udp.ProtocolNumber, func(id stack.TransportEndpointID, pkt *stack.PacketBuffer) bool {
		if _, err := g.dest(addrOf(id.LocalAddress)); err != nil {
			return true // dropped
		}
		return udpFwd.HandlePacket(id, pkt)
	})
	return nil
}

// restrictedFrame reports whether a guest frame is DNS to the gateway,
// which the gateway would resolve through the host's resolver.
func restrictedFrame(f []byte) bool {
	if len(f) < header.EthernetMinimumSize+header.IPv4MinimumSize ||
		header.Ethernet(f).Type() != header.IPv4ProtocolNumber {
		return false
	}
	ip := header.IPv4(f[header.EthernetMinimumSize:])
	hl := int(ip.HeaderLength())
	if hl < header.IPv4MinimumSize || len(ip) < hl+4 || ip.DestinationAddress() != tcpip.AddrFrom4([4]byte{192, 168, 127, 1}) {
		return false
	}
	switch ip.TransportProtocol() {
	case header.UDPProtocolNumber, header.TCPProtocolNumber:
		// Both carry the destination port at offset 2.
		return header.UDP(ip[hl:]).DestinationPort() == 53
	}
	return false
}

// maxConns is p's cap on concurrent outbound TCP connections.
func maxConns(p netback.UserPolicy) int {
	if p.MaxConns > 0 {
		return p.MaxConns
	}
	return netback.DefaultMaxConns
}
