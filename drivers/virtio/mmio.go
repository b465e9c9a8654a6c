package virtio

import (
	"errors"
	"fmt"
	"github.com/unigo-os/unigo/abi"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/unigo-os/unigo/drivers/hw"
)

// Device is one virtio-mmio device, driven through the transport: it
// owns the register window, the interrupt line and the queues' memory.
// Register access is serialised by the caller during setup; afterwards
// Notify, WaitInterrupt and the config accessors may be used from
// several goroutines.
type Device struct {
	Info hw.VirtioMMIO

	regs     hw.MMIO
	id       uint32
	features uint64
	level    bool
	noAck    bool // edge line of a device that re-raises without an ACK
	irq      *hw.IRQ
	queues   []*Queue
	rings    []*hw.DMA

	faultOnce sync.Once
	stopOnce  sync.Once
	broken    atomic.Bool
}

// Devices returns the virtio-mmio devices of type id (0: all).
func Devices(id uint32) ([]hw.VirtioMMIO, error) {
	all, err := hw.VirtioMMIODevices()
	if err != nil {
		return nil, err
	}
	var out []hw.VirtioMMIO
	for _, info := range all {
		if info.Size < abi.VirtioMMIOConfig {
			continue
		}
		regs, err := hw.MapMMIO(info.Base, info.Size)
		if err != nil {
			return nil, err
		}
		if regs.Read32(abi.VirtioMMIOMagicValue) != abi.VirtioMMIOMagic {
			continue
		}
		if got := regs.Read32(abi.VirtioMMIODeviceID); got != 0 && (id == 0 || got == id) {
			out = append(out, info)
		}
	}
	return out, nil
}

// Open maps a device and resets it. level selects a level-triggered
// interrupt line (QEMU's virtio-mmio lines are level signals; the unigo
// launcher and Firecracker send edges through irqfd, and Linux treats
// command-line virtio-mmio interrupts as edge-triggered, which works on
// QEMU too).
func Open(info hw.VirtioMMIO, level bool) (*Device, error) {
	if info.Size < abi.VirtioMMIOConfig {
		return nil, fmt.Errorf("virtio: %v: window smaller than the registers", info)
	}
	regs, err := hw.MapMMIO(info.Base, info.Size)
	if err != nil {
		return nil, err
	}
	if m := regs.Read32(abi.VirtioMMIOMagicValue); m != abi.VirtioMMIOMagic {
		return nil, fmt.Errorf("virtio: %v: no virtio-mmio device (magic %#x)", info, m)
	}
	if v := regs.Read32(abi.VirtioMMIOVersion); v != 2 {
		return nil, fmt.Errorf("virtio: %v: transport version %d, want 2 (virtio 1.x; QEMU: -global virtio-mmio.force-legacy=false)", info, v)
	}
	d := &Device{Info: info, regs: regs, id: regs.Read32(abi.VirtioMMIODeviceID), level: level}
	d.noAck = !level && regs.Read32(abi.VirtioMMIOVendorID) == abi.VirtioVendorUnigo
	if d.id == 0 {
		return nil, fmt.Errorf("virtio: %v: empty slot", info)
	}
	if !d.reset() {
		return nil, fmt.Errorf("virtio: %v: device does not reset", info)
	}
	d.regs.Write32(abi.VirtioMMIOStatus, abi.VirtioStatusAcknowledge|abi.VirtioStatusDriver)
	return d, nil
}

// ID is the device type.
func (d *Device) ID() uint32 { return d.id }

// Features are the negotiated feature bits.
func (d *Device) Features() uint64 { return d.features }

// Offered returns the feature bits the device offers.
func (d *Device) Offered() uint64 {
	d.regs.Write32(abi.VirtioMMIODeviceFeaturesSel, 0)
	offered := uint64(d.regs.Read32(abi.VirtioMMIODeviceFeatures))
	d.regs.Write32(abi.VirtioMMIODeviceFeaturesSel, 1)
	return offered | uint64(d.regs.Read32(abi.VirtioMMIODeviceFeatures))<<32
}

