package virtio

import (
	"encoding/binary"
	"errors"
	"io"
	"sync"

	"github.com/hugelgupf/p9/p9"
	"github.com/unigo-os/unigo/abi"
)

// 9P message layout: size[4] type[1] tag[2], then the body.
const (
	p9Header   = 7
	p9Tversion = 100
	p9Rlerror  = 7
	p9Tread    = 116
	p9Treaddir = 40
	// p9MaxMessage caps the message size (msize) the device negotiates.
	p9MaxMessage = 1 << 20
	// p9QueueMax is the request queue's size and so the most requests in
	// flight.
	p9QueueMax  = 128
	errEMSGSIZE = 90
)

// P9 is the virtio-9p device (device ID 9): a 9P2000.L server for one
// tree, announced to the guest by its mount tag. Each chain of the request
// queue holds one T-message in its readable part; the R-message goes into
// its writable part. Requests are served concurrently and may complete
// out of order.
//
// The guest is not trusted: a message's size must lie within its chain
// and msize, the msize asked for in Tversion and the count of a Tread or
// Treaddir are lowered to what the device and the chain's writable part
// allow, a tag already in flight gets its chain back unanswered, and an
// R-message that does not fit is replaced by Rlerror(EMSGSIZE). A message
// the 9P server cannot decode is answered without a tag the driver can
// match, so its chain is never returned.
type P9 struct {
	tag    string
	server *p9.Server

	stop chan struct{}
	wg   sync.WaitGroup
	conn *p9Conn
}

// NewP9 returns a virtio-9p device serving attacher's tree under tag,
// which must be 1 to abi.Virtio9PMaxTagLen bytes.
func NewP9(tag string, attacher p9.Attacher) (*P9, error) {
	if len(tag) == 0 || len(tag) > abi.Virtio9PMaxTagLen {
		return nil, errors.New("virtio-9p: mount tag must be 1 to 255 bytes")
	}
	return &P9{tag: tag, server: p9.NewServer(attacher)}, nil
}

func (d *P9) ID() uint32                 { return abi.VirtioDevice9P }
func (d *P9) Features() uint64           { return abi.Virtio9PFMountTag }
func (d *P9) NumQueues() int             { return 1 }
func (d *P9) QueueMax() uint16           { return p9QueueMax }
func (d *P9) WriteConfig(uint64, []byte) {}

// ReadConfig serves struct virtio_9p_config: tag_len, then the tag.
func (d *P9) ReadConfig(off uint64, data []byte) {
	cfg := binary.LittleEndian.AppendUint16(nil, uint16(len(d.tag)))
	cfg = append(cfg, d.tag...)
	clear(data)
	if off < uint64(len(cfg)) {
		copy(data, cfg[off:])
	}
}

// Activate starts a 9P connection and the queue's worker.
func (d *P9) Activate(features uint64, mem []byte, queues []*Queue, irq Interrupter) error {
	if len(queues) != 1 || queues[0] == nil {
		return errors.New("virtio-9p: request queue not set up")
	}
	c := newP9Conn()
	d.conn = c
	go d.server.Handle(c, c)
	d.stop = make(chan struct{})
	d.wg.Add(1)
	go func(q *Queue, stop <-chan struct{}) {
		defer d.wg.Done()
		d.serve(q, c, stop, irq)
	}(queues[0], d.stop)
	return nil
}

// Reset stops the worker and ends the 9P connection, which closes every
// file the guest had.
func (d *P9) Reset() {
	if d.stop != nil {
		close(d.stop)
		d.wg.Wait()
		d.stop = nil
		d.conn.shut()
		d.conn = nil
	}
}

// serve is the queue's worker: it takes new chains when the driver
// notifies and returns them as the server answers.
func (d *P9) serve(q *Queue, c *p9Conn, stop <-chan struct{}, irq Interrupter) {
	inflight := make(map[uint16]*Chain)
	// take moves up to a queue's worth of the driver's new chains to the
	// server; more reports there may be others, ok false that the queue
	// broke.
	take := func() (more, ok bool) {
		for range int(q.Size) {
			ch, err := q.Next()
			if err != nil {
				irq.Fail(err)
				return false, false
			}
			if ch == nil {
				return false, true
			}
			if !d.request(ch, c, inflight) {
				q.Put(ch, 0)
				irq.Used(q)
			}
		}
		return true, true
	}
	// Chains may have been made available before the worker started.
	more, ok := take()
	for ok {
		kicks := q.Kicks()
		if more {
			kicks = ready // take more, between replies and a reset
		}
		select {
		case <-stop:
			return
		case <-kicks:
			more, ok = take()
		case r := <-c.resps:
			tag := binary.LittleEndian.Uint16(r[5:])
			ch, found := inflight[tag]
			if !found {
				continue // an answer to an undecodable message
			}
			delete(inflight, tag)
			q.Put(ch, p9Reply(ch, r))
			irq.Used(q)
		}
	}
}

