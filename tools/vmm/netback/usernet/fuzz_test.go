package usernet

import (
	"github.com/unigo-os/unigo/tools/vmm/netback"
	"net"
	"sync"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/miekg/dns"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// FuzzUserFrames feeds arbitrary guest frames to the user-mode network: its
// switch, gateway stack, DHCP and DNS servers parse them inside the
// launcher process, so a frame that panics any of them would kill the
// launcher. The device only passes frames of 14 bytes and more. The
// network is restricted: fuzzed SYNs must not dial the Internet.
func FuzzUserFrames(f *testing.F) {
	for _, seed := range userSeeds(f) {
		f.Add(seed)
	}
	var once sync.Once
	var u *User
	f.Fuzz(func(t *testing.T, frame []byte) {
		once.Do(func() {
			var err error
			if u, err = NewUser(nil, netback.UserPolicy{Restrict: true}); err != nil {
				t.Fatal(err)
			}
			go func() { // the guest's side: take whatever comes back
				buf := make([]byte, 1<<17)
				for {
					if _, err := u.ReadFrame(buf); err != nil {
						return
					}
				}
			}()
		})
		if len(frame) < 14 || len(frame) > 65535+18 {
			return
		}
		if err := u.WriteFrame(frame); err != nil {
			t.Fatal(err)
		}
	})
}

var (
	fzGuest   = tcpip.AddrFrom4([4]byte{192, 168, 127, 2})
	fzGateway = tcpip.AddrFrom4([4]byte{192, 168, 127, 1})
	fzGWMAC   = net.HardwareAddr{0x5a, 0x94, 0xef, 0xe4, 0x0c, 0xdd}
)

func fzEth(dst net.HardwareAddr, typ tcpip.NetworkProtocolNumber, payload []byte) []byte {
	b := make([]byte, header.EthernetMinimumSize+len(payload))
	header.Ethernet(b).Encode(&header.EthernetFields{SrcAddr: tcpip.LinkAddress(netback.UserGuestMAC), DstAddr: tcpip.LinkAddress(dst), Type: typ})
	copy(b[header.EthernetMinimumSize:], payload)
	return b
}

func fzUDP(dst net.HardwareAddr, src, to tcpip.Address, sport, dport uint16, payload []byte) []byte {
	p := make([]byte, header.IPv4MinimumSize+header.UDPMinimumSize+len(payload))
	ip := header.IPv4(p)
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(p)), TTL: 64, Protocol: uint8(header.UDPProtocolNumber), SrcAddr: src, DstAddr: to})
	ip.SetChecksum(^ip.CalculateChecksum())
	u := header.UDP(p[header.IPv4MinimumSize:])
	u.Encode(&header.UDPFields{SrcPort: sport, DstPort: dport, Length: uint16(len(u))})
	copy(u.Payload(), payload)
	u.SetChecksum(^u.CalculateChecksum(header.PseudoHeaderChecksum(header.UDPProtocolNumber, src, to, uint16(len(u)))))
	return fzEth(dst, header.IPv4ProtocolNumber, p)
}

func userSeeds(tb testing.TB) [][]byte {
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	seeds := [][]byte{arpForGateway()}

	disc, err := dhcpv4.NewDiscovery(netback.UserGuestMAC)
	if err != nil {
		tb.Fatal(err)
	}
	seeds = append(seeds, fzUDP(bcast, tcpip.AddrFrom4([4]byte{}), tcpip.AddrFrom4([4]byte{255, 255, 255, 255}), 68, 67, disc.ToBytes()))

	q := new(dns.Msg)
	q.SetQuestion("gateway.unigo.internal.", dns.TypeA)
	wire, err := q.Pack()
	if err != nil {
		tb.Fatal(err)
	}
	seeds = append(seeds, fzUDP(fzGWMAC, fzGuest, fzGateway, 5353, 53, wire))

	tcp := header.TCP(make([]byte, header.TCPMinimumSize))
	tcp.Encode(&header.TCPFields{SrcPort: 40000, DstPort: 9, SeqNum: 1, DataOffset: header.TCPMinimumSize, Flags: header.TCPFlagSyn, WindowSize: 1024})
	p := make([]byte, header.IPv4MinimumSize+len(tcp))
	ip := header.IPv4(p)
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(p)), TTL: 64, Protocol: uint8(header.TCPProtocolNumber), SrcAddr: fzGuest, DstAddr: tcpip.AddrFrom4([4]byte{192, 168, 127, 254})})
	ip.SetChecksum(^ip.CalculateChecksum())
	copy(p[header.IPv4MinimumSize:], tcp)
	seeds = append(seeds, fzEth(fzGWMAC, header.IPv4ProtocolNumber, p))
	return seeds
}
