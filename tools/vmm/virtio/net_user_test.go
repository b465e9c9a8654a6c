package virtio

import (
	"encoding/binary"
	"fmt"
	"github.com/unigo-os/unigo/abi"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/unigo-os/unigo/tools/vmm/netback"
	"github.com/unigo-os/unigo/tools/vmm/netback/usernet"
)

// Integration tests: a fake guest drives the virtio-net device, which is
// connected to the real user-mode network backend, and talks to its
// gateway with hand-made frames.

var (
	guestIP   = tcpip.AddrFrom4([4]byte{192, 168, 127, 2})
	gatewayIP = tcpip.AddrFrom4([4]byte{192, 168, 127, 1})
	hostIP    = tcpip.AddrFrom4([4]byte{192, 168, 127, 254})
)

const (
	ugRing   = 256
	ugRXBuf  = 2048
	ugRXArea = 0x100000
	ugTXArea = 0x200000
	ugTXSlot = 0x11000 // a 64 KiB frame and its header
	ugMem    = ugTXArea + ugRing*ugTXSlot
)

// userGuest is a fake guest on the user-mode network.
type userGuest struct {
	*netGuest
	user   *usernet.User
	frames chan []byte // received frames other than ARP requests for us
	// handle, if set, gets every received frame instead (the frame is
	// the guest's to keep).
	handle func([]byte)
	irq    chan struct{} // a device interrupt happened
	txMu   sync.Mutex
	txSlot uint16
}

func newUserGuest(t *testing.T, forwards ...netback.Forward) *userGuest {
	return newUserGuestWith(t, nil, forwards...)
}

// newUserGuestWith starts a fake guest that may reach the host's loopback
// (most tests talk to a host listener on 127.0.0.1).
func newUserGuestWith(t *testing.T, handle func([]byte), forwards ...netback.Forward) *userGuest {
	return newUserGuestPolicy(t, netback.UserPolicy{HostLoopback: true}, handle, forwards...)
}

func newUserGuestPolicy(t *testing.T, p netback.UserPolicy, handle func([]byte), forwards ...netback.Forward) *userGuest {
	user, err := usernet.NewUser(forwards, p)
	require.NoError(t, err)
	t.Cleanup(func() { user.Close() })
	g := newRingGuest(t, user, netback.UserGuestMAC, netback.UserMTU,
		abi.VirtioNetFMrgRxbuf|abi.VirtioNetFCsum|abi.VirtioNetFGuestCsum|abi.VirtioFEventIdx, handle)
	g.user = user
	return g
}

// newRingGuest starts a fake guest driving a virtio-net device on be with
// the given features, its receive ring full of 2 KiB buffers.
func newRingGuest(t *testing.T, be NetBackend, mac net.HardwareAddr, mtu uint16, features uint64, handle func([]byte)) *userGuest {
	dev, err := NewNet(be, mac, mtu)
	require.NoError(t, err)
	dev.ChecksumsValid = true
	d := &testDriver{t: t, mem: guestMemory(t, ugMem)}
	irq := make(chan struct{}, 1)
	d.m = NewMMIO(dev, d.mem, func() {
		d.irqs.Add(1)
		select {
		case irq <- struct{}{}:
		default:
		}
	})
	g := &userGuest{netGuest: &netGuest{testDriver: d, dev: dev, data: ngData, ringSize: ugRing},
		frames: make(chan []byte, 64), handle: handle, irq: irq}
	g.start(features)
	for i := range g.rx.size {
		g.rx.post(tdesc{addr: ugRXArea + uint64(i)*ugRXBuf, len: ugRXBuf, flags: abi.VirtqDescFWrite})
	}
	g.kick(g.rx)
	var stop atomic.Bool
	done := make(chan struct{})
	go g.receive(&stop, done)
	t.Cleanup(func() {
		stop.Store(true)
		<-done
		d.w32(abi.VirtioMMIOStatus, 0)
	})
	return g
}

// membarrier orders the driver's stores before its next loads, as a
// driver's virtio_mb does.
func membarrier() {
	var x atomic.Int32
	x.Add(1)
}

