package virtio

import (
	"bytes"
	"encoding/binary"
	"github.com/unigo-os/unigo/abi"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// patternRNG returns an RNG whose "random" bytes are 0xa5 so tests can check
// exactly which bytes it wrote.
func patternRNG() *RNG {
	return &RNG{Source: func(b []byte) error {
		for i := range b {
			b[i] = 0xa5
		}
		return nil
	}}
}

func TestMMIOIdentity(t *testing.T) {
	d := newTestDriver(t, NewRNG())
	assert.EqualValues(t, abi.VirtioMMIOMagic, d.r32(abi.VirtioMMIOMagicValue))
	assert.EqualValues(t, 2, d.r32(abi.VirtioMMIOVersion))
	assert.EqualValues(t, abi.VirtioDeviceRNG, d.r32(abi.VirtioMMIODeviceID))
	assert.EqualValues(t, VendorID, d.r32(abi.VirtioMMIOVendorID))
	d.w32(abi.VirtioMMIODeviceFeaturesSel, 1)
	assert.EqualValues(t, 1, d.r32(abi.VirtioMMIODeviceFeatures)&1, "VIRTIO_F_VERSION_1 offered")
	d.w32(abi.VirtioMMIODeviceFeaturesSel, 0)
	assert.EqualValues(t, (abi.VirtioFEventIdx|abi.VirtioFIndirectDesc)>>0, d.r32(abi.VirtioMMIODeviceFeatures))
	d.w32(abi.VirtioMMIODeviceFeaturesSel, 7)
	assert.Zero(t, d.r32(abi.VirtioMMIODeviceFeatures))
	d.w32(abi.VirtioMMIOQueueSel, 0)
	assert.EqualValues(t, 256, d.r32(abi.VirtioMMIOQueueNumMax))
	d.w32(abi.VirtioMMIOQueueSel, 1)
	assert.Zero(t, d.r32(abi.VirtioMMIOQueueNumMax), "absent queue")
	assert.EqualValues(t, 0xffffffff, d.r32(abi.VirtioMMIOSHMLenLow), "no shared memory")

	// Odd widths and unaligned offsets read as zero, writes are ignored.
	b := []byte{1, 2}
	d.m.Read(abi.VirtioMMIOMagicValue, b)
	assert.Equal(t, []byte{0, 0}, b)
	b = []byte{1, 2, 3, 4}
	d.m.Read(abi.VirtioMMIOMagicValue+1, b)
	assert.Equal(t, []byte{0, 0, 0, 0}, b)
	d.m.Write(abi.VirtioMMIOStatus, []byte{1})
	assert.Zero(t, d.r32(abi.VirtioMMIOStatus))
	// Configuration space of the rng is empty; past the window is nothing.
	b = []byte{9, 9, 9, 9, 9, 9, 9, 9}
	d.m.Read(abi.VirtioMMIOConfig, b)
	assert.Equal(t, make([]byte, 8), b)
	d.m.Read(MMIOSize+8, b)
	d.m.Write(MMIOSize+8, b)
}

func TestFeatureNegotiation(t *testing.T) {
	d := newTestDriver(t, NewRNG())
	assert.False(t, d.negotiate(0), "VERSION_1 is mandatory")
	assert.False(t, d.negotiate(abi.VirtioFVersion1|1<<5), "unoffered bit refused")
	assert.True(t, d.negotiate(abi.VirtioFVersion1))
	assert.True(t, d.negotiate(abi.VirtioFVersion1|abi.VirtioFEventIdx|abi.VirtioFIndirectDesc))
	// After FEATURES_OK the driver features are frozen.
	d.w32(abi.VirtioMMIODriverFeaturesSel, 0)
	d.w32(abi.VirtioMMIODriverFeatures, 1<<5)
	d.w32(abi.VirtioMMIOStatus, abi.VirtioStatusAcknowledge|abi.VirtioStatusDriver|abi.VirtioStatusFeaturesOK)
	assert.NotZero(t, d.r32(abi.VirtioMMIOStatus)&abi.VirtioStatusFeaturesOK)
}

func TestRNGEndToEnd(t *testing.T) {
	for _, feat := range []uint64{0, abi.VirtioFEventIdx, abi.VirtioFIndirectDesc, abi.VirtioFEventIdx | abi.VirtioFIndirectDesc} {
		d := newTestDriver(t, patternRNG())
		d.start(abi.VirtioFVersion1 | feat)
		assert.EqualValues(t, 1, d.r32(abi.VirtioMMIOQueueReady))

		// Two writable buffers in one chain, with guard bytes around them.
		head := d.post(tdesc{addr: tdData, len: 32, flags: abi.VirtqDescFWrite}, tdesc{addr: tdData + 64, len: 16, flags: abi.VirtqDescFWrite})
		d.m.Notify(0)
		id, n := d.waitUsed()
		assert.EqualValues(t, head, id)
		assert.EqualValues(t, 48, n)
		assert.Equal(t, bytes.Repeat([]byte{0xa5}, 32), d.mem[tdData:tdData+32])
		assert.Equal(t, make([]byte, 32), d.mem[tdData+32:tdData+64])
		assert.Equal(t, bytes.Repeat([]byte{0xa5}, 16), d.mem[tdData+64:tdData+80])
		assert.Zero(t, d.mem[tdData+80])

		require.Eventually(t, func() bool { return d.r32(abi.VirtioMMIOInterruptStatus)&abi.VirtioIntUsedBuffer != 0 }, timeout, tick)
		assert.Positive(t, d.irqs.Load())
		d.w32(abi.VirtioMMIOInterruptACK, abi.VirtioIntUsedBuffer)
		assert.Zero(t, d.r32(abi.VirtioMMIOInterruptStatus))

		// Many more requests, wrapping the ring several times, notified
		// through the QueueNotify register this time.
		for i := range 20 {
			head := d.post(tdesc{addr: tdData + 0x100, len: uint32(i + 1), flags: abi.VirtqDescFWrite})
			d.w32(abi.VirtioMMIOQueueNotify, 0)
			id, n := d.waitUsed()
			assert.EqualValues(t, head, id)
			assert.EqualValues(t, i+1, n)
		}
		if feat&abi.VirtioFEventIdx != 0 {
			// The device asks to hear about the next buffer.
			assert.Equal(t, d.availIdx, binary.LittleEndian.Uint16(d.mem[d.used+4+8*uint64(d.size):]))
		}
		assert.Zero(t, d.r32(abi.VirtioMMIOStatus)&abi.VirtioStatusNeedsReset)
	}
}

func TestRNGIndirect(t *testing.T) {
	d := newTestDriver(t, patternRNG())
	d.start(abi.VirtioFVersion1 | abi.VirtioFIndirectDesc)
	const table = 0x4000
	putDesc(d.mem, table, 0, tdesc{addr: tdData, len: 8, flags: abi.VirtqDescFWrite | abi.VirtqDescFNext, next: 2})
	putDesc(d.mem, table, 2, tdesc{addr: tdData + 16, len: 8, flags: abi.VirtqDescFWrite})
	head := d.post(tdesc{addr: table, len: 3 * 16, flags: abi.VirtqDescFIndirect})
	d.m.Notify(0)
	id, n := d.waitUsed()
	assert.EqualValues(t, head, id)
	assert.EqualValues(t, 16, n)
	assert.Equal(t, bytes.Repeat([]byte{0xa5}, 8), d.mem[tdData:tdData+8])
	assert.Equal(t, bytes.Repeat([]byte{0xa5}, 8), d.mem[tdData+16:tdData+24])
}

func TestRNGRealEntropy(t *testing.T) {
	d := newTestDriver(t, NewRNG())
	d.start(abi.VirtioFVersion1)
	d.post(tdesc{addr: tdData, len: 64, flags: abi.VirtqDescFWrite})
	d.m.Notify(0)
	_, n := d.waitUsed()
	assert.EqualValues(t, 64, n)
	assert.NotEqual(t, make([]byte, 64), d.mem[tdData:tdData+64])
}

func TestRNGReadableBuffersIgnored(t *testing.T) {
	d := newTestDriver(t, patternRNG())
	d.start(abi.VirtioFVersion1)
	d.post(tdesc{addr: tdData, len: 8}, tdesc{addr: tdData + 8, len: 8, flags: abi.VirtqDescFWrite})
	d.m.Notify(0)
	_, n := d.waitUsed()
	assert.EqualValues(t, 8, n)
	assert.Equal(t, make([]byte, 8), d.mem[tdData:tdData+8])
}

func TestQueueReadyValidation(t *testing.T) {
	cases := map[string]QueueConfig{
		"size zero":         {Size: 0, Desc: tdDesc, Driver: tdAvail, Device: tdUsed},
		"size not pow2":     {Size: 6, Desc: tdDesc, Driver: tdAvail, Device: tdUsed},
		"size above max":    {Size: 512, Desc: tdDesc, Driver: tdAvail, Device: tdUsed},
		"desc unaligned":    {Size: 8, Desc: tdDesc + 8, Driver: tdAvail, Device: tdUsed},
		"avail unaligned":   {Size: 8, Desc: tdDesc, Driver: tdAvail + 1, Device: tdUsed},
		"used unaligned":    {Size: 8, Desc: tdDesc, Driver: tdAvail, Device: tdUsed + 2},
		"desc outside":      {Size: 8, Desc: 1<<16 - 64, Driver: tdAvail, Device: tdUsed},
		"used outside":      {Size: 8, Desc: tdDesc, Driver: tdAvail, Device: 1<<16 - 8},
		"avail wraps":       {Size: 8, Desc: tdDesc, Driver: 1<<64 - 2, Device: tdUsed},
		"desc far":          {Size: 8, Desc: 1 << 40, Driver: tdAvail, Device: tdUsed},
		"used wraps around": {Size: 256, Desc: tdDesc, Driver: tdAvail, Device: 1<<64 - 4},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			d := newTestDriver(t, NewRNG())
			require.True(t, d.negotiate(abi.VirtioFVersion1))
			d.setupQueue(0, c.Size, c.Desc, c.Driver, c.Device)
			assert.NotZero(t, d.r32(abi.VirtioMMIOStatus)&abi.VirtioStatusNeedsReset)
			assert.NotZero(t, d.r32(abi.VirtioMMIOInterruptStatus)&abi.VirtioIntConfigChange)
			assert.Zero(t, d.r32(abi.VirtioMMIOQueueReady))
			assert.Error(t, d.m.Err())
			// DRIVER_OK now cannot bring up the device.
			d.w32(abi.VirtioMMIOStatus, abi.VirtioStatusAcknowledge|abi.VirtioStatusDriver|abi.VirtioStatusFeaturesOK|abi.VirtioStatusDriverOK)
			assert.NotZero(t, d.r32(abi.VirtioMMIOStatus)&abi.VirtioStatusNeedsReset)
			// Reset clears the error and the device works again.
			d.start(abi.VirtioFVersion1)
			assert.NoError(t, d.m.Err())
		})
	}
}

