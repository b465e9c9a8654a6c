package virtio

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/unigo-os/unigo/drivers/hw"
)

// Device types (virtio 1.x, section 5).
const (
	DeviceNet = 1
	DeviceRNG = 4
)

// Transport feature bits (virtio 1.x, section 6).
const (
	FeatureIndirectDesc = 1 << 28
	FeatureEventIdx     = 1 << 29
	FeatureVersion1     = 1 << 32
)

// Device status bits.
const (
	StatusAcknowledge = 1
	StatusDriver      = 2
	StatusDriverOK    = 4
	StatusFeaturesOK  = 8
	StatusNeedsReset  = 64
	StatusFailed      = 128
)

// virtio-mmio registers, version 2 (virtio 1.x, section 4.2.2).
const (
	regMagic            = 0x000
	regVersion          = 0x004
	regDeviceID         = 0x008
	regVendorID         = 0x00c
	regDeviceFeatures   = 0x010
	regDeviceFeatureSel = 0x014
	regDriverFeatures   = 0x020
	regDriverFeatureSel = 0x024
	regQueueSel         = 0x030
	regQueueNumMax      = 0x034
	regQueueNum         = 0x038
	regQueueReady       = 0x044
	regQueueNotify      = 0x050
	regInterruptStatus  = 0x060
	regInterruptACK     = 0x064
	regStatus           = 0x070
	regQueueDescLow     = 0x080
	regQueueDescHigh    = 0x084
	regQueueDriverLow   = 0x090
	regQueueDriverHigh  = 0x094
	regQueueDeviceLow   = 0x0a0
	regQueueDeviceHigh  = 0x0a4
	regConfigGeneration = 0x0fc
	regConfig           = 0x100

	mmioMagic = 0x74726976 // "virt"
)

