package netstack

import (
	"sync"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/unigo-os/unigo/drivers/virtio/virtionet"
)

// nicDevice is what a link needs of its device: *virtionet.Device (the
// fuzz test supplies a stand-in).
type nicDevice interface {
	Send(h virtionet.Header, parts ...[]byte) error
	Start(rx func(h virtionet.Header, frame []byte)) error
	Close() error
}

// link is a gVisor link endpoint over a virtio-net device: Ethernet
// frames out through Device.Send, in from the driver's receive goroutine.
// Checksums the device validated are not checked again.
type link struct {
	dev  nicDevice
	addr tcpip.LinkAddress
	mtu  uint32

	mu         sync.RWMutex
	dispatcher stack.NetworkDispatcher
	started    bool
	onClose    func()
}

var _ stack.LinkEndpoint = (*link)(nil)

func newLink(dev *virtionet.Device) *link {
	mac := dev.MAC()
	return &link{dev: dev, addr: tcpip.LinkAddress(mac[:]), mtu: uint32(dev.MTU())}
}

func (l *link) MTU() uint32             { return l.mtu }
func (l *link) SetMTU(mtu uint32)       {}
func (l *link) MaxHeaderLength() uint16 { return header.EthernetMinimumSize }
func (l *link) LinkAddress() tcpip.LinkAddress {
	return l.addr
}
func (l *link) SetLinkAddress(a tcpip.LinkAddress) {}
func (l *link) Capabilities() stack.LinkEndpointCapabilities {
	return stack.CapabilityResolutionRequired
}
func (l *link) Wait()                                   {}
func (l *link) ARPHardwareType() header.ARPHardwareType { return header.ARPHardwareEther }
func (l *link) SetOnCloseAction(f func())               { l.onClose = f }

func (l *link) Close() {
	l.dev.Close()
	if l.onClose != nil {
		l.onClose()
	}
}

// Attach connects the stack and starts receiving.
func (l *link) Attach(d stack.NetworkDispatcher) {
	l.mu.Lock()
	l.dispatcher = d
	start := !l.started && d != nil
	l.started = l.started || start
	l.mu.Unlock()
	if start {
		l.dev.Start(l.deliver)
	}
}

func (l *link) IsAttached() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.dispatcher != nil
}

// AddHeader prepends the Ethernet header.
func (l *link) AddHeader(pkt *stack.PacketBuffer) {
	eth := header.Ethernet(pkt.LinkHeader().Push(header.EthernetMinimumSize))
	src := pkt.EgressRoute.LocalLinkAddress
	if src == "" {
		src = l.addr
	}
	eth.Encode(&header.EthernetFields{
		Type:    pkt.NetworkProtocolNumber,
		SrcAddr: src,
		DstAddr: pkt.EgressRoute.RemoteLinkAddress,
	})
}

// ParseHeader consumes the Ethernet header of a received packet.
func (l *link) ParseHeader(pkt *stack.PacketBuffer) bool {
	_, ok := pkt.LinkHeader().Consume(header.EthernetMinimumSize)
	return ok
}

// WritePackets sends each packet as one frame.
func (l *link) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	n := 0
	for _, pkt := range pkts.AsSlice() {
		if err := l.dev.Send(virtionet.Header{}, pkt.AsSlices()...); err != nil {
			if n == 0 {
				if err == virtionet.ErrQueueFull {
					return 0, &tcpip.ErrWouldBlock{}
				}
				return 0, &tcpip.ErrClosedForSend{}
			}
			break
		}
		n++
	}
	return n, nil
}

// deliver hands a received frame to the stack. The driver reuses frame
// after the call, so the packet gets a copy.
func (l *link) deliver(h virtionet.Header, frame []byte) {
	if len(frame) < header.EthernetMinimumSize {
		return
	}
	l.mu.RLock()
	d := l.dispatcher
	l.mu.RUnlock()
	if d == nil {
		return
	}
	proto := header.Ethernet(frame).Type()
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(frame)})
	defer pkt.DecRef()
	if !l.ParseHeader(pkt) {
		return
	}
	// The device either validated the checksums or, for a frame from
	// the same host, left them to be filled (which makes them valid).
	pkt.RXChecksumValidated = h.Flags&(virtionet.FlagDataValid|virtionet.FlagNeedsCsum) != 0
	d.DeliverNetworkPacket(proto, pkt)
}