// receive polls the receive ring, answers ARP requests for the guest's
// address and hands every other frame to g.frames, reposting each buffer.
func (g *userGuest) receive(stop *atomic.Bool, done chan<- struct{}) {
	defer close(done)
	q := g.rx
	var frame []byte
	remaining := 0 // buffers still to come for frame
	for !stop.Load() {
		if q.usedIdx() == q.usedSeen {
			// Ask for an interrupt at the next used buffer (EVENT_IDX),
			// look once more, then wait for it.
			q.setUsedEvent(q.usedSeen)
			membarrier()
			if q.usedIdx() == q.usedSeen {
				select {
				case <-g.irq:
				case <-time.After(time.Millisecond):
				}
			}
			continue
		}
		e := q.mem[q.used+4+8*uint64(q.usedSeen%q.size):]
		id, n := binary.LittleEndian.Uint32(e), binary.LittleEndian.Uint32(e[4:])
		q.usedSeen++
		a := ugRXArea + uint64(id)*ugRXBuf
		if n > ugRXBuf || id >= uint32(q.size) {
			panic(fmt.Sprintf("bad receive: id %d len %d", id, n))
		}
		data := g.mem[a : a+uint64(n)]
		if remaining == 0 {
			// The first buffer of a frame: header, then num_buffers-1
			// more buffers follow (VIRTIO_NET_F_MRG_RXBUF).
			nb := binary.LittleEndian.Uint16(data[10:])
			if n < abi.VirtioNetHdrSize || nb == 0 || nb > q.size {
				panic(fmt.Sprintf("bad receive: len %d num_buffers %d", n, nb))
			}
			frame, remaining = append([]byte(nil), data[abi.VirtioNetHdrSize:]...), int(nb)
		} else {
			frame = append(frame, data...)
		}
		remaining--
		q.post(tdesc{addr: a, len: ugRXBuf, flags: abi.VirtqDescFWrite})
		g.kick(q)
		if remaining > 0 {
			continue
		}
		if g.handle != nil {
			g.handle(frame)
			continue
		}
		if reply := arpReply(frame); reply != nil {
			g.sendFrame(reply, false)
			continue
		}
		select {
		case g.frames <- frame:
		default:
		}
	}
}

// sendFrame transmits frame; with csum, asks the device to fill in the
// TCP checksum of an IPv4 frame (NEEDS_CSUM).
func (g *userGuest) sendFrame(frame []byte, csum bool) {
	var hdr [abi.VirtioNetHdrSize]byte
	if csum {
		hdr[0] = abi.VirtioNetHdrFNeedsCsum
		binary.LittleEndian.PutUint16(hdr[6:], header.EthernetMinimumSize+header.IPv4MinimumSize)
		binary.LittleEndian.PutUint16(hdr[8:], header.TCPChecksumOffset)
	}
	g.sendPacket(hdr, frame)
}

// sendPacket transmits frame with the virtio-net header hdr.
func (g *userGuest) sendPacket(hdr [abi.VirtioNetHdrSize]byte, frame []byte) {
	g.txMu.Lock()
	defer g.txMu.Unlock()
	// Reuse a slot only once the device has returned it.
	for g.tx.availIdx-g.tx.usedIdx() >= g.tx.size {
		time.Sleep(20 * time.Microsecond)
	}
	a := ugTXArea + uint64(g.txSlot%g.tx.size)*ugTXSlot
	g.txSlot++
	copy(g.mem[a:], hdr[:])
	copy(g.mem[a+abi.VirtioNetHdrSize:], frame)
	g.tx.post(tdesc{addr: a, len: uint32(abi.VirtioNetHdrSize + len(frame))})
	g.kick(g.tx)
}

// next returns the first received frame accepted by match.
func (g *userGuest) next(t *testing.T, what string, match func([]byte) bool) []byte {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case f := <-g.frames:
			if match(f) {
				return f
			}
		case <-deadline:
			t.Fatalf("no %s received (device status %#x, err %v, stats tx %d rx %d)", what,
				g.r32(abi.VirtioMMIOStatus), g.m.Err(), g.dev.Stats.TXFrames.Load(), g.dev.Stats.RXFrames.Load())
			return nil
		}
	}
}

func ethFrame(dst net.HardwareAddr, typ tcpip.NetworkProtocolNumber, payload []byte) []byte {
	f := make([]byte, header.EthernetMinimumSize+len(payload))
	header.Ethernet(f).Encode(&header.EthernetFields{
		SrcAddr: tcpip.LinkAddress(netback.UserGuestMAC),
		DstAddr: tcpip.LinkAddress(dst),
		Type:    typ,
	})
	copy(f[header.EthernetMinimumSize:], payload)
	return f
}

var broadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

func arpRequest(target tcpip.Address) []byte {
	a := header.ARP(make([]byte, header.ARPSize))
	a.SetIPv4OverEthernet()
	a.SetOp(header.ARPRequest)
	copy(a.HardwareAddressSender(), netback.UserGuestMAC)
	copy(a.ProtocolAddressSender(), guestIP.AsSlice())
	copy(a.ProtocolAddressTarget(), target.AsSlice())
	return ethFrame(broadcast, header.ARPProtocolNumber, a)
}

// arpReply answers an ARP request for the guest's address, or returns nil.
func arpReply(frame []byte) []byte {
	eth := header.Ethernet(frame)
	if len(frame) < header.EthernetMinimumSize+header.ARPSize || eth.Type() != header.ARPProtocolNumber {
		return nil
	}
	req := header.ARP(frame[header.EthernetMinimumSize:])
	if !req.IsValid() || req.Op() != header.ARPRequest || tcpip.AddrFrom4Slice(req.ProtocolAddressTarget()) != guestIP {
		return nil
	}
	a := header.ARP(make([]byte, header.ARPSize))
	a.SetIPv4OverEthernet()
	a.SetOp(header.ARPReply)
	copy(a.HardwareAddressSender(), netback.UserGuestMAC)
	copy(a.ProtocolAddressSender(), guestIP.AsSlice())
	copy(a.HardwareAddressTarget(), req.HardwareAddressSender())
	copy(a.ProtocolAddressTarget(), req.ProtocolAddressSender())
	return ethFrame(net.HardwareAddr(req.HardwareAddressSender()), header.ARPProtocolNumber, a)
}

// ipv4Frame wraps a transport payload. For TCP with partial, the checksum field
// holds only the pseudo-header sum, for the device to complete.
func ipv4Frame(dst net.HardwareAddr, src, to tcpip.Address, proto tcpip.TransportProtocolNumber, l4 []byte) []byte {
	p := make([]byte, header.IPv4MinimumSize+len(l4))
	ip := header.IPv4(p)
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(len(p)),
		TTL:         64,
		Protocol:    uint8(proto),
		SrcAddr:     src,
		DstAddr:     to,
	})
	ip.SetChecksum(^ip.CalculateChecksum())
	copy(p[header.IPv4MinimumSize:], l4)
	return ethFrame(dst, header.IPv4ProtocolNumber, p)
}

func tcpSegment(src, dst tcpip.Address, sport, dport uint16, flags header.TCPFlags, seq, ack uint32) []byte {
	b := header.TCP(make([]byte, header.TCPMinimumSize))
	b.Encode(&header.TCPFields{
		SrcPort: sport, DstPort: dport, SeqNum: seq, AckNum: ack,
		DataOffset: header.TCPMinimumSize, Flags: flags, WindowSize: 65535,
	})
	// Partial checksum: the pseudo-header sum, as a driver using
	// VIRTIO_NET_F_CSUM leaves it.
	b.SetChecksum(header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, header.TCPMinimumSize))
	return b
}

// parseTCP returns the IPv4 and TCP headers of frame, or nils.
func parseTCP(frame []byte) (header.IPv4, header.TCP) {
	if len(frame) < header.EthernetMinimumSize+header.IPv4MinimumSize+header.TCPMinimumSize ||
		header.Ethernet(frame).Type() != header.IPv4ProtocolNumber {
		return nil, nil
	}
	ip := header.IPv4(frame[header.EthernetMinimumSize:])
	if !ip.IsValid(len(ip)) || ip.TransportProtocol() != header.TCPProtocolNumber {
		return nil, nil
	}
	return ip, header.TCP(ip.Payload())
}

func TestUserNetARP(t *testing.T) {
	g := newUserGuest(t)
	g.sendFrame(arpRequest(gatewayIP), false)
	f := g.next(t, "ARP reply", func(f []byte) bool {
		return header.Ethernet(f).Type() == header.ARPProtocolNumber &&
			header.ARP(f[header.EthernetMinimumSize:]).Op() == header.ARPReply
	})
	a := header.ARP(f[header.EthernetMinimumSize:])
	assert.Equal(t, gatewayIP.AsSlice(), a.ProtocolAddressSender())
	assert.Equal(t, []byte(netback.UserGuestMAC), a.HardwareAddressTarget())
	assert.Equal(t, "5a:94:ef:e4:0c:dd", net.HardwareAddr(a.HardwareAddressSender()).String())
	assert.Equal(t, []byte(netback.UserGuestMAC), []byte(header.Ethernet(f).DestinationAddress()))
}