func TestDriverOKWithoutQueue(t *testing.T) {
	d := newTestDriver(t, NewRNG())
	require.True(t, d.negotiate(abi.VirtioFVersion1))
	d.w32(abi.VirtioMMIOStatus, abi.VirtioStatusAcknowledge|abi.VirtioStatusDriver|abi.VirtioStatusFeaturesOK|abi.VirtioStatusDriverOK)
	assert.NotZero(t, d.r32(abi.VirtioMMIOStatus)&abi.VirtioStatusNeedsReset)
	assert.ErrorContains(t, d.m.Err(), "request queue")
}

func TestDriverOKWithoutFeaturesOK(t *testing.T) {
	d := newTestDriver(t, NewRNG())
	d.w32(abi.VirtioMMIOStatus, abi.VirtioStatusAcknowledge|abi.VirtioStatusDriver|abi.VirtioStatusDriverOK)
	assert.NotZero(t, d.r32(abi.VirtioMMIOStatus)&abi.VirtioStatusNeedsReset)
}

func TestMalformedChainNeedsReset(t *testing.T) {
	d := newTestDriver(t, patternRNG())
	d.start(abi.VirtioFVersion1)
	// A two-descriptor loop.
	putDesc(d.mem, d.desc, 0, tdesc{addr: tdData, len: 8, flags: abi.VirtqDescFWrite | abi.VirtqDescFNext, next: 1})
	putDesc(d.mem, d.desc, 1, tdesc{addr: tdData, len: 8, flags: abi.VirtqDescFWrite | abi.VirtqDescFNext, next: 0})
	d.publish(0)
	d.m.Notify(0)
	require.Eventually(t, func() bool { return d.r32(abi.VirtioMMIOStatus)&abi.VirtioStatusNeedsReset != 0 }, timeout, tick)
	assert.NotZero(t, d.r32(abi.VirtioMMIOInterruptStatus)&abi.VirtioIntConfigChange)
	assert.ErrorContains(t, d.m.Err(), "loop")
	assert.Zero(t, d.usedIdx())
	// The driver writing status bits does not clear NEEDS_RESET...
	d.w32(abi.VirtioMMIOStatus, abi.VirtioStatusAcknowledge|abi.VirtioStatusDriver|abi.VirtioStatusFeaturesOK|abi.VirtioStatusDriverOK)
	assert.NotZero(t, d.r32(abi.VirtioMMIOStatus)&abi.VirtioStatusNeedsReset)
	// ...a reset does, and the device serves again.
	d.start(abi.VirtioFVersion1)
	d.post(tdesc{addr: tdData, len: 4, flags: abi.VirtqDescFWrite})
	d.m.Notify(0)
	_, n := d.waitUsed()
	assert.EqualValues(t, 4, n)
}

