package netstack

import (
	"fmt"
	"github.com/unigo-os/unigo/abi"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/loopback"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// NIC ids.
const (
	loopbackNIC tcpip.NICID = 1
)

var (
	theStack *stack.Stack
	started  sync.Once
)

func init() {
	fd, errno := attach()
	if errno != 0 {
		// Not booted by unigo (a Linux process): Linux has the network.
		return
	}
	theStack = newStack()
	if err := addLoopback(theStack); err != nil {
		fmt.Fprintf(os.Stderr, "unigo: netstack: loopback: %v\n", err)
	}
	configureDevices(theStack)
	go dispatch(os.NewFile(uintptr(fd), "netstack-channel"))
}

// newStack makes the gVisor stack with the protocols a Go program uses.
func newStack() *stack.Stack {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4, icmp.NewProtocol6},
		HandleLocal:        true,
	})
	sack := tcpip.TCPSACKEnabled(true)
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack)
	// Loss detection by duplicate ACKs and the retransmission timer, not
	// RACK: RACK judges a segment lost by time, and a guest's timing
	// jitters with its vCPUs' scheduling on the host, so it retransmitted
	// what had arrived (a TAP peer counted 14-40 duplicate segments per
	// 128 MiB sent, 1-3 without RACK) and stalled bulk sends: median
	// 42 MB/s with RACK against 71 MB/s without, 8 alternating runs.
	recovery := tcpip.TCPRecovery(0)
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &recovery)
	moderate := tcpip.TCPModerateReceiveBufferOption(true)
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &moderate)
	// Buffers start at 2 MiB, not Linux's 128 KiB, and grow to 4 MiB:
	// a guest drains and fills its sockets in bursts between host
	// scheduling gaps, and with 128 KiB a host sender spent most of an
	// upload waiting for window (gVisor's receive moderation did not grow
	// it, and it has none for send buffers; docs/BENCHMARKS.md). A size
	// is a limit, not an allocation.
	rcv := tcpip.TCPReceiveBufferSizeRangeOption{Min: 4096, Default: 2 << 20, Max: 4 << 20}
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &rcv)
	snd := tcpip.TCPSendBufferSizeRangeOption{Min: 4096, Default: 2 << 20, Max: 4 << 20}
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &snd)
	return s
}

func addLoopback(s *stack.Stack) error {
	if err := s.CreateNIC(loopbackNIC, loopback.New()); err != nil {
		return fmt.Errorf("create NIC: %v", err)
	}
	v4 := tcpip.ProtocolAddress{
		Protocol:          ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4([4]byte{127, 0, 0, 1}), PrefixLen: 8},
	}
	if err := s.AddProtocolAddress(loopbackNIC, v4, stack.AddressProperties{}); err != nil {
		return fmt.Errorf("add 127.0.0.1: %v", err)
	}
	v6 := tcpip.ProtocolAddress{
		Protocol:          ipv6.ProtocolNumber,
		AddressWithPrefix: tcpip.AddrFrom16([16]byte{15: 1}).WithPrefix(),
	}
	if err := s.AddProtocolAddress(loopbackNIC, v6, stack.AddressProperties{}); err != nil {
		return fmt.Errorf("add ::1: %v", err)
	}
	sub4, _ := tcpip.NewSubnet(tcpip.AddrFrom4([4]byte{127, 0, 0, 0}), tcpip.MaskFromBytes([]byte{255, 0, 0, 0}))
	s.AddRoute(tcpip.Route{Destination: sub4, NIC: loopbackNIC})
	s.AddRoute(tcpip.Route{Destination: v6.AddressWithPrefix.Subnet(), NIC: loopbackNIC})
	return nil
}

// dispatch reads the kernel's events and routes each to its socket,
// creating sockets as the program makes them.
func dispatch(ch *os.File) {
	const size = int(unsafe.Sizeof(abi.NetEvent{}))
	buf := make([]byte, 64*size)
	for {
		n, err := ch.Read(buf)
		if err != nil {
			fmt.Fprintf(os.Stderr, "unigo: netstack: channel: %v\n", err)
			return
		}
		for off := 0; off+size <= n; off += size {
			ev := (*abi.NetEvent)(unsafe.Pointer(&buf[off]))
			route(ev)
		}
	}
}

func route(ev *abi.NetEvent) {
	socketsMu.Lock()
	s := sockets[ev.ID]
	if s == nil && ev.Pend&abi.NetEvCreate != 0 {
		ep, wq, errno := createEndpoint(ev.Domain, ev.Type)
		if errno != 0 {
			socketsMu.Unlock()
			fmt.Fprintf(os.Stderr, "unigo: netstack: socket(%d, %d): %v\n", ev.Domain, ev.Type, errno)
			failSocket(ev, errno)
			return
		}
		s = newSocket(ev.ID, ev.Domain, ev.Type, ep, wq)
		sockets[ev.ID] = s
	}
	socketsMu.Unlock()
	if s == nil {
		// An event for a socket already finished; nothing to do.
		return
	}
	s.mu.Lock()
	if ev.Pend&abi.NetEvRequest != 0 {
		s.ev.Req, s.ev.Arg, s.ev.AddrLen, s.ev.Addr = ev.Req, ev.Arg, ev.AddrLen, ev.Addr
	}
	s.ev.Opts = ev.Opts
	s.ev.Shut = ev.Shut
	s.mu.Unlock()
	s.post(ev.Pend)
}

// failSocket answers for a socket whose endpoint could not be made: its
// requests fail, and it is released at once.
func failSocket(ev *abi.NetEvent, errno syscall.Errno) {
	if ev.Pend&abi.NetEvRequest != 0 {
		netReply(ev.ID, errno, nil)
	}
	netState(ev.ID, abi.NetStError, errno, nil, nil)
	netRelease(ev.ID)
}