func TestUserNetDHCP(t *testing.T) {
	g := newUserGuest(t)
	disc, err := dhcpv4.NewDiscovery(netback.UserGuestMAC)
	require.NoError(t, err)
	payload := disc.ToBytes()
	u := header.UDP(make([]byte, header.UDPMinimumSize+len(payload)))
	u.Encode(&header.UDPFields{SrcPort: 68, DstPort: 67, Length: uint16(len(u))})
	copy(u.Payload(), payload)
	src, dst := tcpip.AddrFrom4([4]byte{}), tcpip.AddrFrom4([4]byte{255, 255, 255, 255})
	u.SetChecksum(^u.CalculateChecksum(header.PseudoHeaderChecksum(header.UDPProtocolNumber, src, dst, uint16(len(u)))))
	g.sendFrame(ipv4Frame(broadcast, src, dst, header.UDPProtocolNumber, u), false)

	var offer *dhcpv4.DHCPv4
	g.next(t, "DHCP offer", func(f []byte) bool {
		if header.Ethernet(f).Type() != header.IPv4ProtocolNumber {
			return false
		}
		ip := header.IPv4(f[header.EthernetMinimumSize:])
		if ip.TransportProtocol() != header.UDPProtocolNumber {
			return false
		}
		m, err := dhcpv4.FromBytes(header.UDP(ip.Payload()).Payload())
		if err != nil || m.MessageType() != dhcpv4.MessageTypeOffer {
			return false
		}
		offer = m
		return true
	})
	assert.Equal(t, netback.UserGuestIP, offer.YourIPAddr.String())
	assert.Equal(t, netback.UserGateway, offer.Router()[0].String())
	assert.Equal(t, netback.UserGateway, offer.DNS()[0].String())
}

// TestUserNetTCPToHost: the guest's SYN to 192.168.127.254 reaches a
// listener on the host's 127.0.0.1 through the gateway's NAT, and the
// gateway answers with a SYN-ACK.
func TestUserNetTCPToHost(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)

	g := newUserGuest(t)
	g.sendFrame(arpRequest(hostIP), false)
	f := g.next(t, "ARP reply for the host address", func(f []byte) bool {
		return header.Ethernet(f).Type() == header.ARPProtocolNumber &&
			header.ARP(f[header.EthernetMinimumSize:]).Op() == header.ARPReply
	})
	gw := net.HardwareAddr(header.ARP(f[header.EthernetMinimumSize:]).HardwareAddressSender())

	g.sendFrame(ipv4Frame(gw, guestIP, hostIP, header.TCPProtocolNumber,
		tcpSegment(guestIP, hostIP, 40000, port, header.TCPFlagSyn, 1000, 0)), true)
	f = g.next(t, "SYN-ACK", func(f []byte) bool {
		_, tcp := parseTCP(f)
		return tcp != nil && tcp.DestinationPort() == 40000
	})
	ip, tcp := parseTCP(f)
	assert.Equal(t, header.TCPFlagSyn|header.TCPFlagAck, tcp.Flags(), "flags %v", tcp.Flags())
	assert.EqualValues(t, 1001, tcp.AckNumber())
	assert.Equal(t, hostIP, ip.SourceAddress())
	assert.Equal(t, port, tcp.SourcePort())
	// The gateway's checksums are valid (and flagged so).
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, ip.SourceAddress(), ip.DestinationAddress(), uint16(len(tcp)))
	assert.EqualValues(t, 0xffff, tcp.CalculateChecksum(xsum))
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("host listener never saw the connection")
	}
}

// TestUserNetPortForward: a host client dialing a -p port makes the
// gateway open a connection to the guest: the guest sees its SYN.
func TestUserNetPortForward(t *testing.T) {
	// Find a free host port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	hostPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	fw, err := netback.ParseForward(strconv.Itoa(hostPort) + ":8080")
	require.NoError(t, err)
	g := newUserGuest(t, fw)

	go func() {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", hostPort), 10*time.Second)
		if err == nil {
			time.Sleep(5 * time.Second)
			c.Close()
		}
	}()
	f := g.next(t, "forwarded SYN", func(f []byte) bool {
		_, tcp := parseTCP(f)
		return tcp != nil && tcp.Flags()&header.TCPFlagSyn != 0
	})
	ip, tcp := parseTCP(f)
	assert.EqualValues(t, 8080, tcp.DestinationPort())
	assert.Equal(t, guestIP, ip.DestinationAddress())
	assert.Equal(t, gatewayIP, ip.SourceAddress())
}

func TestUserNetPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	fw, err := netback.ParseForward(strconv.Itoa(ln.Addr().(*net.TCPAddr).Port) + ":80")
	require.NoError(t, err)
	_, err = usernet.NewUser([]netback.Forward{fw}, netback.UserPolicy{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "address already in use")
	assert.NotContains(t, err.Error(), "\n")
}

// TestUserNetUDPForward: a datagram to a -p .../udp port reaches the guest.
func TestUserNetUDPForward(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	hostPort := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	fw, err := netback.ParseForward(strconv.Itoa(hostPort) + ":5353/udp")
	require.NoError(t, err)
	g := newUserGuest(t, fw)

	c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", hostPort))
	require.NoError(t, err)
	defer c.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() { // resend until seen: the first may wait for ARP
		for {
			c.Write([]byte("ping over udp"))
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	f := g.next(t, "forwarded datagram", func(f []byte) bool {
		if len(f) < header.EthernetMinimumSize+header.IPv4MinimumSize || header.Ethernet(f).Type() != header.IPv4ProtocolNumber {
			return false
		}
		return header.IPv4(f[header.EthernetMinimumSize:]).TransportProtocol() == header.UDPProtocolNumber
	})
	ip := header.IPv4(f[header.EthernetMinimumSize:])
	u := header.UDP(ip.Payload())
	assert.Equal(t, guestIP, ip.DestinationAddress())
	assert.EqualValues(t, 5353, u.DestinationPort())
	assert.Equal(t, "ping over udp", string(u.Payload()))
}

// TestUserNetDNS: the gateway answers DNS on 192.168.127.1 (unigo.dns),
// here from its own zone: host.unigo.internal is the host's address.
func TestUserNetDNS(t *testing.T) {
	g := newUserGuest(t)
	g.sendFrame(arpRequest(gatewayIP), false)
	f := g.next(t, "ARP reply", func(f []byte) bool {
		return header.Ethernet(f).Type() == header.ARPProtocolNumber
	})
	gw := net.HardwareAddr(header.ARP(f[header.EthernetMinimumSize:]).HardwareAddressSender())

	q := new(dns.Msg)
	q.SetQuestion("host.unigo.internal.", dns.TypeA)
	wire, err := q.Pack()
	require.NoError(t, err)
	u := header.UDP(make([]byte, header.UDPMinimumSize+len(wire)))
	u.Encode(&header.UDPFields{SrcPort: 33333, DstPort: 53, Length: uint16(len(u))})
	copy(u.Payload(), wire)
	u.SetChecksum(^u.CalculateChecksum(header.PseudoHeaderChecksum(header.UDPProtocolNumber, guestIP, gatewayIP, uint16(len(u)))))
	g.sendFrame(ipv4Frame(gw, guestIP, gatewayIP, header.UDPProtocolNumber, u), false)

	var answer dns.Msg
	g.next(t, "DNS answer", func(f []byte) bool {
		if header.Ethernet(f).Type() != header.IPv4ProtocolNumber {
			return false
		}
		ip := header.IPv4(f[header.EthernetMinimumSize:])
		if ip.TransportProtocol() != header.UDPProtocolNumber || header.UDP(ip.Payload()).DestinationPort() != 33333 {
			return false
		}
		return answer.Unpack(header.UDP(ip.Payload()).Payload()) == nil
	})
	require.Len(t, answer.Answer, 1)
	a, ok := answer.Answer[0].(*dns.A)
	require.True(t, ok, "%v", answer.Answer[0])
	assert.Equal(t, netback.UserHostIP, a.A.String())
}

// gatewayMAC is the user-mode gateway's MAC, every packet's next hop.
var gatewayMAC = net.HardwareAddr{0x5a, 0x94, 0xef, 0xe4, 0x0c, 0xdd}

// synTo sends a SYN from sport to dst:port and returns the gateway's
// answer to it.
func (g *userGuest) synTo(t *testing.T, dst tcpip.Address, sport, port uint16) header.TCP {
	t.Helper()
	g.sendFrame(ipv4Frame(gatewayMAC, guestIP, dst, header.TCPProtocolNumber,
		tcpSegment(guestIP, dst, sport, port, header.TCPFlagSyn, 1000, 0)), true)
	f := g.next(t, "answer to the SYN", func(f []byte) bool {
		_, tcp := parseTCP(f)
		return tcp != nil && tcp.DestinationPort() == sport
	})
	_, tcp := parseTCP(f)
	return tcp
}

// hostListener counts the connections a listener on the host's 127.0.0.1
// accepts (and holds them open until the test ends).
func hostListener(t *testing.T) (port uint16, accepted *atomic.Int32) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	accepted = new(atomic.Int32)
	var conns []net.Conn
	var mu sync.Mutex
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return uint16(ln.Addr().(*net.TCPAddr).Port), accepted
}

// TestUserNetIsolated: by default the guest cannot reach the host's
// loopback, neither through 192.168.127.254 (its SYN is reset) nor as
// 127.0.0.1 (the gateway drops it), and no connection reaches the host.
func TestUserNetIsolated(t *testing.T) {
	port, accepted := hostListener(t)
	for _, tc := range []struct {
		name string
		p    netback.UserPolicy
		dst  tcpip.Address
	}{
		{"default", netback.UserPolicy{}, hostIP},
		{"restrict", netback.UserPolicy{Restrict: true}, hostIP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newUserGuestPolicy(t, tc.p, nil)
			tcp := g.synTo(t, tc.dst, 40000, port)
			assert.NotZero(t, tcp.Flags()&header.TCPFlagRst, "flags %v", tcp.Flags())
		})
	}
	g := newUserGuestPolicy(t, netback.UserPolicy{HostLoopback: true}, nil)
	lo := tcpip.AddrFrom4([4]byte{127, 0, 0, 1})
	g.sendFrame(ipv4Frame(gatewayMAC, guestIP, lo, header.TCPProtocolNumber,
		tcpSegment(guestIP, lo, 40000, port, header.TCPFlagSyn, 1000, 0)), true)
	time.Sleep(500 * time.Millisecond)
	assert.Zero(t, accepted.Load(), "a connection reached the host")
}