func TestQueueRegistersFrozenWhenReady(t *testing.T) {
	d := newTestDriver(t, patternRNG())
	d.start(abi.VirtioFVersion1)
	d.w32(abi.VirtioMMIOQueueDescLow, 0xdead0000)
	d.w32(abi.VirtioMMIOQueueNum, 3)
	d.w32(abi.VirtioMMIOQueueReady, 0)
	d.post(tdesc{addr: tdData, len: 4, flags: abi.VirtqDescFWrite})
	d.m.Notify(0)
	_, n := d.waitUsed()
	assert.EqualValues(t, 4, n)
}

func TestResetStopsWorker(t *testing.T) {
	d := newTestDriver(t, patternRNG())
	d.start(abi.VirtioFVersion1)
	d.w32(abi.VirtioMMIOStatus, 0)
	assert.Zero(t, d.r32(abi.VirtioMMIOStatus))
	assert.Zero(t, d.r32(abi.VirtioMMIOQueueReady))
	d.post(tdesc{addr: tdData, len: 4, flags: abi.VirtqDescFWrite})
	d.m.Notify(0)
	d.w32(abi.VirtioMMIOQueueNotify, 0)
	// assert.Never would poll from a goroutine that can outlive the test's
	// guest memory; a plain sleep is enough to give a stray worker time.
	time.Sleep(20 * time.Millisecond)
	assert.Zero(t, d.usedIdx())
}