// Negotiate accepts the offered features that are also in want (plus
// VERSION_1, which is required) and returns them. It may be called once.
func (d *Device) Negotiate(want uint64) (uint64, error) {
	offered := d.Offered()
	if offered&abi.VirtioFVersion1 == 0 {
		d.fail()
		return 0, fmt.Errorf("virtio: %v: device does not offer VERSION_1", d.Info)
	}
	f := offered & (want | abi.VirtioFVersion1)
	d.regs.Write32(abi.VirtioMMIODriverFeaturesSel, 0)
	d.regs.Write32(abi.VirtioMMIODriverFeatures, uint32(f))
	d.regs.Write32(abi.VirtioMMIODriverFeaturesSel, 1)
	d.regs.Write32(abi.VirtioMMIODriverFeatures, uint32(f>>32))
	d.regs.Write32(abi.VirtioMMIOStatus, abi.VirtioStatusAcknowledge|abi.VirtioStatusDriver|abi.VirtioStatusFeaturesOK)
	if d.regs.Read32(abi.VirtioMMIOStatus)&abi.VirtioStatusFeaturesOK == 0 {
		d.fail()
		return 0, fmt.Errorf("virtio: %v: device refused features %#x", d.Info, f)
	}
	d.features = f
	return f, nil
}

// SetupQueue sets up queue index with at most maxSize entries (fewer if
// the device allows fewer). Call it after Negotiate and before Start.
func (d *Device) SetupQueue(index, maxSize int) (*Queue, error) {
	d.regs.Write32(abi.VirtioMMIOQueueSel, uint32(index))
	if d.regs.Read32(abi.VirtioMMIOQueueReady) != 0 {
		return nil, fmt.Errorf("virtio: %v: queue %d already in use", d.Info, index)
	}
	max := int(d.regs.Read32(abi.VirtioMMIOQueueNumMax))
	if max == 0 {
		return nil, fmt.Errorf("virtio: %v: no queue %d", d.Info, index)
	}
	size := 1
	for size*2 <= min(max, maxSize, MaxQueueSize) {
		size *= 2
	}
	_, _, total := Layout(size)
	ring, err := hw.AllocDMA(total)
	if err != nil {
		return nil, err
	}
	q, err := NewQueue(index, size, ring.Bytes, ring.Phys, d.features&abi.VirtioFEventIdx != 0, d.fault)
	if err != nil {
		ring.Free()
		return nil, err
	}
	dsc, avail, used := q.Addresses()
	d.regs.Write32(abi.VirtioMMIOQueueNum, uint32(size))
	d.regs.Write32(abi.VirtioMMIOQueueDescLow, uint32(dsc))
	d.regs.Write32(abi.VirtioMMIOQueueDescHigh, uint32(dsc>>32))
	d.regs.Write32(abi.VirtioMMIOQueueDriverLow, uint32(avail))
	d.regs.Write32(abi.VirtioMMIOQueueDriverHigh, uint32(avail>>32))
	d.regs.Write32(abi.VirtioMMIOQueueDeviceLow, uint32(used))
	d.regs.Write32(abi.VirtioMMIOQueueDeviceHigh, uint32(used>>32))
	d.regs.Write32(abi.VirtioMMIOQueueReady, 1)
	d.queues = append(d.queues, q)
	d.rings = append(d.rings, ring)
	return q, nil
}

// Start attaches the interrupt line and tells the device the driver is
// ready (DRIVER_OK).
func (d *Device) Start() error {
	irq, err := hw.AttachIRQ(d.Info.GSI, d.level)
	if err != nil {
		d.fail()
		return err
	}
	d.irq = irq
	d.regs.Write32(abi.VirtioMMIOStatus, abi.VirtioStatusAcknowledge|abi.VirtioStatusDriver|abi.VirtioStatusFeaturesOK|abi.VirtioStatusDriverOK)
	return nil
}

// Kick publishes q's new chains and notifies the device if it asks.
func (d *Device) Kick(q *Queue) {
	if q.Kick() && !d.broken.Load() {
		d.regs.Write32(abi.VirtioMMIOQueueNotify, uint32(q.index))
	}
}

