package netstack

import (
	"github.com/unigo-os/unigo/abi"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/unigo-os/unigo/drivers/virtio/virtionet"
)

// Transmit offloads. With VIRTIO_NET_F_CSUM negotiated the link tells
// gVisor it does host GSO (stack.HostGSOSupported), as gVisor's own
// fdbased endpoint does over a TAP with a virtio_net_hdr: TCP then leaves
// its checksum partial (the pseudo-header sum only, pkt.GSOOptions.
// NeedsCsum) and hands the link packets of up to gsoMaxSize bytes, which
// go to the device as one TSO frame when TSO for that IP version was
// negotiated, else are cut to the MSS here (segment) with each segment's
// checksum still left to the device. Everything else (UDP, ICMP, ARP,
// TCP resets the stack sends outside a connection) carries complete
// checksums: the link does not claim CapabilityTXChecksumOffload, which
// would make gVisor leave those out entirely rather than partial.
// With nothing negotiated (QEMU's user networking) the link claims no
// GSO and every frame is complete, as before.

// gsoMaxSize bounds a GSO packet: gVisor keeps its TCP payload under
// gsoMaxSize-161 bytes, so with the largest TCP header (60), an IPv6
// header (40) and Ethernet (14) the frame stays within
// virtionet.MaxSendFrame and an IPv4 total length within 16 bits.
const gsoMaxSize = 1 << 16

// GSOMaxSize implements stack.GSOEndpoint.
func (l *link) GSOMaxSize() uint32 {
	if l.offloads.TXChecksum {
		return gsoMaxSize
	}
	return 0
}

// SupportedGSO implements stack.GSOEndpoint.
func (l *link) SupportedGSO() stack.SupportedGSO {
	if l.offloads.TXChecksum {
		return stack.HostGSOSupported
	}
	return stack.GSONotSupported
}

var _ stack.GSOEndpoint = (*link)(nil)

// txBatch collects the frames of one WritePackets call for SendBatch,
// with the index of the packet each frame belongs to.
type txBatch struct {
	frames []virtionet.Frame
	owner  []int
}

func (b *txBatch) add(pkt int, h virtionet.Header, parts [][]byte) {
	b.frames = append(b.frames, virtionet.Frame{Header: h, Parts: parts})
	b.owner = append(b.owner, pkt)
}

// appendPacket adds the frames for packet number i (its Ethernet header
// already pushed) to b: one frame, or its software segments.
func (l *link) appendPacket(b *txBatch, i int, pkt *stack.PacketBuffer) {
	gso := pkt.GSOOptions
	if gso.Type == stack.GSONone || !gso.NeedsCsum || !l.offloads.TXChecksum {
		b.add(i, virtionet.Header{}, pkt.AsSlices())
		return
	}
	ethLen := len(pkt.LinkHeader().Slice())
	l4 := ethLen + len(pkt.NetworkHeader().Slice())
	h := virtionet.Header{
		Flags:      abi.VirtioNetHdrFNeedsCsum,
		CsumStart:  uint16(l4),
		CsumOffset: gso.CsumOffset,
	}
	if pkt.Data().Size() <= int(gso.MSS) || gso.MSS == 0 {
		b.add(i, h, pkt.AsSlices())
		return
	}
	switch {
	case gso.Type == stack.GSOTCPv4 && l.offloads.TSO4:
		h.GSOType = abi.VirtioNetHdrGSOTCPv4
	case gso.Type == stack.GSOTCPv6 && l.offloads.TSO6:
		h.GSOType = abi.VirtioNetHdrGSOTCPv6
	default:
		segment(b, i, pkt, h, ethLen, l4, int(gso.MSS))
		return
	}
	h.HdrLen = uint16(pkt.HeaderSize())
	h.GSOSize = gso.MSS
	b.add(i, h, pkt.AsSlices())
}

// segment cuts a TCP packet whose payload exceeds mss into frames of at
// most mss payload bytes, as a device does for TSO (and Linux's software
// GSO): each frame gets a copy of the headers with its IP length (and
// IPv4 id and header checksum), sequence number and pseudo-header
// checksum; FIN and PSH stay on the last frame only, CWR on the first.
// The TCP checksum is left to the device, as h (NEEDS_CSUM) says.
func segment(b *txBatch, i int, pkt *stack.PacketBuffer, h virtionet.Header, ethLen, l4, mss int) {
	all := pkt.AsSlices()
	hl := pkt.HeaderSize()
	hdr := make([]byte, 0, hl)
	payload := all
	for len(hdr) < hl {
		k := min(hl-len(hdr), len(payload[0]))
		hdr = append(hdr, payload[0][:k]...)
		if k == len(payload[0]) {
			payload = payload[1:]
		} else {
			payload[0] = payload[0][k:]
		}
	}
	ip := hdr[ethLen:l4]
	tcpLen := hl - l4
	tcp := header.TCP(hdr[l4:])
	seq, flags := tcp.SequenceNumber(), tcp.Flags()
	var src, dst tcpip.Address
	v4 := pkt.NetworkProtocolNumber == header.IPv4ProtocolNumber
	var id uint16
	if v4 {
		src, dst, id = header.IPv4(ip).SourceAddress(), header.IPv4(ip).DestinationAddress(), header.IPv4(ip).ID()
	} else {
		src, dst = header.IPv6(ip).SourceAddress(), header.IPv6(ip).DestinationAddress()
	}
	n := pkt.Data().Size()
	for off, k := 0, 0; off < n; off, k = off+mss, k+1 {
		seg := min(mss, n-off)
		fh := make([]byte, hl)
		copy(fh, hdr)
		fip := fh[ethLen:l4]
		if v4 {
			ip4 := header.IPv4(fip)
			ip4.SetTotalLength(uint16(len(fip) + tcpLen + seg))
			ip4.SetID(id + uint16(k))
			ip4.SetChecksum(0)
			ip4.SetChecksum(^ip4.CalculateChecksum())
		} else {
			header.IPv6(fip).SetPayloadLength(uint16(len(fip) - header.IPv6MinimumSize + tcpLen + seg))
		}
		ftcp := header.TCP(fh[l4:])
		ftcp.SetSequenceNumber(seq + uint32(off))
		f := flags
		if off+seg < n {
			f &^= header.TCPFlagFin | header.TCPFlagPsh
		}
		if off > 0 {
			f &^= header.TCPFlagCwr
		}
		ftcp.SetFlags(uint8(f))
		ftcp.SetChecksum(header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, uint16(tcpLen+seg)))
		parts := [][]byte{fh}
		parts, payload = cutParts(parts, payload, seg)
		b.add(i, h, parts)
	}
}

// cutParts appends the first n bytes of src (a list of slices) to dst and
// returns what is left of src.
func cutParts(dst, src [][]byte, n int) ([][]byte, [][]byte) {
	for n > 0 && len(src) > 0 {
		k := min(n, len(src[0]))
		dst = append(dst, src[0][:k])
		n -= k
		if k == len(src[0]) {
			src = src[1:]
		} else {
			src[0] = src[0][k:]
		}
	}
	return dst, src
}
