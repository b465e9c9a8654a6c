package balloon

import (
	"sync/atomic"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
)

// The virtio-mmio transport (version 2, virtio 1.x).

func (b *Balloon) read32(off uintptr) uint32 { return atomic.LoadUint32(kctx.At[uint32](b.regs + off)) }

func (b *Balloon) write32(off uintptr, v uint32) {
	atomic.StoreUint32(kctx.At[uint32](b.regs+off), v)
}

// Setup drives the virtio balloon at regs (mapped) through feature
// negotiation (VERSION_1 and PAGE_REPORTING required; STATS_VQ accepted
// when offered) and sets up its reporting queue; ram, RAM's size, sets
// the reserve. On failure the device is left FAILED and Setup
// returns why.
func (b *Balloon) Setup(regs uintptr, gsi uint32, ram uintptr) string {
	b.regs, b.GSI = regs, gsi
	if b.read32(abi.VirtioMMIOMagicValue) != abi.VirtioMMIOMagic || b.read32(abi.VirtioMMIODeviceID) != abi.VirtioDeviceBalloon {
		return "no virtio balloon"
	}
	if b.read32(abi.VirtioMMIOVersion) != abi.VirtioMMIOVersion2 {
		return "legacy virtio-mmio transport (QEMU: -global virtio-mmio.force-legacy=false)"
	}
	b.write32(abi.VirtioMMIOStatus, 0)
	if b.read32(abi.VirtioMMIOStatus) != 0 {
		return "device does not reset"
	}
	b.write32(abi.VirtioMMIOStatus, abi.VirtioStatusAcknowledge|abi.VirtioStatusDriver)
	b.write32(abi.VirtioMMIODeviceFeaturesSel, 0)
	lo := b.read32(abi.VirtioMMIODeviceFeatures)
	b.write32(abi.VirtioMMIODeviceFeaturesSel, 1)
	hi := b.read32(abi.VirtioMMIODeviceFeatures)
	offered := uint64(hi)<<32 | uint64(lo)
	want := uint64(abi.VirtioFVersion1 | abi.VirtioBalloonFPageReporting)
	if offered&want != want {
		return b.failed("device lacks VERSION_1 or PAGE_REPORTING")
	}
	b.qnum = 2
	if offered&abi.VirtioBalloonFStatsVQ != 0 {
		want |= abi.VirtioBalloonFStatsVQ
		b.qnum = 3
	}
	b.write32(abi.VirtioMMIODriverFeaturesSel, 0)
	b.write32(abi.VirtioMMIODriverFeatures, uint32(want))
	b.write32(abi.VirtioMMIODriverFeaturesSel, 1)
	b.write32(abi.VirtioMMIODriverFeatures, uint32(want>>32))
	b.write32(abi.VirtioMMIOStatus, abi.VirtioStatusAcknowledge|abi.VirtioStatusDriver|abi.VirtioStatusFeaturesOK)
	if b.read32(abi.VirtioMMIOStatus)&abi.VirtioStatusFeaturesOK == 0 {
		return b.failed("device refused the features")
	}
	b.write32(abi.VirtioMMIOQueueSel, b.qnum)
	num := uint32(MaxRanges)
	for num > b.read32(abi.VirtioMMIOQueueNumMax) {
		num >>= 1
	}
	if num == 0 || b.read32(abi.VirtioMMIOQueueReady) != 0 {
		return b.failed("reporting queue unavailable")
	}
	b.reset(uint16(num))
	b.write32(abi.VirtioMMIOQueueNum, num)
	b.write32(abi.VirtioMMIOQueueDescLow, uint32(b.desc))
	b.write32(abi.VirtioMMIOQueueDescHigh, uint32(uint64(b.desc)>>32))
	b.write32(abi.VirtioMMIOQueueDriverLow, uint32(b.avail))
	b.write32(abi.VirtioMMIOQueueDriverHigh, uint32(uint64(b.avail)>>32))
	b.write32(abi.VirtioMMIOQueueDeviceLow, uint32(b.used))
	b.write32(abi.VirtioMMIOQueueDeviceHigh, uint32(uint64(b.used)>>32))
	b.write32(abi.VirtioMMIOQueueReady, 1)
	b.write32(abi.VirtioMMIOStatus, abi.VirtioStatusAcknowledge|abi.VirtioStatusDriver|abi.VirtioStatusFeaturesOK|abi.VirtioStatusDriverOK)
	b.SetReserve(ram)
	b.Active = true
	return ""
}

// failed marks the device FAILED and returns why.
func (b *Balloon) failed(why string) string {
	b.write32(abi.VirtioMMIOStatus, b.read32(abi.VirtioMMIOStatus)|abi.VirtioStatusFailed)
	return why
}

// Fail marks a set-up device FAILED (the kernel could not go on with it).
func (b *Balloon) Fail() {
	b.Active = false
	if b.regs != 0 {
		b.failed("")
	}
}

// kick notifies the device of the report posted.
func (b *Balloon) kick() {
	if b.regs != 0 {
		b.write32(abi.VirtioMMIOQueueNotify, b.qnum)
	} else if b.onKick != nil {
		b.onKick()
	}
}

// ackInterrupt acknowledges the device's interrupt, if raised: the driver
// polls the used ring and leaves the line unrouted, but QEMU keeps a
// level line raised until it is acknowledged.
func (b *Balloon) ackInterrupt() {
	if b.regs == 0 {
		return
	}
	if s := b.read32(abi.VirtioMMIOInterruptStatus); s != 0 {
		b.write32(abi.VirtioMMIOInterruptACK, s)
	}
}
