package vcon

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/vmmio"
)

// The virtio-mmio transport (version 2, virtio 1.x): kernel/vmmio.

// featMultiport is VIRTIO_CONSOLE_F_MULTIPORT.
const featMultiport = 1 << 1

// Setup drives the virtio console at regs (mapped) through feature
// negotiation (VERSION_1 and MULTIPORT, both required), sets up its
// queues, tells it the driver is ready and sends DEVICE_READY. On
// failure the device is left FAILED and Setup returns why.
func (c *Console) Setup(regs uintptr, gsi uint32) string {
	c.regs, c.GSI = vmmio.Regs(regs), gsi
	if why := c.regs.Begin(abi.VirtioDeviceConsole, "no virtio console"); why != "" {
		return why
	}
	if _, why := c.regs.Negotiate(abi.VirtioFVersion1|featMultiport, 0, "device lacks VERSION_1 or MULTIPORT"); why != "" {
		return why
	}
	c.reset()
	for i := range c.qs {
		q := &c.qs[i]
		if c.regs.QueueSize(queueNum[i], QueueSize) != QueueSize {
			return c.regs.Fail("queue unavailable")
		}
		c.regs.QueueReady(QueueSize, q.desc, q.avail, q.used)
	}
	c.regs.DriverOK()
	c.DeviceReady()
	c.Active = true
	c.Kick()
	return ""
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
			c.regs.Notify(queueNum[i])
		}
	}
}

// Interrupt acknowledges the device's interrupt, which lowers its line;
// the caller then takes what the queues hold (Read), so nothing that
// arrives after the acknowledgement goes without an interrupt.
func (c *Console) Interrupt() { c.regs.AckInterrupt() }