// ready is a channel that is always ready to receive from.
var ready = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// request checks one chain's T-message and hands a copy of it to the
// server. It reports false when the chain is to go back unanswered.
func (d *P9) request(ch *Chain, c *p9Conn, inflight map[uint16]*Chain) bool {
	rl, wl := ch.ReadableLen(), ch.WritableLen()
	if rl < p9Header || wl < p9Header+4 {
		return false
	}
	var hdr [p9Header]byte
	p9Gather(ch, hdr[:])
	size := uint64(binary.LittleEndian.Uint32(hdr[:]))
	if size < p9Header || size > rl || size > p9MaxMessage {
		return false
	}
	tag := binary.LittleEndian.Uint16(hdr[5:])
	if _, busy := inflight[tag]; busy {
		return false
	}
	m := make([]byte, size)
	p9Gather(ch, m)
	clampRequest(m, min(wl, p9MaxMessage))
	inflight[tag] = ch
	c.reqs <- m
	return true
}

// clampRequest lowers, in place, what a T-message may ask the server to
// send back to fit room bytes: Tversion's msize, Tread's and Treaddir's
// count.
func clampRequest(m []byte, room uint64) {
	lower := func(off int, limit uint64) {
		if len(m) >= off+4 && uint64(binary.LittleEndian.Uint32(m[off:])) > limit {
			binary.LittleEndian.PutUint32(m[off:], uint32(limit))
		}
	}
	switch m[4] {
	case p9Tversion: // msize[4] version[s]
		lower(p9Header, p9MaxMessage)
	case p9Tread, p9Treaddir: // fid[4] offset[8] count[4]; Rread is size[4] type tag count[4] data
		lower(p9Header+12, room-p9Header-4)
	}
}

// p9Gather copies the start of a chain's readable part into b.
func p9Gather(ch *Chain, b []byte) {
	for _, s := range ch.Segs {
		if s.Writable || len(b) == 0 {
			break
		}
		b = b[copy(b, s.Data):]
	}
}

// p9Reply copies R-message r into the chain's writable part, or
// Rlerror(EMSGSIZE) when r does not fit, and returns the bytes written.
func p9Reply(ch *Chain, r []byte) uint32 {
	if uint64(len(r)) > ch.WritableLen() {
		e := make([]byte, p9Header+4)
		binary.LittleEndian.PutUint32(e, uint32(len(e)))
		e[4] = p9Rlerror
		copy(e[5:7], r[5:7])
		binary.LittleEndian.PutUint32(e[7:], errEMSGSIZE)
		r = e
	}
	n := 0
	for _, s := range ch.Segs {
		if !s.Writable {
			continue
		}
		n += copy(s.Data, r[n:])
		if n == len(r) {
			break
		}
	}
	return uint32(n)
}

// p9Conn is the byte stream between the device and the 9P server: the
// server reads T-messages from reqs and writes R-messages, which are
// reassembled and delivered whole on resps.
type p9Conn struct {
	reqs  chan []byte
	resps chan []byte
	dead  chan struct{}
	once  sync.Once

	cur []byte // the T-message being read

	wmu sync.Mutex
	out []byte // the R-message being written
}

func newP9Conn() *p9Conn {
	return &p9Conn{
		// Every chain in flight holds at most one message.
		reqs:  make(chan []byte, p9QueueMax),
		resps: make(chan []byte, p9QueueMax),
		dead:  make(chan struct{}),
	}
}

// Read implements io.Reader for the server (one reader at a time).
func (c *p9Conn) Read(b []byte) (int, error) {
	for len(c.cur) == 0 {
		select {
		case m := <-c.reqs:
			c.cur = m
		case <-c.dead:
			return 0, io.EOF
		}
	}
	n := copy(b, c.cur)
	c.cur = c.cur[n:]
	return n, nil
}

// Write implements io.Writer for the server, which writes each message
// in pieces under its own lock.
func (c *p9Conn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.out = append(c.out, b...)
	for len(c.out) >= 4 {
		size := int(binary.LittleEndian.Uint32(c.out))
		if size < p9Header {
			return 0, errors.New("virtio-9p: server wrote a short message")
		}
		if len(c.out) < size {
			break
		}
		m := c.out[:size:size]
		c.out = append([]byte(nil), c.out[size:]...)
		select {
		case c.resps <- m:
		case <-c.dead:
			return 0, io.ErrClosedPipe
		}
	}
	return len(b), nil
}

// Close implements io.Closer; shut ends the connection.
func (c *p9Conn) Close() error { c.shut(); return nil }

func (c *p9Conn) shut() { c.once.Do(func() { close(c.dead) }) }
