package vmmio

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/abi"
	_ "github.com/unigo-os/unigo/kernel/internal/linkstub" // rt's entry points
)

// window is a register window in plain memory: it keeps what is written,
// which is enough to follow the handshake's writes and reads.
var window [256]uint32

func fake(t *testing.T) Regs {
	clear(window[:])
	window[abi.VirtioMMIOMagicValue/4] = abi.VirtioMMIOMagic
	window[abi.VirtioMMIOVersion/4] = abi.VirtioMMIOVersion2
	window[abi.VirtioMMIODeviceID/4] = abi.VirtioDeviceBalloon
	return Regs(uintptr(unsafe.Pointer(&window[0])))
}

func reg(off uintptr) uint32 { return window[off/4] }

func TestBegin(t *testing.T) {
	r := fake(t)
	assert.Equal(t, "not it", r.Begin(abi.VirtioDeviceConsole, "not it"))
	assert.Zero(t, reg(abi.VirtioMMIOStatus), "a window of another device is left alone")
	require.Empty(t, r.Begin(abi.VirtioDeviceBalloon, "not it"))
	assert.EqualValues(t, abi.VirtioStatusAcknowledge|abi.VirtioStatusDriver, reg(abi.VirtioMMIOStatus))

	r = fake(t)
	window[abi.VirtioMMIOVersion/4] = 1
	assert.Contains(t, r.Begin(abi.VirtioDeviceBalloon, "not it"), "legacy virtio-mmio transport")
	window[abi.VirtioMMIOMagicValue/4] = 0
	assert.Equal(t, "not it", r.Begin(abi.VirtioDeviceBalloon, "not it"))
}

func TestNegotiate(t *testing.T) {
	r := fake(t)
	require.Empty(t, r.Begin(abi.VirtioDeviceBalloon, ""))
	// Both feature words read the same register here: bits 0 and 5 in
	// each, so VERSION_1 (bit 32) and bit 5 are offered, bit 1 is not.
	window[abi.VirtioMMIODeviceFeatures/4] = 1 | 1<<5
	got, why := r.Negotiate(abi.VirtioFVersion1|1<<5, 1<<1|1<<0, "lacking")
	require.Empty(t, why)
	assert.EqualValues(t, abi.VirtioFVersion1|1<<5|1<<0, got, "need, and what of optional is offered")
	assert.EqualValues(t, 1, reg(abi.VirtioMMIODriverFeatures), "the high word written last")
	assert.NotZero(t, reg(abi.VirtioMMIOStatus)&abi.VirtioStatusFeaturesOK)

	_, why = r.Negotiate(abi.VirtioFVersion1|1<<7, 0, "lacking bit 7")
	assert.Equal(t, "lacking bit 7", why)
	assert.NotZero(t, reg(abi.VirtioMMIOStatus)&abi.VirtioStatusFailed)
}

func TestQueue(t *testing.T) {
	r := fake(t)
	window[abi.VirtioMMIOQueueNumMax/4] = 100
	assert.EqualValues(t, 64, r.QueueSize(3, 128))
	assert.EqualValues(t, 3, reg(abi.VirtioMMIOQueueSel))
	assert.EqualValues(t, 8, r.QueueSize(3, 8))
	r.QueueReady(64, 0x1_2345_6000, 0x7000, 0x8000)
	assert.EqualValues(t, 64, reg(abi.VirtioMMIOQueueNum))
	assert.EqualValues(t, 0x2345_6000, reg(abi.VirtioMMIOQueueDescLow))
	assert.EqualValues(t, 1, reg(abi.VirtioMMIOQueueDescHigh))
	assert.EqualValues(t, 0x7000, reg(abi.VirtioMMIOQueueDriverLow))
	assert.EqualValues(t, 0x8000, reg(abi.VirtioMMIOQueueDeviceLow))
	assert.EqualValues(t, 1, reg(abi.VirtioMMIOQueueReady))
	assert.Zero(t, r.QueueSize(3, 8), "a live queue is not set up again")
	window[abi.VirtioMMIOQueueReady/4], window[abi.VirtioMMIOQueueNumMax/4] = 0, 0
	assert.Zero(t, r.QueueSize(3, 8), "no room")

	r.DriverOK()
	assert.NotZero(t, reg(abi.VirtioMMIOStatus)&abi.VirtioStatusDriverOK)
	r.Notify(2)
	assert.EqualValues(t, 2, reg(abi.VirtioMMIOQueueNotify))
	window[abi.VirtioMMIOInterruptStatus/4] = 3
	r.AckInterrupt()
	assert.EqualValues(t, 3, reg(abi.VirtioMMIOInterruptACK))
}

// TestNoTransport: a zero Regs reads zero and writes nothing.
func TestNoTransport(t *testing.T) {
	var r Regs
	assert.Zero(t, r.Read32(abi.VirtioMMIOMagicValue))
	r.Write32(abi.VirtioMMIOStatus, 1)
	r.Notify(0)
	r.AckInterrupt()
	assert.Equal(t, "none", r.Begin(abi.VirtioDeviceBalloon, "none"))
}
