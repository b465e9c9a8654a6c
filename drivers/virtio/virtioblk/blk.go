// Package virtioblk drives virtio block devices (virtio-blk, device type
// 2): ReadAt and WriteAt move whole 512-byte sectors, Flush makes written
// data durable (VIRTIO_BLK_F_FLUSH), and a device the host offers
// read-only (VIRTIO_BLK_F_RO) refuses writes with EROFS. Several
// goroutines may have requests in flight at once; one goroutine takes the
// completions from the device and wakes their owners.
package virtioblk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"syscall"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/drivers/hw"
	"github.com/unigo-os/unigo/drivers/virtio"
)

// SectorSize is the unit of ReadAt and WriteAt.
const SectorSize = 512

// Feature bits (virtio 1.2, 5.2.3).
const (
	FeatureRO    = 1 << 5 // VIRTIO_BLK_F_RO
	FeatureFlush = 1 << 9 // VIRTIO_BLK_F_FLUSH
)

// Request types and statuses (5.2.6).
const (
	reqIn    = 0
	reqOut   = 1
	reqFlush = 4

	statusOK     = 0
	statusIOErr  = 1
	statusUnsupp = 2
)

const (
	// slots is how many requests may be in flight; each uses up to 3
	// descriptors, so a queue of 64 always has room.
	slots = 16
	// chunk is the most one request moves (one DMA block).
	chunk = hw.MaxDMA
	// slotHdr is a slot's header and status area in the shared page.
	slotHdr = 32
)

// Device is one virtio-blk device. It is safe for concurrent use.
type Device struct {
	dev    *virtio.Device
	q      *virtio.Queue
	size   int64
	ro     bool
	flush  bool
	hdrs   *hw.DMA
	data   []*hw.DMA
	free   chan int
	done   []chan struct{}
	mu     sync.Mutex // the queue
	broken chan struct{}
	once   sync.Once
}

// ErrBroken is returned once the device has misbehaved or is closed.
var ErrBroken = errors.New("virtioblk: device broken or closed")

// Open sets up the virtio-blk device at info; level selects a
// level-triggered interrupt line.
func Open(info hw.VirtioMMIO, level bool) (*Device, error) {
	dev, err := virtio.Open(info, level)
	if err != nil {
		return nil, err
	}
	if dev.ID() != abi.VirtioDeviceBlock {
		dev.Close()
		return nil, fmt.Errorf("virtioblk: %v is device type %d, not a block device", info, dev.ID())
	}
	d := &Device{dev: dev, free: make(chan int, slots), broken: make(chan struct{})}
	fail := func(err error) (*Device, error) {
		d.freeDMA()
		dev.Close()
		return nil, err
	}
	f, err := dev.Negotiate(abi.VirtioFEventIdx | FeatureRO | FeatureFlush)
	if err != nil {
		return fail(err)
	}
	d.ro, d.flush = f&FeatureRO != 0, f&FeatureFlush != 0
	var capacity uint64
	dev.ReadConfig(func() {
		capacity = uint64(dev.Config32(0)) | uint64(dev.Config32(4))<<32
	})
	if capacity > 1<<53/SectorSize {
		return fail(fmt.Errorf("virtioblk: %v: capacity of %d sectors is implausible", info, capacity))
	}
	d.size = int64(capacity) * SectorSize
	if d.q, err = dev.SetupQueue(0, 64); err != nil {
		return fail(err)
	}
	if d.q.Size() < 3 {
		return fail(fmt.Errorf("virtioblk: %v: queue of %d entries is too small", info, d.q.Size()))
	}
	if d.hdrs, err = hw.AllocDMA(slots * slotHdr); err != nil {
		return fail(err)
	}
	n := min(slots, d.q.Size()/3)
	for i := 0; i < n; i++ {
		b, err := hw.AllocDMA(chunk)
		if err != nil {
			return fail(err)
		}
		d.data = append(d.data, b)
		d.done = append(d.done, make(chan struct{}, 1))
		d.free <- i
	}
	if err := dev.Start(); err != nil {
		return fail(err)
	}
	go d.complete()
	return d, nil
}

func (d *Device) freeDMA() {
	for _, b := range d.data {
		b.Free()
	}
	d.data = nil
	if d.hdrs != nil {
		d.hdrs.Free()
		d.hdrs = nil
	}
}

// Size is the device's size in bytes.
func (d *Device) Size() int64 { return d.size }

// ReadOnly reports whether the host offers the device read-only.
func (d *Device) ReadOnly() bool { return d.ro }

// complete takes finished requests off the used ring and wakes their
// owners, waiting for the interrupt when there are none.
func (d *Device) complete() {
	for {
		d.mu.Lock()
		for {
			tok, _, ok, err := d.q.Pop()
			if err != nil {
				d.mu.Unlock()
				d.breakDown()
				return
			}
			if !ok {
				break
			}
			if tok < uint64(len(d.done)) {
				d.done[tok] <- struct{}{}
			}
		}
		more := d.q.EnableInterrupts()
		d.mu.Unlock()
		if more {
			continue
		}
		if _, err := d.dev.WaitInterrupt(); err != nil {
			d.breakDown()
			return
		}
	}
}

