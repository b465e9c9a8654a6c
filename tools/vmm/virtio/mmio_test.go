package virtio

import (
	"bytes"
	"encoding/binary"
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
	assert.EqualValues(t, MMIOMagic, d.r32(RegMagicValue))
	assert.EqualValues(t, 2, d.r32(RegVersion))
	assert.EqualValues(t, DeviceIDRNG, d.r32(RegDeviceID))
	assert.EqualValues(t, VendorID, d.r32(RegVendorID))
	d.w32(RegDeviceFeaturesSel, 1)
	assert.EqualValues(t, 1, d.r32(RegDeviceFeatures)&1, "VIRTIO_F_VERSION_1 offered")
	d.w32(RegDeviceFeaturesSel, 0)
	assert.EqualValues(t, (FeatureEventIdx|FeatureIndirectDesc)>>0, d.r32(RegDeviceFeatures))
	d.w32(RegDeviceFeaturesSel, 7)
	assert.Zero(t, d.r32(RegDeviceFeatures))
	d.w32(RegQueueSel, 0)
	assert.EqualValues(t, 256, d.r32(RegQueueNumMax))
	d.w32(RegQueueSel, 1)
	assert.Zero(t, d.r32(RegQueueNumMax), "absent queue")
	assert.EqualValues(t, 0xffffffff, d.r32(RegSHMLenLow), "no shared memory")

	// Odd widths and unaligned offsets read as zero, writes are ignored.
	b := []byte{1, 2}
	d.m.Read(RegMagicValue, b)
	assert.Equal(t, []byte{0, 0}, b)
	b = []byte{1, 2, 3, 4}
	d.m.Read(RegMagicValue+1, b)
	assert.Equal(t, []byte{0, 0, 0, 0}, b)
	d.m.Write(RegStatus, []byte{1})
	assert.Zero(t, d.r32(RegStatus))
	// Configuration space of the rng is empty; past the window is nothing.
	b = []byte{9, 9, 9, 9, 9, 9, 9, 9}
	d.m.Read(RegConfig, b)
	assert.Equal(t, make([]byte, 8), b)
	d.m.Read(MMIOSize+8, b)
	d.m.Write(MMIOSize+8, b)
}

func TestFeatureNegotiation(t *testing.T) {
	d := newTestDriver(t, NewRNG())
	assert.False(t, d.negotiate(0), "VERSION_1 is mandatory")
	assert.False(t, d.negotiate(FeatureVersion1|1<<5), "unoffered bit refused")
	assert.True(t, d.negotiate(FeatureVersion1))
	assert.True(t, d.negotiate(FeatureVersion1|FeatureEventIdx|FeatureIndirectDesc))
	// After FEATURES_OK the driver features are frozen.
	d.w32(RegDriverFeaturesSel, 0)
	d.w32(RegDriverFeatures, 1<<5)
	d.w32(RegStatus, StatusAcknowledge|StatusDriver|StatusFeaturesOK)
	assert.NotZero(t, d.r32(RegStatus)&StatusFeaturesOK)
}

func TestRNGEndToEnd(t *testing.T) {
	for _, feat := range []uint64{0, FeatureEventIdx, FeatureIndirectDesc, FeatureEventIdx | FeatureIndirectDesc} {
		d := newTestDriver(t, patternRNG())
		d.start(FeatureVersion1 | feat)
		assert.EqualValues(t, 1, d.r32(RegQueueReady))

		// Two writable buffers in one chain, with guard bytes around them.
		head := d.post(tdesc{addr: tdData, len: 32, flags: DescFlagWrite}, tdesc{addr: tdData + 64, len: 16, flags: DescFlagWrite})
		d.m.Notify(0)
		id, n := d.waitUsed()
		assert.EqualValues(t, head, id)
		assert.EqualValues(t, 48, n)
		assert.Equal(t, bytes.Repeat([]byte{0xa5}, 32), d.mem[tdData:tdData+32])
		assert.Equal(t, make([]byte, 32), d.mem[tdData+32:tdData+64])
		assert.Equal(t, bytes.Repeat([]byte{0xa5}, 16), d.mem[tdData+64:tdData+80])
		assert.Zero(t, d.mem[tdData+80])

		require.Eventually(t, func() bool { return d.r32(RegInterruptStatus)&InterruptUsedBuffer != 0 }, timeout, tick)
		assert.Positive(t, d.irqs.Load())
		d.w32(RegInterruptACK, InterruptUsedBuffer)
		assert.Zero(t, d.r32(RegInterruptStatus))

		// Many more requests, wrapping the ring several times, notified
		// through the QueueNotify register this time.
		for i := range 20 {
			head := d.post(tdesc{addr: tdData + 0x100, len: uint32(i + 1), flags: DescFlagWrite})
			d.w32(RegQueueNotify, 0)
			id, n := d.waitUsed()
			assert.EqualValues(t, head, id)
			assert.EqualValues(t, i+1, n)
		}
		if feat&FeatureEventIdx != 0 {
			// The device asks to hear about the next buffer.
			assert.Equal(t, d.availIdx, binary.LittleEndian.Uint16(d.mem[d.used+4+8*uint64(d.size):]))
		}
		assert.Zero(t, d.r32(RegStatus)&StatusDeviceNeedsReset)
	}
}

