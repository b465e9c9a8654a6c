package netstack

import (
	"github.com/unigo-os/unigo/abi"
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/unigo-os/unigo/drivers/virtio"
	"github.com/unigo-os/unigo/drivers/virtio/virtionet"
)

// nicDevice is what a link needs of its device: *virtionet.Device (the
// fuzz test supplies a stand-in).
type nicDevice interface {
	Send(h virtionet.Header, parts ...[]byte) error
	Start(rx func(h virtionet.Header, frame []byte)) error
	Close() error
}

// batchDevice is a device that can queue several frames with one
// notification (*virtionet.Device does).
type batchDevice interface {
	SendBatch(frames []virtionet.Frame) (int, error)
}

// link is a gVisor link endpoint over a virtio-net device: Ethernet
// frames out through Device.Send, in from the driver's receive goroutine.
// Checksums the device validated are not checked again; transmit
// offloads the device negotiated are used (offload.go).
type link struct {
	dev      nicDevice
	addr     tcpip.LinkAddress
	mtu      uint32
	offloads virtionet.Offloads

	mu         sync.RWMutex
	dispatcher stack.NetworkDispatcher
	started    bool
	onClose    func()

	// Frames held while the device's transmit queues are full (hold).
	txMu         sync.Mutex
	pending      []virtionet.Frame // in order; each a copy, one part
	pendingBytes int
	flushing     bool // a flush goroutine runs

	acks ackHold // bare ACKs held for a moment (ackhold.go)
	// order is held exclusively by writes that release held ACKs, shared
	// by the other writes that pass the hold.
	order sync.RWMutex
}

// Frames a link holds while the device's transmit queues are full, at
// most: a full queue on a busy host (the launcher's transmit worker not
// scheduled for a while) is a pause, not a loss, and a segment dropped
// there costs its connection a retransmission timeout, doubled each time
// it is dropped again (a 1,000-connection soak saw thousands, and
// requests 30 s late). The bound keeps a device that stopped taking
// frames from growing the queue without end: beyond it frames are dropped,
// and TCP retransmits them, as before.
const (
	txHoldMaxFrames = 4096
	txHoldMaxBytes  = 4 << 20
	// txHoldRetry is how long the flush goroutine sleeps when the queues
	// are still full (after SendBatch's own wait of up to a millisecond).
	txHoldRetry = 200 * time.Microsecond
	// txFlushBatch is how many held frames the flush goroutine sends at
	// once.
	txFlushBatch = 64
)

// txHeld and txHoldDropped count frames held for a full transmit queue,
// and frames dropped because the hold was full too (every link).
var txHeld, txHoldDropped atomic.Uint64

var _ stack.LinkEndpoint = (*link)(nil)

func newLink(dev *virtionet.Device) *link {
	mac := dev.MAC()
	return initLink(&link{dev: dev, addr: tcpip.LinkAddress(mac[:]), mtu: uint32(dev.MTU()), offloads: dev.Offloads()})
}

// initLink sets up what a link needs beyond its fields.
func initLink(l *link) *link {
	l.acks.fire = l.flushAcks
	return l
}

// flushAcks sends the ACKs held for ackDelay, excluding other writes
// until they are on the device's queues (or held behind what is), so that
// no later segment of their connections overtakes them.
func (l *link) flushAcks() {
	l.order.Lock()
	defer l.order.Unlock()
	frames := l.acks.take(time.Now())
	if len(frames) == 0 {
		return
	}
	l.txMu.Lock()
	queued := len(l.pending) > 0
	l.txMu.Unlock()
	sent := 0
	err := virtionet.ErrQueueFull
	if !queued {
		sent, err = l.send(frames)
	}
	if sent < len(frames) && err == virtionet.ErrQueueFull {
		l.hold(frames[sent:])
	}
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

// WritePackets sends the packets, each as one frame (or, for a TCP
// packet larger than its MSS the device cannot segment, as its segments),
// all in one batch where the device takes batches so it is notified once.
// What the device's full transmit queues do not take is held (copied) and
// sent in order by a flush goroutine as room appears; while frames are
// held, later ones queue behind them. It never blocks beyond SendBatch's
// brief wait, so the driver's receive goroutine (which may send ACKs and
// ARP replies) keeps draining the receive queue. It reports how many
// packets went out or were held; a packet counts once its first frame
// has (TCP retransmits what a full hold cut off).
func (l *link) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	var b txBatch
	var info []tcpAck
	for i, pkt := range pkts.AsSlice() {
		l.appendPacket(&b, i, pkt)
		if a := classify(pkt); a.ok || info != nil {
			if info == nil {
				info = make([]tcpAck, i, pkts.Len())
			}
			info = append(info, a)
		}
	}
	return l.write(&b, info, pkts.Len())
}

