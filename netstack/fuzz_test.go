package netstack

import (
	"github.com/unigo-os/unigo/abi"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/unigo-os/unigo/drivers/virtio/virtionet"
)

// FuzzDeliver feeds arbitrary frames, with arbitrary virtio-net header
// flags, from "the device" into a stack with a listening TCP socket: what
// a hostile device or network sends must not crash the guest.
func FuzzDeliver(f *testing.F) {
	s := newStack()
	l := &link{dev: discardDevice{}, addr: tcpip.LinkAddress([]byte{2, 0, 0, 0, 0, 1}), mtu: 1500}
	if err := s.CreateNIC(firstDeviceNIC, l); err != nil {
		f.Fatal(err)
	}
	addr := tcpip.AddrFrom4([4]byte{10, 0, 2, 15})
	s.AddProtocolAddress(firstDeviceNIC, tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber,
		AddressWithPrefix: addr.WithPrefix()}, stack.AddressProperties{})
	s.SetRouteTable([]tcpip.Route{{Destination: addr.WithPrefix().Subnet(), NIC: firstDeviceNIC}})
	var wq waiter.Queue
	ep, err := s.NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, &wq)
	if err != nil {
		f.Fatal(err)
	}
	ep.Bind(tcpip.FullAddress{Port: 80})
	ep.Listen(10)

	// Seeds: an ARP request, a TCP SYN to the listener, a truncated frame.
	f.Add(uint8(0), []byte("\xff\xff\xff\xff\xff\xff\x02\x00\x00\x00\x00\x02\x08\x06\x00\x01\x08\x00\x06\x04\x00\x01\x02\x00\x00\x00\x00\x02\x0a\x00\x02\x02\x00\x00\x00\x00\x00\x00\x0a\x00\x02\x0f"))
	f.Add(uint8(abi.VirtioNetHdrFDataValid), []byte("\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00"+
		"\x45\x00\x00\x28\x00\x01\x00\x00\x40\x06\x00\x00\x0a\x00\x02\x02\x0a\x00\x02\x0f"+
		"\x30\x39\x00\x50\x00\x00\x00\x01\x00\x00\x00\x00\x50\x02\xff\xff\x00\x00\x00\x00"))
	f.Add(uint8(abi.VirtioNetHdrFNeedsCsum), []byte("\x02\x00\x00\x00\x00\x01\x02"))
	f.Fuzz(func(t *testing.T, flags uint8, frame []byte) {
		l.deliver(virtionet.Header{Flags: flags}, frame)
	})
}

// discardDevice drops what the stack sends and delivers nothing itself.
type discardDevice struct{}

func (discardDevice) Send(virtionet.Header, ...[]byte) error     { return nil }
func (discardDevice) Start(func(virtionet.Header, []byte)) error { return nil }
func (discardDevice) Close() error                               { return nil }
