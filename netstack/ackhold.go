package netstack

import (
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/unigo-os/unigo/drivers/virtio/virtionet"
)

// Delayed ACKs at the link. gVisor acknowledges every batch of received
// segments at once (it has no delayed ACK), so a keep-alive request costs
// the guest two frames out: the bare ACK, then the response, which
// acknowledges the same bytes again. Each frame is gVisor's send path,
// a transmit cell, often a notification (a VM exit) and the launcher's
// and the host's work. So the link holds a bare ACK for about ackDelay:
// an outgoing segment of the same connection that acknowledges as much
// (the response) replaces it, and a second ACK while one is held goes
// out at once. As in Linux (RFC 1122 allows it), only an ACK for less
// than two full-sized segments since the connection's previous one is
// held, so a bulk sender, or one in slow start, is acknowledged at once.
// ACKs that carry SACK blocks, window updates and duplicate ACKs (no new
// acknowledgment: a receiver-limited sender waits for the window), the
// first ACK the link sees of a connection and anything with SYN, FIN,
// RST, URG or data are never held. A window update is, as in Linux's
// tcp_cleanup_rbuf, a window at least double the one last advertised
// (opening a zero window included); comparing the raw 16-bit fields is
// enough, as a connection's window scale does not change. Any segment of
// a connection (a RST without ACK too) goes after the ACK held for it.
// A held ACK that is due goes out with the link's next transmission; a
// timer every ackFlushEvery sends those still due when the link is quiet,
// so there one may wait up to ackFlushEvery+ackDelay (Linux's minimum
// delayed-ACK time is 40 ms). A write that releases held ACKs excludes
// the link's other writes until they are on the device's queues, so a
// later segment of their connection (its FIN) never overtakes them.
// A timer per hold would cost more than the ACKs it saves: on a PVM host
// every timer the guest programs is a trapped MSR write and an interrupt.
const (
	ackDelay      = 4 * time.Millisecond
	ackFlushEvery = 40 * time.Millisecond
	// ackHoldMaxAdvance: two full-sized segments on Ethernet.
	ackHoldMaxAdvance = 2 * 1460
	// ackLastMax bounds the connections whose last ACK is remembered;
	// beyond it they are forgotten (their next ACK goes at once).
	ackLastMax = 8192
)

// ackKey names a TCP connection by its addresses and ports as sent.
type ackKey struct {
	src, dst     [16]byte
	sport, dport uint16
}

// heldAck is a bare ACK the link holds: a copy of its frame.
type heldAck struct {
	frame virtionet.Frame
	sent  ackSent
	at    time.Time // when it was held
}

// ackSent is what a connection's ACK told the peer.
type ackSent struct {
	ack uint32
	wnd uint16 // the window field as sent (scaled)
}

// ackHold is a link's held ACKs.
type ackHold struct {
	fire   func() // sends what take returns; runs every ackFlushEvery while ACKs are held
	mu     sync.Mutex
	held   map[ackKey]heldAck
	last   map[ackKey]ackSent // what the ACK last sent said, by connection
	oldest time.Time          // when the oldest held ACK was held
	timer  *time.Timer        // runs fire while armed
	armed  bool
}

// ackDelayed and ackMerged count bare ACKs held and those a later
// segment made unnecessary (every link).
var ackDelayed, ackMerged atomic.Uint64

// tcpAck describes an outgoing packet for the hold: ok if it is TCP;
// noAck if without the ACK flag (ack and wnd then mean nothing); pure if
// it is a bare ACK that may be held.
type tcpAck struct {
	key             ackKey
	ack             uint32
	wnd             uint16
	ok, pure, noAck bool
	end             bool // FIN or RST: the connection's last ACK state can go
}

// classify reads pkt's headers (pushed by the network and TCP layers).
func classify(pkt *stack.PacketBuffer) tcpAck {
	if pkt.TransportProtocolNumber != header.TCPProtocolNumber {
		return tcpAck{}
	}
	return classifyTCP(pkt.NetworkProtocolNumber == header.IPv6ProtocolNumber,
		pkt.NetworkHeader().Slice(), pkt.TransportHeader().Slice(), pkt.Data().Size())
}

// classifyTCP is classify on the raw headers; payload is the TCP payload
// length.
func classifyTCP(v6 bool, nh, th []byte, payload int) tcpAck {
	var a tcpAck
	switch {
	case !v6 && len(nh) >= header.IPv4MinimumSize:
		ip := header.IPv4(nh)
		copy(a.key.src[:], ip.SourceAddressSlice())
		copy(a.key.dst[:], ip.DestinationAddressSlice())
	case v6 && len(nh) >= header.IPv6MinimumSize:
		ip := header.IPv6(nh)
		copy(a.key.src[:], ip.SourceAddressSlice())
		copy(a.key.dst[:], ip.DestinationAddressSlice())
	default:
		return tcpAck{}
	}
	if len(th) < header.TCPMinimumSize {
		return tcpAck{}
	}
	t := header.TCP(th)
	off := int(t.DataOffset())
	if off < header.TCPMinimumSize || off > len(th) {
		return tcpAck{}
	}
	flags := t.Flags()
	a.key.sport, a.key.dport = t.SourcePort(), t.DestinationPort()
	a.ok = true
	a.end = flags&(header.TCPFlagFin|header.TCPFlagRst) != 0
	if flags&header.TCPFlagAck == 0 {
		a.noAck = true
		return a
	}
	a.ack = t.AckNumber()
	a.wnd = t.WindowSize()
	a.pure = flags == header.TCPFlagAck && payload == 0 && len(th) == off && !hasSACK(th[header.TCPMinimumSize:off])
	return a
}

