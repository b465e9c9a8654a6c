// Package virtio9p drives virtio-9p devices (device type 9): a Device is
// the byte stream github.com/hugelgupf/p9's client speaks 9P2000.L over,
// and carries the device's mount tag.
//
// The client writes each T-message (in pieces); once a whole message is
// in, it goes to the device as one descriptor chain: the message in a
// readable buffer, msize bytes of writable buffer for the R-message. A
// goroutine collects the finished chains and queues their R-messages for
// the client's reader in the order the device finishes them; the client
// matches them to its requests by tag, so requests run concurrently, as
// many as there are buffer slots. Messages are adapted to the 9P2000.L
// QEMU speaks (toWire). The device is not trusted: an R-message
// whose size field does not match the bytes written breaks the stream
// (every pending and later call fails) rather than being passed on.
package virtio9p

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/drivers/hw"
	"github.com/unigo-os/unigo/drivers/virtio"
)

const (
	// MessageSize is the msize to give p9.WithMessageSize.
	MessageSize = 64 << 10
	// slots is the most requests in flight.
	slots  = 8
	header = 7
)

// ErrClosed is returned once the device is closed or broke the protocol.
var ErrClosed = errors.New("virtio9p: device closed")

// Probe returns the virtio-9p devices, not yet opened.
func Probe() ([]hw.VirtioMMIO, error) { return virtio.Devices(abi.VirtioDevice9P) }

// Device is one open virtio-9p device; it implements io.ReadWriteCloser
// for p9.NewClient.
type Device struct {
	// Tag is the mount tag the device announces ("" if it offers none).
	Tag string

	dev *virtio.Device
	q   *virtio.Queue

	mu   sync.Mutex     // the queue
	free chan int       // free slot indices
	t, r [slots]*hw.DMA // each slot's T-message and R-message buffers

	wmu sync.Mutex
	w   []byte // the T-message being written

	rq   chan []byte // finished R-messages
	cur  []byte
	dead chan struct{}
	once sync.Once
	err  error
}

// Open sets up the device at info; level selects a level-triggered
// interrupt line (QEMU).
func Open(info hw.VirtioMMIO, level bool) (*Device, error) {
	vd, err := virtio.Open(info, level)
	if err != nil {
		return nil, err
	}
	if vd.ID() != abi.VirtioDevice9P {
		vd.Close()
		return nil, fmt.Errorf("virtio9p: %v is device type %d, not 9P", info, vd.ID())
	}
	fail := func(err error) (*Device, error) {
		vd.Close()
		return nil, err
	}
	feat, err := vd.Negotiate(abi.Virtio9PFMountTag | abi.VirtioFEventIdx)
	if err != nil {
		return fail(err)
	}
	d := &Device{dev: vd, free: make(chan int, slots), rq: make(chan []byte, slots), dead: make(chan struct{})}
	if feat&abi.Virtio9PFMountTag != 0 {
		vd.ReadConfig(func() {
			n := min(int(vd.Config16(abi.Virtio9PConfigTagLen)), abi.Virtio9PMaxTagLen)
			tag := make([]byte, n)
			for i := range tag {
				tag[i] = vd.Config8(uintptr(abi.Virtio9PConfigTag + i))
			}
			d.Tag = string(tag)
		})
	}
	if d.q, err = vd.SetupQueue(0, 2*slots); err != nil {
		return fail(err)
	}
	if err := d.alloc(); err != nil {
		d.freeDMA()
		return fail(err)
	}
	if err := vd.Start(); err != nil {
		d.freeDMA()
		return fail(err)
	}
	for i := range slots {
		d.free <- i
	}
	go d.collect()
	return d, nil
}

// alloc gives each slot its two buffers (DMA blocks are at most 64 KiB).
func (d *Device) alloc() error {
	for i := range slots {
		var err error
		if d.t[i], err = hw.AllocDMA(MessageSize); err != nil {
			return err
		}
		if d.r[i], err = hw.AllocDMA(MessageSize); err != nil {
			return err
		}
	}
	return nil
}

func (d *Device) freeDMA() {
	for i := range slots {
		for _, b := range []*hw.DMA{d.t[i], d.r[i]} {
			if b != nil {
				b.Free()
			}
		}
	}
}