func TestRNGIndirect(t *testing.T) {
	d := newTestDriver(t, patternRNG())
	d.start(FeatureVersion1 | FeatureIndirectDesc)
	const table = 0x4000
	putDesc(d.mem, table, 0, tdesc{addr: tdData, len: 8, flags: DescFlagWrite | DescFlagNext, next: 2})
	putDesc(d.mem, table, 2, tdesc{addr: tdData + 16, len: 8, flags: DescFlagWrite})
	head := d.post(tdesc{addr: table, len: 3 * 16, flags: DescFlagIndirect})
	d.m.Notify(0)
	id, n := d.waitUsed()
	assert.EqualValues(t, head, id)
	assert.EqualValues(t, 16, n)
	assert.Equal(t, bytes.Repeat([]byte{0xa5}, 8), d.mem[tdData:tdData+8])
	assert.Equal(t, bytes.Repeat([]byte{0xa5}, 8), d.mem[tdData+16:tdData+24])
}

func TestRNGRealEntropy(t *testing.T) {
	d := newTestDriver(t, NewRNG())
	d.start(FeatureVersion1)
	d.post(tdesc{addr: tdData, len: 64, flags: DescFlagWrite})
	d.m.Notify(0)
	_, n := d.waitUsed()
	assert.EqualValues(t, 64, n)
	assert.NotEqual(t, make([]byte, 64), d.mem[tdData:tdData+64])
}

func TestRNGReadableBuffersIgnored(t *testing.T) {
	d := newTestDriver(t, patternRNG())
	d.start(FeatureVersion1)
	d.post(tdesc{addr: tdData, len: 8}, tdesc{addr: tdData + 8, len: 8, flags: DescFlagWrite})
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
			require.True(t, d.negotiate(FeatureVersion1))
			d.setupQueue(0, c.Size, c.Desc, c.Driver, c.Device)
			assert.NotZero(t, d.r32(RegStatus)&StatusDeviceNeedsReset)
			assert.NotZero(t, d.r32(RegInterruptStatus)&InterruptConfigChange)
			assert.Zero(t, d.r32(RegQueueReady))
			assert.Error(t, d.m.Err())
			// DRIVER_OK now cannot bring up the device.
			d.w32(RegStatus, StatusAcknowledge|StatusDriver|StatusFeaturesOK|StatusDriverOK)
			assert.NotZero(t, d.r32(RegStatus)&StatusDeviceNeedsReset)
			// Reset clears the error and the device works again.
			d.start(FeatureVersion1)
			assert.NoError(t, d.m.Err())
		})
	}
}

func TestDriverOKWithoutQueue(t *testing.T) {
	d := newTestDriver(t, NewRNG())
	require.True(t, d.negotiate(FeatureVersion1))
	d.w32(RegStatus, StatusAcknowledge|StatusDriver|StatusFeaturesOK|StatusDriverOK)
	assert.NotZero(t, d.r32(RegStatus)&StatusDeviceNeedsReset)
	assert.ErrorContains(t, d.m.Err(), "request queue")
}

