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
// many as there are buffer slots. The device is not trusted: an R-message
// whose size field does not match the bytes written breaks the stream
// (every pending and later call fails) rather than being passed on.
package virtio9p

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
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

	mu   sync.Mutex // the queue
	free chan int   // free slot indices
	buf  *hw.DMA    // slots × (T area + R area), MessageSize each

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
	if d.buf, err = hw.AllocDMA(slots * 2 * MessageSize); err != nil {
		return fail(err)
	}
	if err := vd.Start(); err != nil {
		d.buf.Free()
		return fail(err)
	}
	for i := range slots {
		d.free <- i
	}
	go d.collect()
	return d, nil
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
		if err := d.send(d.w[:size]); err != nil {
			return 0, err
		}
		d.w = append(d.w[:0], d.w[size:]...)
	}
	return len(b), nil
}

// send posts one T-message in a free slot.
func (d *Device) send(m []byte) error {
	var s int
	select {
	case s = <-d.free:
	case <-d.dead:
		return d.err
	}
	off := s * 2 * MessageSize
	copy(d.buf.Bytes[off:], m)
	d.mu.Lock()
	err := d.q.Add(uint64(s),
		virtio.Buffer{Addr: d.buf.Phys + uint64(off), Len: uint32(len(m))},
		virtio.Buffer{Addr: d.buf.Phys + uint64(off+MessageSize), Len: MessageSize, Write: true})
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
		off := s*2*MessageSize + MessageSize
		// Copy before checking: the device could change the buffer after.
		m := append([]byte(nil), d.buf.Bytes[off:off+int(n)]...)
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