// write sends b, the frames of n packets, whose TCP segments info
// describes (nil if none is TCP), through the ACK hold.
func (l *link) write(b *txBatch, info []tcpAck, n int) (int, tcpip.Error) {
	if info != nil && l.acks.fire != nil {
		// A held ACK released with this batch must reach the device
		// before any later segment of its connection: such a write
		// excludes all others. Other writes share, as a connection's own
		// writes are serialised by gVisor.
		release := l.acks.due(time.Now())
		if release {
			l.order.Lock()
			defer l.order.Unlock()
		} else {
			l.order.RLock()
			defer l.order.RUnlock()
		}
		b.frames, b.owner = l.acks.filter(b, info, release)
		if len(b.frames) == 0 {
			return n, nil
		}
	}
	l.txMu.Lock()
	queued := len(l.pending) > 0
	l.txMu.Unlock()
	sent := 0
	var err error = virtionet.ErrQueueFull
	if !queued {
		sent, err = l.send(b.frames)
	}
	if sent < len(b.frames) && err == virtionet.ErrQueueFull {
		sent += l.hold(b.frames[sent:])
	}
	if sent == len(b.frames) {
		return n, nil
	}
	if sent > 0 {
		return b.owner[sent-1] + 1, nil
	}
	if err == virtionet.ErrQueueFull {
		return 0, &tcpip.ErrWouldBlock{}
	}
	return 0, &tcpip.ErrClosedForSend{}
}

// hold appends copies of frames to the held frames, as many as the bound
// allows, starts the flush goroutine if none runs, and returns how many
// it held.
func (l *link) hold(frames []virtionet.Frame) int {
	l.txMu.Lock()
	defer l.txMu.Unlock()
	n := 0
	for _, f := range frames {
		size := 0
		for _, p := range f.Parts {
			size += len(p)
		}
		if len(l.pending) >= txHoldMaxFrames || l.pendingBytes+size > txHoldMaxBytes {
			break
		}
		c := make([]byte, 0, size)
		for _, p := range f.Parts {
			c = append(c, p...)
		}
		l.pending = append(l.pending, virtionet.Frame{Header: f.Header, Parts: [][]byte{c}})
		l.pendingBytes += size
		n++
	}
	txHeld.Add(uint64(n))
	txHoldDropped.Add(uint64(len(frames) - n))
	if n > 0 && !l.flushing {
		l.flushing = true
		go l.flush()
	}
	return n
}

// flush sends the held frames in order until none is left; if the device
// closes or breaks, it drops them.
func (l *link) flush() {
	for {
		l.txMu.Lock()
		if len(l.pending) == 0 {
			l.flushing = false
			l.pending = nil
			l.txMu.Unlock()
			return
		}
		// Only this goroutine removes frames, and appends leave the
		// first ones as they are: the batch can be sent unlocked.
		batch := l.pending[:min(len(l.pending), txFlushBatch)]
		l.txMu.Unlock()
		sent, err := l.send(batch)
		l.txMu.Lock()
		if err != nil && err != virtionet.ErrQueueFull {
			sent = len(l.pending) // closed or broken: nothing will go
		}
		for _, f := range l.pending[:sent] {
			l.pendingBytes -= len(f.Parts[0])
		}
		clear(l.pending[:sent])
		l.pending = l.pending[sent:]
		l.txMu.Unlock()
		if err == virtionet.ErrQueueFull {
			time.Sleep(txHoldRetry)
		}
	}
}

// send queues frames in order and returns how many were queued. A frame
// the device refuses as malformed is dropped and the rest still go; a
// full, closed or broken device stops it.
func (l *link) send(frames []virtionet.Frame) (int, error) {
	bd, ok := l.dev.(batchDevice)
	done := 0
	for done < len(frames) {
		var k int
		var err error
		if ok {
			k, err = bd.SendBatch(frames[done:])
		} else if err = l.dev.Send(frames[done].Header, frames[done].Parts...); err == nil {
			k = 1
		}
		done += k
		switch {
		case err == nil:
		case err == virtionet.ErrQueueFull || err == virtionet.ErrClosed || err == virtio.ErrBroken:
			return done, err
		default:
			done++ // a frame the device would not take: skip it
		}
	}
	return done, nil
}

// deliver hands a received frame to the stack. The driver reuses frame
// after the call, so the packet gets a copy; until then the frame is ours,
// and a partial checksum is completed in place.
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
	if h.Flags&abi.VirtioNetHdrFNeedsCsum != 0 && !completeChecksum(frame, int(h.CsumStart), int(h.CsumOffset)) {
		return // a partial checksum pointing outside the frame
	}
	proto := header.Ethernet(frame).Type()
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(frame)})
	defer pkt.DecRef()
	if !l.ParseHeader(pkt) {
		return
	}
	// gVisor sets pkt.RXChecksumValidated from the link's capabilities
	// (not per packet), and the link does not claim receive checksum
	// offload: a frame without DATA_VALID may carry a checksum nobody
	// checked. So gVisor verifies every checksum, the completed ones too.
	d.DeliverNetworkPacket(proto, pkt)
}

// completeChecksum finishes a checksum a device left partial (a frame
// from a sender on the same host, VIRTIO_NET_HDR_F_NEEDS_CSUM): the
// 16-bit field at start+offset holds the pseudo-header sum, and the
// checksum covers everything from start to the end of the frame. It
// reports false if the field lies outside the frame.
func completeChecksum(frame []byte, start, offset int) bool {
	if start >= len(frame) || start+offset+2 > len(frame) {
		return false
	}
	field := frame[start+offset:]
	sum := checksum.Checksum(frame[start:], 0)
	field[0], field[1] = byte(^sum>>8), byte(^sum)
	return true
}