// Interrupt status bits.
const (
	InterruptUsedBuffer = 1
	InterruptConfig     = 2
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
		if info.Size < regConfig {
			continue
		}
		regs, err := hw.MapMMIO(info.Base, info.Size)
		if err != nil {
			return nil, err
		}
		if regs.Read32(regMagic) != mmioMagic {
			continue
		}
		if got := regs.Read32(regDeviceID); got != 0 && (id == 0 || got == id) {
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
	if info.Size < regConfig {
		return nil, fmt.Errorf("virtio: %v: window smaller than the registers", info)
	}
	regs, err := hw.MapMMIO(info.Base, info.Size)
	if err != nil {
		return nil, err
	}
	if m := regs.Read32(regMagic); m != mmioMagic {
		return nil, fmt.Errorf("virtio: %v: no virtio-mmio device (magic %#x)", info, m)
	}
	if v := regs.Read32(regVersion); v != 2 {
		return nil, fmt.Errorf("virtio: %v: transport version %d, want 2 (virtio 1.x; QEMU: -global virtio-mmio.force-legacy=false)", info, v)
	}
	d := &Device{Info: info, regs: regs, id: regs.Read32(regDeviceID), level: level}
	if d.id == 0 {
		return nil, fmt.Errorf("virtio: %v: empty slot", info)
	}
	if !d.reset() {
		return nil, fmt.Errorf("virtio: %v: device does not reset", info)
	}
	d.regs.Write32(regStatus, StatusAcknowledge|StatusDriver)
	return d, nil
}

// ID is the device type.
func (d *Device) ID() uint32 { return d.id }

// Features are the negotiated feature bits.
func (d *Device) Features() uint64 { return d.features }

// Offered returns the feature bits the device offers.
func (d *Device) Offered() uint64 {
	d.regs.Write32(regDeviceFeatureSel, 0)
	offered := uint64(d.regs.Read32(regDeviceFeatures))
	d.regs.Write32(regDeviceFeatureSel, 1)
	return offered | uint64(d.regs.Read32(regDeviceFeatures))<<32
}

// Negotiate accepts the offered features that are also in want (plus
// VERSION_1, which is required) and returns them. It may be called once.
func (d *Device) Negotiate(want uint64) (uint64, error) {
	offered := d.Offered()
	if offered&FeatureVersion1 == 0 {
		d.fail()
		return 0, fmt.Errorf("virtio: %v: device does not offer VERSION_1", d.Info)
	}
	f := offered & (want | FeatureVersion1)
	d.regs.Write32(regDriverFeatureSel, 0)
	d.regs.Write32(regDriverFeatures, uint32(f))
	d.regs.Write32(regDriverFeatureSel, 1)
	d.regs.Write32(regDriverFeatures, uint32(f>>32))
	d.regs.Write32(regStatus, StatusAcknowledge|StatusDriver|StatusFeaturesOK)
	if d.regs.Read32(regStatus)&StatusFeaturesOK == 0 {
		d.fail()
		return 0, fmt.Errorf("virtio: %v: device refused features %#x", d.Info, f)
	}
	d.features = f
	return f, nil
}

// SetupQueue sets up queue index with at most maxSize entries (fewer if
// the device allows fewer). Call it after Negotiate and before Start.
func (d *Device) SetupQueue(index, maxSize int) (*Queue, error) {
	d.regs.Write32(regQueueSel, uint32(index))
	if d.regs.Read32(regQueueReady) != 0 {
		return nil, fmt.Errorf("virtio: %v: queue %d already in use", d.Info, index)
	}
	max := int(d.regs.Read32(regQueueNumMax))
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
	q, err := NewQueue(index, size, ring.Bytes, ring.Phys, d.features&FeatureEventIdx != 0, d.fault)
	if err != nil {
		ring.Free()
		return nil, err
	}
	dsc, avail, used := q.Addresses()
	d.regs.Write32(regQueueNum, uint32(size))
	d.regs.Write32(regQueueDescLow, uint32(dsc))
	d.regs.Write32(regQueueDescHigh, uint32(dsc>>32))
	d.regs.Write32(regQueueDriverLow, uint32(avail))
	d.regs.Write32(regQueueDriverHigh, uint32(avail>>32))
	d.regs.Write32(regQueueDeviceLow, uint32(used))
	d.regs.Write32(regQueueDeviceHigh, uint32(used>>32))
	d.regs.Write32(regQueueReady, 1)
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
	d.regs.Write32(regStatus, StatusAcknowledge|StatusDriver|StatusFeaturesOK|StatusDriverOK)
	return nil
}

// Kick publishes q's new chains and notifies the device if it asks.
func (d *Device) Kick(q *Queue) {
	if q.Kick() && !d.broken.Load() {
		d.regs.Write32(regQueueNotify, uint32(q.index))
	}
}

// WaitInterrupt parks the calling goroutine until the device interrupts,
// acknowledges the interrupt (and unmasks a level-triggered line) and
// returns the interrupt status bits. Only one goroutine may wait.
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
	isr := d.regs.Read32(regInterruptStatus)
	if isr != 0 {
		d.regs.Write32(regInterruptACK, isr)
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
		g := d.regs.Read32(regConfigGeneration)
		read()
		if d.regs.Read32(regConfigGeneration) == g {
			return
		}
	}
}

// Config8, Config16 and Config32 read the device configuration space at
// offset off (little-endian, as virtio 1.x defines it).
func (d *Device) Config8(off uintptr) uint8   { return d.regs.Read8(regConfig + off) }
func (d *Device) Config16(off uintptr) uint16 { return d.regs.Read16(regConfig + off) }
func (d *Device) Config32(off uintptr) uint32 { return d.regs.Read32(regConfig + off) }

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
	d.regs.Write32(regStatus, d.regs.Read32(regStatus)|StatusFailed)
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
	d.regs.Write32(regStatus, 0)
	deadline := time.Now().Add(time.Second)
	for d.regs.Read32(regStatus) != 0 {
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