// hasSACK reports whether TCP options carry a SACK block (kind 5).
func hasSACK(opts []byte) bool {
	for i := 0; i < len(opts); {
		switch opts[i] {
		case header.TCPOptionEOL:
			return false
		case header.TCPOptionNOP:
			i++
			continue
		case header.TCPOptionSACK:
			return true
		}
		if i+1 >= len(opts) || opts[i+1] < 2 {
			return true // malformed: do not hold it
		}
		i += int(opts[i+1])
	}
	return false
}

// windowUpdate reports whether an ACK advertising wnd updates the window
// last advertised: at least doubles it (from zero: opens it).
func windowUpdate(last, wnd uint16) bool {
	return wnd > last && uint32(wnd) >= 2*uint32(last)
}

// ackAfterEq reports whether a acknowledges at least as much as b
// (sequence-number arithmetic).
func ackAfterEq(a, b uint32) bool { return int32(a-b) >= 0 }

// filter takes the batch's packets in order and returns the frames to
// send now, in order: bare ACKs it holds are left out, held ACKs that
// must go before a packet of their connection are put in front of it,
// and held ACKs a packet supersedes are dropped. pkts[i]'s frames are
// b.frames where b.owner is i. If release, held ACKs that are due go at
// the end (the caller then excludes other writes until they are sent).
// The flush timer is armed when an ACK is held and it is not.
func (h *ackHold) filter(b *txBatch, info []tcpAck, release bool) (out []virtionet.Frame, owner []int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held == nil {
		h.held = make(map[ackKey]heldAck)
		h.last = make(map[ackKey]ackSent)
	}
	out = b.frames[:0:0]
	owner = b.owner[:0:0]
	for j, f := range b.frames {
		i := b.owner[j]
		a := info[i]
		if !a.ok {
			out, owner = append(out, f), append(owner, i)
			continue
		}
		old, has := h.held[a.key]
		last, known := h.last[a.key]
		if a.noAck { // a RST (or a SYN): after the held ACK; the connection's state is over
			if has {
				delete(h.held, a.key)
				out, owner = append(out, old.frame), append(owner, i)
			}
			out, owner = append(out, f), append(owner, i)
			delete(h.last, a.key)
			continue
		}
		if a.pure && !has && known && a.ack != last.ack && ackAfterEq(a.ack, last.ack) &&
			a.ack-last.ack < ackHoldMaxAdvance && !windowUpdate(last.wnd, a.wnd) {
			now := time.Now()
			if len(h.held) == 0 {
				h.oldest = now
			}
			h.held[a.key] = heldAck{frame: copyFrame(f), sent: ackSent{a.ack, a.wnd}, at: now}
			ackDelayed.Add(1)
			continue
		}
		if has {
			delete(h.held, a.key)
			if a.ack != old.sent.ack && ackAfterEq(a.ack, old.sent.ack) {
				ackMerged.Add(1) // this packet acknowledges more
			} else if !a.pure && a.ack == old.sent.ack {
				ackMerged.Add(1) // the response: the same acknowledgment, with data
			} else {
				out, owner = append(out, old.frame), append(owner, i) // a duplicate ACK or older: both go
			}
		}
		out, owner = append(out, f), append(owner, i)
		switch {
		case a.end:
			delete(h.last, a.key)
		case len(h.last) >= ackLastMax && !known:
			clear(h.last)
			fallthrough
		default:
			h.last[a.key] = ackSent{a.ack, a.wnd}
		}
	}
	if release && len(h.held) > 0 && len(owner) > 0 {
		if now := time.Now(); !now.Before(h.oldest.Add(ackDelay)) {
			last := owner[len(owner)-1]
			for _, f := range h.takeLocked(now) {
				out, owner = append(out, f), append(owner, last)
			}
		}
	}
	if len(h.held) > 0 && !h.armed {
		h.armed = true
		if h.timer == nil {
			h.timer = time.AfterFunc(ackFlushEvery, h.fire)
		} else {
			h.timer.Reset(ackFlushEvery)
		}
	}
	return out, owner
}

// due reports whether a held ACK has been held for ackDelay by now.
func (h *ackHold) due(now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.held) > 0 && !now.Before(h.oldest.Add(ackDelay))
}

// take removes and returns the ACKs held for ackDelay by now, for the
// flush timer, and re-arms it if any are left.
func (h *ackHold) take(now time.Time) []virtionet.Frame {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.takeLocked(now)
	h.armed = len(h.held) > 0
	if h.armed {
		h.timer.Reset(ackFlushEvery)
	}
	return out
}

// takeLocked removes and returns the ACKs held for ackDelay by now.
func (h *ackHold) takeLocked(now time.Time) []virtionet.Frame {
	var out []virtionet.Frame
	var oldest time.Time
	for k, a := range h.held {
		if !a.at.Add(ackDelay).After(now) {
			out = append(out, a.frame)
			delete(h.held, k)
			h.last[k] = a.sent
		} else if oldest.IsZero() || a.at.Before(oldest) {
			oldest = a.at
		}
	}
	h.oldest = oldest
	return out
}

// copyFrame copies a frame's parts into one buffer: the packet's views
// are gVisor's, released when WritePackets returns.
func copyFrame(f virtionet.Frame) virtionet.Frame {
	size := 0
	for _, p := range f.Parts {
		size += len(p)
	}
	c := make([]byte, 0, size)
	for _, p := range f.Parts {
		c = append(c, p...)
	}
	return virtionet.Frame{Header: f.Header, Parts: [][]byte{c}}
}
