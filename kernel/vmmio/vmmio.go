package vmmio

import (
	"sync/atomic"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
)

// Regs is a transport's register window (its mapped address), 0 for none.
type Regs uintptr

// Read32 reads the register at off.
func (r Regs) Read32(off uintptr) uint32 {
	if r == 0 {
		return 0
	}
	return atomic.LoadUint32(kctx.At[uint32](uintptr(r) + off))
}

// Write32 writes the register at off with one plain store (MOVL).
// Not atomic.StoreUint32: on amd64 that is XCHG, a read and a write,
// which a hypervisor emulates as two accesses and, for a register the
// host serves in user space (all of virtio-mmio), two exits. x86 keeps
// stores in order, so ring writes before a notification still reach
// memory first.
func (r Regs) Write32(off uintptr, v uint32) {
	if r != 0 {
		store32(uintptr(r)+off, v)
	}
}

// store32 is not inlined, so each call is exactly one store that the
// compiler can neither merge with a neighbour nor drop as dead (a
// selector written twice in a row must be).
//
//go:noinline
func store32(a uintptr, v uint32) { *kctx.At[uint32](a) = v }

// Begin checks that the window holds device id behind a version 2
// transport, resets the device and sets ACKNOWLEDGE and DRIVER. notIt is
// what Begin returns when the window holds something else.
func (r Regs) Begin(id uint32, notIt string) string {
	if r.Read32(abi.VirtioMMIOMagicValue) != abi.VirtioMMIOMagic || r.Read32(abi.VirtioMMIODeviceID) != id {
		return notIt
	}
	if r.Read32(abi.VirtioMMIOVersion) != abi.VirtioMMIOVersion2 {
		return "legacy virtio-mmio transport (QEMU: -global virtio-mmio.force-legacy=false)"
	}
	r.Write32(abi.VirtioMMIOStatus, 0)
	if r.Read32(abi.VirtioMMIOStatus) != 0 {
		return "device does not reset"
	}
	r.Write32(abi.VirtioMMIOStatus, abi.VirtioStatusAcknowledge|abi.VirtioStatusDriver)
	return ""
}

// Negotiate accepts the features in need, which the device must all
// offer (else it fails with lacking), and those of optional it offers;
// it returns them once the device has taken them (FEATURES_OK).
func (r Regs) Negotiate(need, optional uint64, lacking string) (uint64, string) {
	r.Write32(abi.VirtioMMIODeviceFeaturesSel, 0)
	lo := r.Read32(abi.VirtioMMIODeviceFeatures)
	r.Write32(abi.VirtioMMIODeviceFeaturesSel, 1)
	hi := r.Read32(abi.VirtioMMIODeviceFeatures)
	offered := uint64(hi)<<32 | uint64(lo)
	if offered&need != need {
		return 0, r.Fail(lacking)
	}
	take := need | offered&optional
	r.Write32(abi.VirtioMMIODriverFeaturesSel, 0)
	r.Write32(abi.VirtioMMIODriverFeatures, uint32(take))
	r.Write32(abi.VirtioMMIODriverFeaturesSel, 1)
	r.Write32(abi.VirtioMMIODriverFeatures, uint32(take>>32))
	r.Write32(abi.VirtioMMIOStatus, abi.VirtioStatusAcknowledge|abi.VirtioStatusDriver|abi.VirtioStatusFeaturesOK)
	if r.Read32(abi.VirtioMMIOStatus)&abi.VirtioStatusFeaturesOK == 0 {
		return 0, r.Fail("device refused the features")
	}
	return take, ""
}

// QueueSize selects queue q and returns the largest size up to want (a
// power of two) the device takes, halving want until it fits; 0 if the
// queue is already live or has no room.
func (r Regs) QueueSize(q, want uint32) uint32 {
	r.Write32(abi.VirtioMMIOQueueSel, q)
	if r.Read32(abi.VirtioMMIOQueueReady) != 0 {
		return 0
	}
	max := r.Read32(abi.VirtioMMIOQueueNumMax)
	for want > max {
		want >>= 1
	}
	return want
}

// QueueReady gives the queue QueueSize selected its size and its rings'
// guest-physical addresses, and makes it live.
func (r Regs) QueueReady(size uint32, desc, avail, used uintptr) {
	r.Write32(abi.VirtioMMIOQueueNum, size)
	r.Write32(abi.VirtioMMIOQueueDescLow, uint32(desc))
	r.Write32(abi.VirtioMMIOQueueDescHigh, uint32(uint64(desc)>>32))
	r.Write32(abi.VirtioMMIOQueueDriverLow, uint32(avail))
	r.Write32(abi.VirtioMMIOQueueDriverHigh, uint32(uint64(avail)>>32))
	r.Write32(abi.VirtioMMIOQueueDeviceLow, uint32(used))
	r.Write32(abi.VirtioMMIOQueueDeviceHigh, uint32(uint64(used)>>32))
	r.Write32(abi.VirtioMMIOQueueReady, 1)
}

// DriverOK tells the device the driver is ready: it may use the queues.
func (r Regs) DriverOK() {
	r.Write32(abi.VirtioMMIOStatus, abi.VirtioStatusAcknowledge|abi.VirtioStatusDriver|abi.VirtioStatusFeaturesOK|abi.VirtioStatusDriverOK)
}

// Fail marks the device FAILED and returns why.
func (r Regs) Fail(why string) string {
	r.Write32(abi.VirtioMMIOStatus, r.Read32(abi.VirtioMMIOStatus)|abi.VirtioStatusFailed)
	return why
}

// Notify tells the device queue q has new buffers.
func (r Regs) Notify(q uint32) { r.Write32(abi.VirtioMMIOQueueNotify, q) }

// AckInterrupt acknowledges what the device's interrupt status holds,
// which lowers a level-triggered line.
func (r Regs) AckInterrupt() {
	if s := r.Read32(abi.VirtioMMIOInterruptStatus); s != 0 {
		r.Write32(abi.VirtioMMIOInterruptACK, s)
	}
}
