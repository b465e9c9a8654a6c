package vcon

import (
	"sync/atomic"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
)

// The virtio-mmio transport (version 2, virtio 1.x).

// featMultiport is VIRTIO_CONSOLE_F_MULTIPORT.
const featMultiport = 1 << 1

func (c *Console) read32(off uintptr) uint32 { return atomic.LoadUint32(kctx.At[uint32](c.regs + off)) }

func (c *Console) write32(off uintptr, v uint32) {
	atomic.StoreUint32(kctx.At[uint32](c.regs+off), v)
}

// Setup drives the virtio console at regs (mapped) through feature
// negotiation (VERSION_1 and MULTIPORT, both required), sets up its
// queues, tells it the driver is ready and sends DEVICE_READY. On
// failure the device is left FAILED and Setup returns why.
func (c *Console) Setup(regs uintptr, gsi uint32) string {
	c.regs, c.GSI = regs, gsi
	if c.read32(abi.VirtioMMIOMagicValue) != abi.VirtioMMIOMagic || c.read32(abi.VirtioMMIODeviceID) != abi.VirtioDeviceConsole {
		return "no virtio console"
	}
	if c.read32(abi.VirtioMMIOVersion) != 2 {
		return "legacy virtio-mmio transport (QEMU: -global virtio-mmio.force-legacy=false)"
	}
	c.write32(abi.VirtioMMIOStatus, 0)
	if c.read32(abi.VirtioMMIOStatus) != 0 {
		return "device does not reset"
	}
	c.write32(abi.VirtioMMIOStatus, abi.VirtioStatusAcknowledge|abi.VirtioStatusDriver)
	c.write32(abi.VirtioMMIODeviceFeaturesSel, 0)
	lo := c.read32(abi.VirtioMMIODeviceFeatures)
	c.write32(abi.VirtioMMIODeviceFeaturesSel, 1)
	hi := c.read32(abi.VirtioMMIODeviceFeatures)
	const want = abi.VirtioFVersion1 | featMultiport
	if (uint64(hi)<<32|uint64(lo))&want != want {
		return c.failed("device lacks VERSION_1 or MULTIPORT")
	}
	c.write32(abi.VirtioMMIODriverFeaturesSel, 0)
	c.write32(abi.VirtioMMIODriverFeatures, uint32(want&0xffffffff))
	c.write32(abi.VirtioMMIODriverFeaturesSel, 1)
	c.write32(abi.VirtioMMIODriverFeatures, uint32(want>>32))
	c.write32(abi.VirtioMMIOStatus, abi.VirtioStatusAcknowledge|abi.VirtioStatusDriver|abi.VirtioStatusFeaturesOK)
	if c.read32(abi.VirtioMMIOStatus)&abi.VirtioStatusFeaturesOK == 0 {
		return c.failed("device refused the features")
	}
	c.reset()
	for i := range c.qs {
		q := &c.qs[i]
		c.write32(abi.VirtioMMIOQueueSel, queueNum[i])
		if c.read32(abi.VirtioMMIOQueueNumMax) < QueueSize || c.read32(abi.VirtioMMIOQueueReady) != 0 {
			return c.failed("queue unavailable")
		}
		c.write32(abi.VirtioMMIOQueueNum, QueueSize)
		c.write32(abi.VirtioMMIOQueueDescLow, uint32(q.desc))
		c.write32(abi.VirtioMMIOQueueDescHigh, uint32(uint64(q.desc)>>32))
		c.write32(abi.VirtioMMIOQueueDriverLow, uint32(q.avail))
		c.write32(abi.VirtioMMIOQueueDriverHigh, uint32(uint64(q.avail)>>32))
		c.write32(abi.VirtioMMIOQueueDeviceLow, uint32(q.used))
		c.write32(abi.VirtioMMIOQueueDeviceHigh, uint32(uint64(q.used)>>32))
		c.write32(abi.VirtioMMIOQueueReady, 1)
	}
	c.write32(abi.VirtioMMIOStatus, abi.VirtioStatusAcknowledge|abi.VirtioStatusDriver|abi.VirtioStatusFeaturesOK|abi.VirtioStatusDriverOK)
	c.DeviceReady()
	c.Active = true
	c.Kick()
	return ""
}

// failed marks the device FAILED and returns why.
func (c *Console) failed(why string) string {
	c.write32(abi.VirtioMMIOStatus, c.read32(abi.VirtioMMIOStatus)|abi.VirtioStatusFailed)
	return why
}

// Kick notifies the device of the queues with new entries.
func (c *Console) Kick() {
	k := c.kicks
	c.kicks = 0
	if c.regs == 0 || c.broken {
		return
	}
	for i := range c.qs {
		if k&(1<<i) != 0 {
			c.write32(abi.VirtioMMIOQueueNotify, queueNum[i])
		}
	}
}

// Interrupt acknowledges the device's interrupt, which lowers its line;
// the caller then takes what the queues hold (Read), so nothing that
// arrives after the acknowledgement goes without an interrupt.
func (c *Console) Interrupt() {
	if c.regs == 0 {
		return
	}
	if s := c.read32(abi.VirtioMMIOInterruptStatus); s != 0 {
		c.write32(abi.VirtioMMIOInterruptACK, s)
	}
}
