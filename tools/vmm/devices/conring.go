package devices

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/unigo-os/unigo/abi"
)

// ConsoleRing is the launcher's side of the guest's console ring
// (abi.PortConsoleRing; the protocol is in abi/conring.go): once the guest
// announces its ring, a consumer goroutine moves the bytes the guest
// appends to out, in order, and stores Tail. out is the UART's Transmit,
// so that ring bytes and COM1 bytes form one stream and a slow stdout
// holds the consumer back, which holds the guest back (the ring fills and
// it waits for room).
//
// After the ring goes empty the consumer lingers, looking every
// RingPollPeriod for RingLinger, with Sleeping clear so that the guest
// does not kick: a guest that writes now and then (a line per request)
// costs no exits. Then it sets Sleeping and waits for a kick.
type ConsoleRing struct {
	mem   []byte
	inRAM func(addr, n uint64) bool
	out   func([]byte)

	mu        sync.Mutex
	announced bool
	progress  chan struct{} // closed and replaced when Tail moves
	stop      chan struct{}
	exited    chan struct{} // closed when the consumer returns

	// Set once by the announcement, under mu, before the consumer starts.
	hdr, data, size uint64

	// drainMu: one drainer at a time (the consumer, then Close's last
	// drain). tail and broken are the drainer's.
	drainMu sync.Mutex
	tail    uint64
	broken  bool

	tailSeen atomic.Uint64 // tail, for Wait's room check
	kick     chan struct{}
}

// Consumer timing: see ConsoleRing.
const (
	RingPollPeriod = 500 * time.Microsecond
	RingLinger     = 20 * time.Millisecond
	// ringWait bounds how long a ConsoleRingWait waits for room.
	ringWait = 2 * time.Millisecond
	// ringChunk bounds one call of out, the size of the UART's FIFO.
	ringChunk = UARTFIFO
)

// NewConsoleRing returns the device for a guest whose RAM is mem (the
// guest-physical address is the offset); inRAM says whether n bytes at
// addr are guest RAM (holes excepted); out writes console bytes.
func NewConsoleRing(mem []byte, inRAM func(addr, n uint64) bool, out func([]byte)) *ConsoleRing {
	return &ConsoleRing{mem: mem, inRAM: inRAM, out: out,
		progress: make(chan struct{}), stop: make(chan struct{}), exited: make(chan struct{}),
		kick: make(chan struct{}, 1)}
}

// word is the 64-bit field at guest-physical address a (8-aligned, in RAM:
// checked by announce).
func (r *ConsoleRing) word(a uint64) *uint64 {
	return (*uint64)(unsafe.Pointer(&r.mem[a]))
}

// In reads as all-ones, like an absent device.
func (r *ConsoleRing) In(off uint16, data []byte) {
	for i := range data {
		data[i] = 0xFF
	}
}

// Out takes an announcement, a kick or a wait for room.
func (r *ConsoleRing) Out(off uint16, data []byte) {
	if off != 0 || len(data) != 4 {
		return
	}
	switch v := le(data); v {
	case abi.ConsoleRingKick:
		r.wake()
	case abi.ConsoleRingWait:
		r.waitRoom()
	default:
		r.announce(v)
	}
}

// announce checks and adopts the ring at hdr and starts the consumer.
func (r *ConsoleRing) announce(hdr uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.announced || hdr%8 != 0 || !r.inRAM(hdr, abi.ConsoleRingHeaderSize) {
		return
	}
	size := atomic.LoadUint64(r.word(hdr))
	if size < abi.ConsoleRingMinSize || size > abi.ConsoleRingMaxSize || size&(size-1) != 0 ||
		!r.inRAM(hdr+abi.ConsoleRingHeaderSize, size) {
		return
	}
	r.hdr, r.data, r.size = hdr, hdr+abi.ConsoleRingHeaderSize, size
	r.announced = true
	atomic.StoreUint64(r.word(hdr+abi.ConsoleRingTailOff), 0)
	atomic.StoreUint64(r.word(hdr+abi.ConsoleRingSleepOff), 0)
	go r.consume()
}

// Announced reports whether the guest announced a ring.
func (r *ConsoleRing) Announced() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.announced
}

func (r *ConsoleRing) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// waitRoom wakes the consumer and returns once the ring has room, Tail
// moved, ringWait passed or the ring is stopped.
func (r *ConsoleRing) waitRoom() {
	r.mu.Lock()
	on, ch := r.announced, r.progress
	r.mu.Unlock()
	if !on {
		return
	}
	r.wake()
	if atomic.LoadUint64(r.word(r.hdr+abi.ConsoleRingHeadOff))-r.tailSeen.Load() < r.size {
		return
	}
	t := time.NewTimer(ringWait)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-r.stop:
	}
}

// drain moves everything between Tail and Head to out and reports whether
// there was anything. A Head more than Size ahead of Tail breaks the ring:
// nothing more is read from it.
func (r *ConsoleRing) drain() bool {
	r.drainMu.Lock()
	defer r.drainMu.Unlock()
	if r.broken {
		return false
	}
	head := atomic.LoadUint64(r.word(r.hdr + abi.ConsoleRingHeadOff))
	n := head - r.tail
	if n == 0 {
		return false
	}
	if n > r.size {
		r.broken = true
		return false
	}
	for n > 0 {
		off := r.tail & (r.size - 1)
		k := min(n, r.size-off, ringChunk)
		r.out(r.mem[r.data+off : r.data+off+k])
		r.tail += k
		n -= k
		r.tailSeen.Store(r.tail)
		atomic.StoreUint64(r.word(r.hdr+abi.ConsoleRingTailOff), r.tail)
		r.mu.Lock()
		close(r.progress)
		r.progress = make(chan struct{})
		r.mu.Unlock()
	}
	return true
}

// consume is the consumer goroutine.
func (r *ConsoleRing) consume() {
	defer close(r.exited)
	sleeping := r.word(r.hdr + abi.ConsoleRingSleepOff)
	poll := time.NewTimer(RingPollPeriod)
	defer poll.Stop()
	last := time.Now()
	for {
		select {
		case <-r.stop:
			return
		default:
		}
		if r.drain() {
			last = time.Now()
			continue
		}
		if time.Since(last) < RingLinger {
			poll.Reset(RingPollPeriod)
			select {
			case <-r.stop:
				return
			case <-r.kick:
			case <-poll.C:
			}
			continue
		}
		// Sleeping=1, barrier (atomic store: XCHG), Head again: the
		// guest's side is in abi/conring.go.
		atomic.StoreUint64(sleeping, 1)
		if r.drain() {
			atomic.StoreUint64(sleeping, 0)
			last = time.Now()
			continue
		}
		select {
		case <-r.stop:
			return
		case <-r.kick:
		}
		atomic.StoreUint64(sleeping, 0)
		last = time.Now()
	}
}

// Close stops the consumer and then drains the ring once more, so that
// everything the guest stored before its vCPUs stopped is written out.
// Call it after the vCPUs have stopped and the UART was released.
func (r *ConsoleRing) Close() {
	r.mu.Lock()
	on := r.announced
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	r.mu.Unlock()
	if !on {
		return
	}
	<-r.exited
	r.drain()
}