// TestConcurrentNotify hammers Notify from another goroutine while the vCPU
// side reads and writes registers; run under -race.
func TestConcurrentNotify(t *testing.T) {
	d := newTestDriver(t, patternRNG())
	d.start(abi.VirtioFVersion1 | abi.VirtioFEventIdx)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				d.m.Notify(0)
				d.m.Notify(5)
			}
		}
	}()
	for range 50 {
		d.post(tdesc{addr: tdData, len: 4, flags: abi.VirtqDescFWrite})
		_, n := d.waitUsed()
		assert.EqualValues(t, 4, n)
		d.r32(abi.VirtioMMIOInterruptStatus)
		d.w32(abi.VirtioMMIOInterruptACK, 3)
	}
	// Resets racing the notifier.
	for range 5 {
		d.start(abi.VirtioFVersion1)
	}
	close(stop)
	wg.Wait()
}

func TestConfigChanged(t *testing.T) {
	d := newTestDriver(t, NewRNG())
	g := d.r32(abi.VirtioMMIOConfigGeneration)
	d.m.ConfigChanged()
	assert.Equal(t, g+1, d.r32(abi.VirtioMMIOConfigGeneration))
	assert.NotZero(t, d.r32(abi.VirtioMMIOInterruptStatus)&abi.VirtioIntConfigChange)
	assert.True(t, d.m.InterruptPending())
	d.w32(abi.VirtioMMIOInterruptACK, abi.VirtioIntConfigChange)
	assert.False(t, d.m.InterruptPending())
}
