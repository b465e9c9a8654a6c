// Package virtiorng drives virtio entropy devices (virtio-rng, device
// type 4): Read fills a buffer with bytes from the host's entropy source.
package virtiorng

import (
	"fmt"
	"github.com/unigo-os/unigo/abi"
	"sync"

	"github.com/unigo-os/unigo/drivers/hw"
	"github.com/unigo-os/unigo/drivers/virtio"
)

// bufSize is the most one request asks the device for.
const bufSize = 4096

// Device is one virtio-rng device. It is an io.Reader, safe for
// concurrent use (reads are serialised).
type Device struct {
	mu  sync.Mutex
	dev *virtio.Device
	q   *virtio.Queue
	buf *hw.DMA
}

// Open sets up the virtio-rng device at info; level selects a
// level-triggered interrupt line.
func Open(info hw.VirtioMMIO, level bool) (*Device, error) {
	dev, err := virtio.Open(info, level)
	if err != nil {
		return nil, err
	}
	if dev.ID() != abi.VirtioDeviceRNG {
		return nil, fmt.Errorf("virtiorng: %v is device type %d, not an entropy source", info, dev.ID())
	}
	fail := func(err error) (*Device, error) {
		dev.Close()
		return nil, err
	}
	if _, err := dev.Negotiate(abi.VirtioFEventIdx); err != nil {
		return fail(err)
	}
	q, err := dev.SetupQueue(0, 8)
	if err != nil {
		return fail(err)
	}
	buf, err := hw.AllocDMA(bufSize)
	if err != nil {
		return fail(err)
	}
	if err := dev.Start(); err != nil {
		buf.Free()
		return fail(err)
	}
	return &Device{dev: dev, q: q, buf: buf}, nil
}

// Read fills p with up to len(p) random bytes (at least one) from the
// device, blocking the calling goroutine while the device works.
func (d *Device) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.buf == nil {
		return 0, fmt.Errorf("virtiorng: device closed")
	}
	n := min(len(p), bufSize)
	if err := d.q.Add(0, virtio.Buffer{Addr: d.buf.Phys, Len: uint32(n), Write: true}); err != nil {
		return 0, err
	}
	d.dev.Kick(d.q)
	for {
		_, got, ok, err := d.q.Pop()
		if err != nil {
			return 0, err
		}
		if ok {
			if got == 0 {
				return 0, fmt.Errorf("virtiorng: device returned no bytes")
			}
			return copy(p, d.buf.Bytes[:got]), nil
		}
		if d.q.EnableInterrupts() {
			continue
		}
		if _, err := d.dev.WaitInterrupt(); err != nil {
			return 0, err
		}
	}
}

// Close resets the device and releases its memory.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.buf == nil {
		return nil
	}
	err := d.dev.Close()
	d.buf.Free()
	d.buf = nil
	return err
}