func (d *Device) breakDown() { d.once.Do(func() { close(d.broken) }) }

// do runs one request in slot i: typ at sector over the slot's first n
// data bytes (none for a flush) and returns the device's status.
func (d *Device) do(i int, typ uint32, sector uint64, n int) error {
	h := d.hdrs.Bytes[i*slotHdr : (i+1)*slotHdr]
	binary.LittleEndian.PutUint32(h[0:], typ)
	binary.LittleEndian.PutUint32(h[4:], 0)
	binary.LittleEndian.PutUint64(h[8:], sector)
	h[16] = 0xff
	hp := d.hdrs.Phys + uint64(i*slotHdr)
	bufs := []virtio.Buffer{{Addr: hp, Len: 16}}
	if n > 0 {
		bufs = append(bufs, virtio.Buffer{Addr: d.data[i].Phys, Len: uint32(n), Write: typ == reqIn})
	}
	bufs = append(bufs, virtio.Buffer{Addr: hp + 16, Len: 1, Write: true})
	d.mu.Lock()
	err := d.q.Add(uint64(i), bufs...)
	if err == nil {
		d.dev.Kick(d.q)
	}
	d.mu.Unlock()
	if err != nil {
		return err
	}
	select {
	case <-d.done[i]:
	case <-d.broken:
		return ErrBroken
	}
	switch h[16] {
	case statusOK:
		return nil
	case statusUnsupp:
		return syscall.EOPNOTSUPP
	}
	return syscall.EIO
}

// check validates a transfer of n bytes at off.
func (d *Device) check(n int, off int64) error {
	if off < 0 || off%SectorSize != 0 || n%SectorSize != 0 {
		return fmt.Errorf("virtioblk: transfer of %d bytes at %d is not in whole sectors: %w", n, off, syscall.EINVAL)
	}
	if off > d.size || int64(n) > d.size-off {
		return fmt.Errorf("virtioblk: transfer of %d bytes at %d beyond the device's %d: %w", n, off, d.size, syscall.ENOSPC)
	}
	return nil
}

// ReadAt reads len(p) bytes (whole sectors) at off.
func (d *Device) ReadAt(p []byte, off int64) (int, error) {
	if err := d.check(len(p), off); err != nil {
		return 0, err
	}
	return d.transfer(p, off, false)
}

// WriteAt writes len(p) bytes (whole sectors) at off.
func (d *Device) WriteAt(p []byte, off int64) (int, error) {
	if d.ro {
		return 0, syscall.EROFS
	}
	if err := d.check(len(p), off); err != nil {
		return 0, err
	}
	return d.transfer(p, off, true)
}

// transfer moves p in chunks of at most one slot's buffer, the chunks
// in flight at once (each on a slot of its own).
func (d *Device) transfer(p []byte, off int64, write bool) (int, error) {
	if len(p) <= chunk {
		return d.transferChunk(p, off, write)
	}
	n := (len(p) + chunk - 1) / chunk
	errs := make([]error, n)
	var wg sync.WaitGroup
	for c := 0; c < n; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lo := c * chunk
			hi := min(lo+chunk, len(p))
			_, errs[c] = d.transferChunk(p[lo:hi], off+int64(lo), write)
		}()
	}
	wg.Wait()
	for c, err := range errs {
		if err != nil {
			return c * chunk, err // what precedes the first failed chunk
		}
	}
	return len(p), nil
}

// transferChunk moves p (at most chunk bytes) through one slot.
func (d *Device) transferChunk(p []byte, off int64, write bool) (int, error) {
	var i int
	select {
	case i = <-d.free:
	case <-d.broken:
		return 0, ErrBroken
	}
	defer func() { d.free <- i }()
	typ := uint32(reqIn)
	if write {
		typ = reqOut
		copy(d.data[i].Bytes, p)
	}
	if err := d.do(i, typ, uint64(off)/SectorSize, len(p)); err != nil {
		return 0, err
	}
	if !write {
		copy(p, d.data[i].Bytes)
	}
	return len(p), nil
}

// Flush makes completed writes durable; without VIRTIO_BLK_F_FLUSH the
// device has no cache to flush.
func (d *Device) Flush() error {
	if !d.flush {
		return nil
	}
	var i int
	select {
	case i = <-d.free:
	case <-d.broken:
		return ErrBroken
	}
	defer func() { d.free <- i }()
	return d.do(i, reqFlush, 0, 0)
}

// Close resets the device; requests still waiting fail with ErrBroken.
func (d *Device) Close() error {
	err := d.dev.Close()
	d.breakDown()
	return err
}