func TestDriverOKWithoutFeaturesOK(t *testing.T) {
	d := newTestDriver(t, NewRNG())
	d.w32(RegStatus, StatusAcknowledge|StatusDriver|StatusDriverOK)
	assert.NotZero(t, d.r32(RegStatus)&StatusDeviceNeedsReset)
}

func TestMalformedChainNeedsReset(t *testing.T) {
	d := newTestDriver(t, patternRNG())
	d.start(FeatureVersion1)
	// A two-descriptor loop.
	putDesc(d.mem, d.desc, 0, tdesc{addr: tdData, len: 8, flags: DescFlagWrite | DescFlagNext, next: 1})
	putDesc(d.mem, d.desc, 1, tdesc{addr: tdData, len: 8, flags: DescFlagWrite | DescFlagNext, next: 0})
	d.publish(0)
	d.m.Notify(0)
	require.Eventually(t, func() bool { return d.r32(RegStatus)&StatusDeviceNeedsReset != 0 }, timeout, tick)
	assert.NotZero(t, d.r32(RegInterruptStatus)&InterruptConfigChange)
	assert.ErrorContains(t, d.m.Err(), "loop")
	assert.Zero(t, d.usedIdx())
	// The driver writing status bits does not clear NEEDS_RESET...
	d.w32(RegStatus, StatusAcknowledge|StatusDriver|StatusFeaturesOK|StatusDriverOK)
	assert.NotZero(t, d.r32(RegStatus)&StatusDeviceNeedsReset)
	// ...a reset does, and the device serves again.
	d.start(FeatureVersion1)
	d.post(tdesc{addr: tdData, len: 4, flags: DescFlagWrite})
	d.m.Notify(0)
	_, n := d.waitUsed()
	assert.EqualValues(t, 4, n)
}

func TestQueueRegistersFrozenWhenReady(t *testing.T) {
	d := newTestDriver(t, patternRNG())
	d.start(FeatureVersion1)
	d.w32(RegQueueDescLow, 0xdead0000)
	d.w32(RegQueueNum, 3)
	d.w32(RegQueueReady, 0)
	d.post(tdesc{addr: tdData, len: 4, flags: DescFlagWrite})
	d.m.Notify(0)
	_, n := d.waitUsed()
	assert.EqualValues(t, 4, n)
}

func TestResetStopsWorker(t *testing.T) {
	d := newTestDriver(t, patternRNG())
	d.start(FeatureVersion1)
	d.w32(RegStatus, 0)
	assert.Zero(t, d.r32(RegStatus))
	assert.Zero(t, d.r32(RegQueueReady))
	d.post(tdesc{addr: tdData, len: 4, flags: DescFlagWrite})
	d.m.Notify(0)
	d.w32(RegQueueNotify, 0)
	// assert.Never would poll from a goroutine that can outlive the test's
	// guest memory; a plain sleep is enough to give a stray worker time.
	time.Sleep(20 * time.Millisecond)
	assert.Zero(t, d.usedIdx())
}

// TestConcurrentNotify hammers Notify from another goroutine while the vCPU
// side reads and writes registers; run under -race.
func TestConcurrentNotify(t *testing.T) {
	d := newTestDriver(t, patternRNG())
	d.start(FeatureVersion1 | FeatureEventIdx)
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
		d.post(tdesc{addr: tdData, len: 4, flags: DescFlagWrite})
		_, n := d.waitUsed()
		assert.EqualValues(t, 4, n)
		d.r32(RegInterruptStatus)
		d.w32(RegInterruptACK, 3)
	}
	// Resets racing the notifier.
	for range 5 {
		d.start(FeatureVersion1)
	}
	close(stop)
	wg.Wait()
}

func TestConfigChanged(t *testing.T) {
	d := newTestDriver(t, NewRNG())
	g := d.r32(RegConfigGeneration)
	d.m.ConfigChanged()
	assert.Equal(t, g+1, d.r32(RegConfigGeneration))
	assert.NotZero(t, d.r32(RegInterruptStatus)&InterruptConfigChange)
	assert.True(t, d.m.InterruptPending())
	d.w32(RegInterruptACK, InterruptConfigChange)
	assert.False(t, d.m.InterruptPending())
}