// TestUserNetRestrictHostLoopback: restrict with hostloopback still
// reaches the host's loopback.
func TestUserNetRestrictHostLoopback(t *testing.T) {
	port, accepted := hostListener(t)
	g := newUserGuestPolicy(t, netback.UserPolicy{Restrict: true, HostLoopback: true}, nil)
	tcp := g.synTo(t, hostIP, 40000, port)
	assert.Equal(t, header.TCPFlagSyn|header.TCPFlagAck, tcp.Flags())
	require.Eventually(t, func() bool { return accepted.Load() == 1 }, 10*time.Second, 10*time.Millisecond)
}

// TestUserNetConnCap: beyond maxconns concurrent NAT connections the
// guest's SYN is reset; a closed connection frees its slot.
func TestUserNetConnCap(t *testing.T) {
	port, accepted := hostListener(t)
	g := newUserGuestPolicy(t, netback.UserPolicy{HostLoopback: true, MaxConns: 2}, nil)
	for i := range 2 {
		tcp := g.synTo(t, hostIP, uint16(40000+i), port)
		assert.Equal(t, header.TCPFlagSyn|header.TCPFlagAck, tcp.Flags(), "connection %d", i)
	}
	tcp := g.synTo(t, hostIP, 40002, port)
	assert.NotZero(t, tcp.Flags()&header.TCPFlagRst, "third connection: flags %v", tcp.Flags())
	assert.Equal(t, 2, g.user.NATConns())
	require.Eventually(t, func() bool { return accepted.Load() == 2 }, 10*time.Second, 10*time.Millisecond)

	// The guest resets its first connection: the slot comes back.
	g.sendFrame(ipv4Frame(gatewayMAC, guestIP, hostIP, header.TCPProtocolNumber,
		tcpSegment(guestIP, hostIP, 40000, port, header.TCPFlagRst, 1001, 0)), true)
	require.Eventually(t, func() bool { return g.user.NATConns() == 1 }, 10*time.Second, 10*time.Millisecond)
	tcp = g.synTo(t, hostIP, 40003, port)
	assert.Equal(t, header.TCPFlagSyn|header.TCPFlagAck, tcp.Flags())
}
