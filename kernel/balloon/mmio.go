package balloon

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/vmmio"
)

// The virtio-mmio transport (version 2, virtio 1.x): kernel/vmmio.

// Setup drives the virtio balloon at regs (mapped) through feature
// negotiation (VERSION_1 and PAGE_REPORTING required; STATS_VQ accepted
// when offered) and sets up its reporting queue; ram, RAM's size, sets
// the reserve. On failure the device is left FAILED and Setup
// returns why.
func (b *Balloon) Setup(regs uintptr, gsi uint32, ram uintptr) string {
	b.regs, b.GSI = vmmio.Regs(regs), gsi
	if why := b.regs.Begin(abi.VirtioDeviceBalloon, "no virtio balloon"); why != "" {
		return why
	}
	got, why := b.regs.Negotiate(abi.VirtioFVersion1|abi.VirtioBalloonFPageReporting, abi.VirtioBalloonFStatsVQ,
		"device lacks VERSION_1 or PAGE_REPORTING")
	if why != "" {
		return why
	}
	// inflateq and deflateq, then statsq when negotiated, then ours.
	b.qnum = 2
	if got&abi.VirtioBalloonFStatsVQ != 0 {
		b.qnum = 3
	}
	num := b.regs.QueueSize(b.qnum, MaxRanges)
	if num == 0 {
		return b.regs.Fail("reporting queue unavailable")
	}
	b.reset(uint16(num))
	b.regs.QueueReady(num, b.desc, b.avail, b.used)
	b.regs.DriverOK()
	b.SetReserve(ram)
	// Published under the lock: a CPU that sees Active takes the lock
	// next (TryIdle, Reclaim) and so sees the set-up whole, though it ran
	// on another CPU (the kernel sets the device up on its first idle).
	b.lock.Lock()
	b.Active = true
	b.lock.Unlock()
	return ""
}

// Fail marks a set-up device FAILED (the kernel could not go on with it).
func (b *Balloon) Fail() {
	b.Active = false
	b.regs.Fail("")
}

// kick notifies the device of the report posted.
func (b *Balloon) kick() {
	if b.regs != 0 {
		b.regs.Notify(b.qnum)
	} else if b.onKick != nil {
		b.onKick()
	}
}

// ackInterrupt acknowledges the device's interrupt, if raised: the driver
// polls the used ring and leaves the line unrouted, but QEMU keeps a
// level line raised until it is acknowledged.
func (b *Balloon) ackInterrupt() { b.regs.AckInterrupt() }
