// Command virtionet drives the first virtio-net device with no network
// stack: it prints the MAC, MTU and negotiated offloads, asks the gateway
// of QEMU's user networking (10.0.2.2, we being 10.0.2.15) for its MAC
// with an ARP request and pings it with an MTU-sized ICMP echo, checking
// the reply's payload. The argument "level" attaches the interrupt line as
// level-triggered.
package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"github.com/unigo-os/unigo/abi"
	"os"
	"sync/atomic"
	"time"

	"github.com/unigo-os/unigo/drivers/virtio/virtionet"
)

// maxFrame and gsoFrames record the largest frame received and how many
// came with a GSO type (coalesced by the host: VIRTIO_NET_F_GUEST_TSO4).
var (
	maxFrame  atomic.Int64
	gsoFrames atomic.Int64
	chanDrops atomic.Int64 // frames the test's own channel had no room for
)

var (
	guestIP   = ipv4{10, 0, 2, 15}
	gatewayIP = ipv4{10, 0, 2, 2}
)

func fail(format string, args ...any) {
	fmt.Printf("virtionet: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	var level, tso bool
	for _, a := range os.Args[1:] {
		level = level || a == "level"
		tso = tso || a == "tso"
	}
	devs, err := virtionet.ProbeWith(virtionet.Options{LevelIRQ: level})
	if err != nil {
		fail("probe: %v", err)
	}
	if len(devs) == 0 {
		fail("no virtio-net device")
	}
	d := devs[0]
	mac := d.MAC()
	fmt.Printf("virtionet: mac=%v mtu=%d link=%v\n", hwAddr(mac[:]), d.MTU(), d.LinkUp())
	fmt.Printf("virtionet: offloads %+v\n", d.Offloads())

	frames := make(chan []byte, 256)
	if err := d.Start(func(h virtionet.Header, frame []byte) {
		if len(frame) > int(maxFrame.Load()) {
			maxFrame.Store(int64(len(frame)))
		}
		if h.GSOType != abi.VirtioNetHdrGSONone {
			gsoFrames.Add(1)
		}
		select {
		case frames <- bytes.Clone(frame):
		default:
			chanDrops.Add(1)
		}
	}); err != nil {
		fail("start: %v", err)
	}

	// ARP: who has 10.0.2.2? tell 10.0.2.15.
	arp := make([]byte, 42)
	copy(arp[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(arp[6:12], mac[:])
	binary.BigEndian.PutUint16(arp[12:], 0x0806)
	binary.BigEndian.PutUint16(arp[14:], 1)      // Ethernet
	binary.BigEndian.PutUint16(arp[16:], 0x0800) // IPv4
	arp[18], arp[19] = 6, 4
	binary.BigEndian.PutUint16(arp[20:], 1) // request
	copy(arp[22:28], mac[:])
	copy(arp[28:32], guestIP)
	copy(arp[38:42], gatewayIP)
	var gwMAC hwAddr
	wait(d, frames, func() error { return d.Send(virtionet.Header{}, arp[:14], arp[14:]) }, func(f []byte) bool {
		if len(f) >= 42 && binary.BigEndian.Uint16(f[12:]) == 0x0806 && binary.BigEndian.Uint16(f[20:]) == 2 &&
			bytes.Equal(f[28:32], gatewayIP) {
			gwMAC = hwAddr(bytes.Clone(f[22:28]))
			return true
		}
		return false
	})
	fmt.Printf("virtionet: gateway %v is at %v\n", gatewayIP, gwMAC)

	// ICMP echo filling the MTU: with a 9000-byte MTU the frame spans
	// several transmit cells and several mergeable receive buffers.
	payload := make([]byte, d.MTU()-20-8)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	ping := make([]byte, 14+20+8+len(payload))
	copy(ping[0:6], gwMAC)
	copy(ping[6:12], mac[:])
	binary.BigEndian.PutUint16(ping[12:], 0x0800)
	ip := ping[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	ip[8], ip[9] = 64, 1 // TTL, ICMP
	copy(ip[12:16], guestIP)
	copy(ip[16:20], gatewayIP)
	binary.BigEndian.PutUint16(ip[10:], checksum(ip))
	icmp := ping[34:]
	icmp[0] = 8 // echo request
	binary.BigEndian.PutUint16(icmp[4:], 0x1234)
	binary.BigEndian.PutUint16(icmp[6:], 1)
	copy(icmp[8:], payload)
	binary.BigEndian.PutUint16(icmp[2:], checksum(icmp))
	wait(d, frames, func() error { return d.Send(virtionet.Header{}, ping) }, func(f []byte) bool {
		return len(f) >= 42 && binary.BigEndian.Uint16(f[12:]) == 0x0800 && f[23] == 1 &&
			f[34] == 0 && bytes.Equal(f[42:], payload)
	})
	fmt.Printf("virtionet: echo reply from %v with %d bytes\n", gatewayIP, len(payload))
	if d.Offloads().TXChecksum {
		udpChecksumOffload(d, frames, mac, gwMAC)
	}
	if tso {
		if !d.Offloads().TSO4 {
			fail("tso: TSO4 not negotiated")
		}
		tcpSegmentationOffload(d, frames, mac, gwMAC)
	}
	s := d.Stats()
	fmt.Printf("virtionet: stats rx=%d tx=%d dropped=%d\n", s.RXFrames, s.TXFrames, s.RXDropped)
	if err := d.Close(); err != nil {
		fail("close: %v", err)
	}
	if err := d.Send(virtionet.Header{}, arp); err != virtionet.ErrClosed {
		fail("send after close: %v", err)
	}
	fmt.Println("virtionet: ok")
}

// wait sends with send once a second until match accepts a received frame.
func wait(d *virtionet.Device, frames chan []byte, send func() error, match func([]byte) bool) {
	deadline := time.After(20 * time.Second)
	for {
		if err := send(); err != nil {
			fail("send: %v", err)
		}
		tick := time.After(time.Second)
	recv:
		for {
			select {
			case f := <-frames:
				if match(f) {
					return
				}
			case <-tick:
				break recv
			case <-deadline:
				fail("no answer; stats %+v", d.Stats())
			}
		}
	}
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// udpChecksumOffload sends a UDP datagram to a closed port of the gateway
// with only the pseudo-header sum in its checksum field (FlagNeedsCsum):
// unless the device honours the flag (completes the checksum, or hands the
// frame on as checksum-partial), the gateway drops it instead of answering
// "port unreachable".
func udpChecksumOffload(d *virtionet.Device, frames chan []byte, mac [6]byte, gwMAC hwAddr) {
	payload := []byte("checksum offload")
	f := make([]byte, 14+20+8+len(payload))
	copy(f[0:6], gwMAC)
	copy(f[6:12], mac[:])
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	ip[8], ip[9] = 64, 17 // TTL, UDP
	copy(ip[12:16], guestIP)
	copy(ip[16:20], gatewayIP)
	binary.BigEndian.PutUint16(ip[10:], checksum(ip))
	udp := f[34:]
	binary.BigEndian.PutUint16(udp[0:], 40000)
	binary.BigEndian.PutUint16(udp[2:], 9) // discard: closed
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	copy(udp[8:], payload)
	pseudo := make([]byte, 12)
	copy(pseudo[0:4], guestIP)
	copy(pseudo[4:8], gatewayIP)
	pseudo[9] = 17
	binary.BigEndian.PutUint16(pseudo[10:], uint16(len(udp)))
	binary.BigEndian.PutUint16(udp[6:], ^checksum(pseudo)) // partial: not complemented
	h := virtionet.Header{Flags: abi.VirtioNetHdrFNeedsCsum, CsumStart: 34, CsumOffset: 6}
	wait(d, frames, func() error { return d.Send(h, f) }, func(r []byte) bool {
		return len(r) >= 42 && binary.BigEndian.Uint16(r[12:]) == 0x0800 && r[23] == 1 &&
			r[34] == 3 && r[35] == 3 // ICMP destination unreachable, port
	})
	fmt.Printf("virtionet: checksum offload: port unreachable from %v\n", gatewayIP)
}

// tcpSegmentationOffload opens a TCP connection to 10.0.2.2:7777 by hand,
// sends 20,000 bytes as one GSO_TCPV4 frame with a partial checksum, and
// waits until the peer has acknowledged every byte and the FIN: the
// device took the offload header as meant (over QEMU's TAP backend the
// host kernel receives the frame as one GSO packet and would drop one
// whose header fields did not fit it).
func tcpSegmentationOffload(d *virtionet.Device, frames chan []byte, mac [6]byte, gwMAC hwAddr) {
	const (
		srcPort, dstPort = 40001, 7777
		isn              = 1000
		n                = 20000
		synFlag, rstFlag = 0x02, 0x04
		ackFlag, finFlag = 0x10, 0x01
		pshFlag          = 0x08
	)
	segment := func(seq, ack uint32, flags byte, data []byte) ([]byte, virtionet.Header) {
		f := make([]byte, 14+20+20+len(data))
		copy(f[0:6], gwMAC)
		copy(f[6:12], mac[:])
		binary.BigEndian.PutUint16(f[12:], 0x0800)
		ip := f[14:34]
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(40+len(data)))
		binary.BigEndian.PutUint16(ip[6:], 0x4000) // DF
		ip[8], ip[9] = 64, 6
		copy(ip[12:16], guestIP)
		copy(ip[16:20], gatewayIP)
		binary.BigEndian.PutUint16(ip[10:], checksum(ip))
		tcp := f[34:]
		binary.BigEndian.PutUint16(tcp[0:], srcPort)
		binary.BigEndian.PutUint16(tcp[2:], dstPort)
		binary.BigEndian.PutUint32(tcp[4:], seq)
		binary.BigEndian.PutUint32(tcp[8:], ack)
		tcp[12] = 5 << 4
		tcp[13] = flags
		binary.BigEndian.PutUint16(tcp[14:], 65535)
		copy(tcp[20:], data)
		pseudo := make([]byte, 12)
		copy(pseudo[0:4], guestIP)
		copy(pseudo[4:8], gatewayIP)
		pseudo[9] = 6
		binary.BigEndian.PutUint16(pseudo[10:], uint16(len(tcp)))
		binary.BigEndian.PutUint16(tcp[16:], ^checksum(pseudo)) // partial
		h := virtionet.Header{Flags: abi.VirtioNetHdrFNeedsCsum, CsumStart: 34, CsumOffset: 16}
		if len(data) > 1448 {
			h.GSOType, h.HdrLen, h.GSOSize = abi.VirtioNetHdrGSOTCPv4, 54, 1448
		}
		return f, h
	}
	// reply parses a segment from the peer: flags, seq, ack.
	reply := func(f []byte) (flags byte, seq, ack uint32, ok bool) {
		if len(f) < 34 || binary.BigEndian.Uint16(f[12:]) != 0x0800 || f[23] != 6 {
			return 0, 0, 0, false
		}
		ihl := int(f[14]&15) * 4
		if len(f) < 14+ihl+20 {
			return 0, 0, 0, false
		}
		tcp := f[14+ihl:]
		if binary.BigEndian.Uint16(tcp[0:]) != dstPort || binary.BigEndian.Uint16(tcp[2:]) != srcPort {
			return 0, 0, 0, false
		}
		return tcp[13], binary.BigEndian.Uint32(tcp[4:]), binary.BigEndian.Uint32(tcp[8:]), true
	}
	var peerISN uint32
	syn, sh := segment(isn, 0, synFlag, nil)
	wait(d, frames, func() error { return d.Send(sh, syn) }, func(f []byte) bool {
		flags, seq, ack, ok := reply(f)
		if ok && flags&(synFlag|ackFlag) == synFlag|ackFlag && ack == isn+1 {
			peerISN = seq
			return true
		}
		return false
	})
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i % 251)
	}
	ackSeg, ah := segment(isn+1, peerISN+1, ackFlag, nil)
	big, bh := segment(isn+1, peerISN+1, ackFlag|pshFlag, data)
	fin, fh := segment(isn+1+n, peerISN+1, ackFlag|finFlag, nil)
	sent := false
	wait(d, frames, func() error {
		if !sent { // the handshake's ACK once; data and FIN on every retry
			sent = true
			if err := d.Send(ah, ackSeg); err != nil {
				return err
			}
		}
		if err := d.Send(bh, big); err != nil {
			return err
		}
		return d.Send(fh, fin)
	}, func(f []byte) bool {
		flags, _, ack, ok := reply(f)
		if ok && flags&rstFlag != 0 {
			fail("tso: connection reset")
		}
		return ok && flags&ackFlag != 0 && ack == isn+1+n+1
	})
	fmt.Printf("virtionet: tso: peer acknowledged %d bytes sent as one frame\n", n)

	// The peer now sends 100,000 bytes (it accepted the connection and
	// writes them): reassemble and acknowledge until all has arrived.
	const want = 100000
	rcvNext := peerISN + 1
	var last string
	early := map[uint32][]byte{} // segments received ahead of rcvNext
	deadline := time.Now().Add(60 * time.Second)
	for rcvNext != peerISN+1+want {
		if time.Now().After(deadline) {
			fail("tso: received %d of %d bytes; stats %+v; channel drops %d; last %s",
				rcvNext-peerISN-1, want, d.Stats(), chanDrops.Load(), last)
		}
		select {
		case f := <-frames:
			flags, seq, _, ok := reply(f)
			if !ok || flags&rstFlag != 0 {
				continue
			}
			ihl := int(f[14]&15) * 4
			tcp := f[14+ihl:]
			thl := int(tcp[12]>>4) * 4
			total := int(binary.BigEndian.Uint16(f[16:]))
			if total < ihl+thl || 14+total > len(f) {
				fail("tso: malformed segment: total length %d, frame %d", total, len(f))
			}
			payload := tcp[thl : total-ihl]
			last = fmt.Sprintf("seq +%d len %d (want +%d)", seq-peerISN-1, len(payload), rcvNext-peerISN-1)
			if len(payload) == 0 || int32(seq-rcvNext) >= 1<<20 {
				continue
			}
			// Keep every segment until it can be taken in order: with
			// two queue pairs a flow may be reordered between queues.
			early[seq] = payload
			for progress := true; progress; {
				progress = false
				for sq, p := range early {
					skip := rcvNext - sq
					if int32(skip) < 0 {
						continue
					}
					delete(early, sq)
					if int64(skip) >= int64(len(p)) {
						continue
					}
					for i, c := range p[skip:] {
						if c != byte((int(rcvNext-peerISN-1)+i)%251) {
							fail("tso: byte %d is %d", int(rcvNext-peerISN-1)+i, c)
						}
					}
					rcvNext += uint32(len(p)) - skip
					progress = true
				}
			}
		case <-time.After(200 * time.Millisecond):
		}
		a, h := segment(isn+1+n+1, rcvNext, ackFlag, nil)
		if err := d.Send(h, a); err != nil {
			fail("tso: send ack: %v", err)
		}
	}
	fmt.Printf("virtionet: tso: received %d bytes, largest frame %d bytes, %d with a GSO type\n",
		want, maxFrame.Load(), gsoFrames.Load())
}

// hwAddr prints a MAC address as net.HardwareAddr does. The program does
// not import net: unigo build would link the netstack, which would take
// the device this program drives itself.
type hwAddr []byte

func (a hwAddr) String() string {
	s := ""
	for i, b := range a {
		if i > 0 {
			s += ":"
		}
		s += fmt.Sprintf("%02x", b)
	}
	return s
}

// ipv4 prints as net.IP does.
type ipv4 []byte

func (a ipv4) String() string { return fmt.Sprintf("%d.%d.%d.%d", a[0], a[1], a[2], a[3]) }