// WaitInterrupt parks the calling goroutine until the device interrupts,
// acknowledges the interrupt (and unmasks a level-triggered line) and
// returns the interrupt status bits (on the unigo launcher's edge lines,
// which need no acknowledgement, always VIRTIO_MMIO_INT_VRING). Only one
// goroutine may wait.
func (d *Device) WaitInterrupt() (uint32, error) {
	if d.irq == nil {
		return 0, errors.New("virtio: device not started")
	}
	if _, err := d.irq.Wait(); err != nil {
		return 0, err
	}
	if d.broken.Load() {
		return 0, ErrBroken
	}
	if d.noAck {
		// The unigo launcher sends an edge per interrupt whatever
		// InterruptStatus holds (abi.VirtioVendorUnigo): reading and
		// acknowledging it would cost two exits and tell us nothing the
		// rings do not.
		return abi.VirtioIntUsedBuffer, nil
	}
	isr := d.regs.Read32(abi.VirtioMMIOInterruptStatus)
	if isr != 0 {
		d.regs.Write32(abi.VirtioMMIOInterruptACK, isr)
	}
	if err := d.irq.Unmask(); err != nil {
		return 0, err
	}
	return isr, nil
}

// ReadConfig calls read until it sees a consistent snapshot of the
// device configuration space (the generation counter did not move).
func (d *Device) ReadConfig(read func()) {
	for {
		g := d.regs.Read32(abi.VirtioMMIOConfigGeneration)
		read()
		if d.regs.Read32(abi.VirtioMMIOConfigGeneration) == g {
			return
		}
	}
}

// Config8, Config16 and Config32 read the device configuration space at
// offset off (little-endian, as virtio 1.x defines it).
func (d *Device) Config8(off uintptr) uint8   { return d.regs.Read8(abi.VirtioMMIOConfig + off) }
func (d *Device) Config16(off uintptr) uint16 { return d.regs.Read16(abi.VirtioMMIOConfig + off) }
func (d *Device) Config32(off uintptr) uint32 { return d.regs.Read32(abi.VirtioMMIOConfig + off) }

// Broken reports whether the device has been caught misbehaving.
func (d *Device) Broken() bool { return d.broken.Load() }

// fault is the queues' report hook: the device misbehaved. It is
// reported once on the console, every queue stops, and the device is
// told the driver gave up (FAILED).
func (d *Device) fault(err error) {
	d.broken.Store(true)
	d.faultOnce.Do(func() {
		fmt.Fprintf(os.Stderr, "virtio: %v: device misbehaved, disabled: %v\n", d.Info, err)
		d.fail()
	})
}

func (d *Device) fail() {
	d.regs.Write32(abi.VirtioMMIOStatus, d.regs.Read32(abi.VirtioMMIOStatus)|abi.VirtioStatusFailed)
}

// Stop resets the device (it stops using every queue and buffer) and
// detaches the interrupt line, which makes a pending WaitInterrupt fail.
// The rings stay allocated until Close, so a driver goroutine still
// looking at them is safe; stop it, then Close.
func (d *Device) Stop() error {
	var err error
	d.stopOnce.Do(func() {
		if !d.reset() {
			err = fmt.Errorf("virtio: %v: device does not reset", d.Info)
		}
		if d.irq != nil {
			if cerr := d.irq.Close(); err == nil {
				err = cerr
			}
		}
	})
	return err
}

// reset writes 0 to the status register and waits (up to a second) for
// the device to read back 0, as virtio-mmio requires before reuse.
func (d *Device) reset() bool {
	d.regs.Write32(abi.VirtioMMIOStatus, 0)
	deadline := time.Now().Add(time.Second)
	for d.regs.Read32(abi.VirtioMMIOStatus) != 0 {
		if time.Now().After(deadline) {
			return false
		}
		runtime.Gosched()
	}
	return true
}

// Close stops the device (see Stop) and frees the rings. Buffers the
// driver gave the device may be freed afterwards.
func (d *Device) Close() error {
	err := d.Stop()
	for _, r := range d.rings {
		r.Free()
	}
	d.rings, d.queues = nil, nil
	return err
}

// printReport is a queue's default fault report (queues made outside a
// Device, e.g. in tests).
func printReport(err error) {
	fmt.Fprintf(os.Stderr, "virtio: device misbehaved, disabled: %v\n", err)
}