// Write implements io.Writer: whole T-messages go to the device.
func (d *Device) Write(b []byte) (int, error) {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	d.w = append(d.w, b...)
	for len(d.w) >= 4 {
		size := int(binary.LittleEndian.Uint32(d.w))
		if size < header || size > MessageSize {
			return 0, fmt.Errorf("virtio9p: message of %d bytes", size)
		}
		if len(d.w) < size {
			break
		}
		if err := d.send(toWire(d.w[:size])); err != nil {
			return 0, err
		}
		d.w = append(d.w[:0], d.w[size:]...)
	}
	return len(b), nil
}

// Message types rewritten on the way out.
const (
	tversion = 100
	tfsync   = 50
)

// toWire adapts a T-message from hugelgupf/p9's client to the 9P2000.L
// other servers (QEMU's, Linux's peers) expect: plain version
// negotiation, and Tfsync with its datasync field (fid[4] datasync[4];
// that client sends the fid alone, which QEMU cannot decode and answers
// with nothing). hugelgupf/p9's server takes both forms.
func toWire(m []byte) []byte {
	if len(m) == header+4 && m[4] == tfsync {
		out := binary.LittleEndian.AppendUint32(append([]byte(nil), m...), 0)
		binary.LittleEndian.PutUint32(out, uint32(len(out)))
		return out
	}
	return plainVersion(m)
}

// plainVersion rewrites a Tversion asking for a 9P2000.L extension
// ("9P2000.L.Google.N", which hugelgupf/p9's client always tries first)
// into one for plain 9P2000.L, the dialect QEMU's server and unigo's
// launcher both speak: QEMU answers "unknown" to the extension, which
// that client takes as a failure instead of stepping down.
func plainVersion(m []byte) []byte {
	const at = header + 4 // msize[4], then version[s]
	if len(m) < at+2 || m[4] != tversion {
		return m
	}
	n := int(binary.LittleEndian.Uint16(m[at:]))
	if len(m) != at+2+n || !strings.HasPrefix(string(m[at+2:]), "9P2000.L.") {
		return m
	}
	out := append([]byte(nil), m[:at]...)
	out = binary.LittleEndian.AppendUint16(out, uint16(len("9P2000.L")))
	out = append(out, "9P2000.L"...)
	binary.LittleEndian.PutUint32(out, uint32(len(out)))
	return out
}

// send posts one T-message in a free slot.
func (d *Device) send(m []byte) error {
	var s int
	select {
	case s = <-d.free:
	case <-d.dead:
		return d.err
	}
	copy(d.t[s].Bytes, m)
	d.mu.Lock()
	err := d.q.Add(uint64(s),
		virtio.Buffer{Addr: d.t[s].Phys, Len: uint32(len(m))},
		virtio.Buffer{Addr: d.r[s].Phys, Len: MessageSize, Write: true})
	if err == nil {
		d.dev.Kick(d.q)
	}
	d.mu.Unlock()
	return err
}

// collect takes finished chains off the queue until the device breaks.
func (d *Device) collect() {
	for {
		d.mu.Lock()
		tok, n, ok, err := d.q.Pop()
		again := !ok && err == nil && d.q.EnableInterrupts()
		d.mu.Unlock()
		if err != nil {
			d.stop(err)
			return
		}
		if again {
			continue
		}
		if !ok {
			if _, err := d.dev.WaitInterrupt(); err != nil {
				d.stop(err)
				return
			}
			continue
		}
		s := int(tok)
		// Copy before checking: the device could change the buffer after.
		m := append([]byte(nil), d.r[s].Bytes[:n]...)
		if n < header || binary.LittleEndian.Uint32(m) != n {
			d.stop(fmt.Errorf("virtio9p: device returned a message of %d bytes that says otherwise", n))
			return
		}
		d.free <- s
		select {
		case d.rq <- m:
		case <-d.dead:
			return
		}
	}
}

func (d *Device) stop(err error) {
	d.once.Do(func() {
		d.err = fmt.Errorf("%w: %v", ErrClosed, err)
		close(d.dead)
	})
}

// Read implements io.Reader: the R-messages, whole, one after another.
// Only one goroutine reads at a time (the p9 client's receiver).
func (d *Device) Read(b []byte) (int, error) {
	for len(d.cur) == 0 {
		select {
		case m := <-d.rq:
			d.cur = m
		case <-d.dead:
			return 0, d.err
		}
	}
	n := copy(b, d.cur)
	d.cur = d.cur[n:]
	return n, nil
}

// Close resets the device; pending and later calls fail.
func (d *Device) Close() error {
	d.stop(io.EOF)
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dev.Close()
}
