package virtio

import (
	"encoding/binary"
	"github.com/unigo-os/unigo/abi"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeDevice plays the device side of a queue over the same ring memory,
// as a host would: it reads the available ring and descriptors and writes
// the used ring.
type fakeDevice struct {
	t                  testing.TB
	ring               []byte
	size               int
	availOff, usedOff  int
	lastAvail, usedIdx uint16
	le                 binary.ByteOrder
}

const ringPhys = 0x10000

func newTestQueue(t testing.TB, size int, eventIdx bool) (*Queue, *fakeDevice, *[]error) {
	_, _, total := Layout(size)
	ring := make([]byte, total+16)
	var reports []error
	q, err := NewQueue(0, size, ring, ringPhys, eventIdx, func(err error) { reports = append(reports, err) })
	require.NoError(t, err)
	a, u, _ := Layout(size)
	return q, &fakeDevice{t: t, ring: ring, size: size, availOff: a, usedOff: u, le: binary.LittleEndian}, &reports
}

func (d *fakeDevice) u16(off int) uint16 { return d.le.Uint16(d.ring[off:]) }

// next returns the next available chain's head and buffers, if any.
func (d *fakeDevice) next() (head uint16, bufs []Buffer, ok bool) {
	if d.u16(d.availOff+2) == d.lastAvail {
		return 0, nil, false
	}
	head = d.u16(d.availOff + 4 + 2*int(d.lastAvail%uint16(d.size)))
	d.lastAvail++
	for id := head; ; {
		require.Less(d.t, int(id), d.size)
		p := d.ring[16*int(id):]
		flags := d.le.Uint16(p[12:])
		bufs = append(bufs, Buffer{Addr: d.le.Uint64(p), Len: d.le.Uint32(p[8:]), Write: flags&abi.VirtqDescFWrite != 0})
		if flags&abi.VirtqDescFNext == 0 {
			break
		}
		id = d.le.Uint16(p[14:])
		require.Less(d.t, len(bufs), d.size, "descriptor loop")
	}
	return head, bufs, true
}

// use puts (id, n) on the used ring and advances its index.
func (d *fakeDevice) use(id, n uint32) {
	slot := d.usedOff + 4 + 8*int(d.usedIdx%uint16(d.size))
	d.le.PutUint32(d.ring[slot:], id)
	d.le.PutUint32(d.ring[slot+4:], n)
	d.usedIdx++
	d.le.PutUint16(d.ring[d.usedOff+2:], d.usedIdx)
}

func (d *fakeDevice) setAvailEvent(v uint16) { d.le.PutUint16(d.ring[d.usedOff+4+8*d.size:], v) }
func (d *fakeDevice) usedEvent() uint16      { return d.u16(d.availOff + 4 + 2*d.size) }

func TestLayout(t *testing.T) {
	a, u, total := Layout(256)
	assert.Equal(t, 4096, a)
	assert.Equal(t, 4096+6+512+2, u) // rounded up to 4
	assert.Equal(t, u+6+8*256, total)
}

func TestNewQueueRejects(t *testing.T) {
	for _, size := range []int{0, 3, 2048} {
		_, err := NewQueue(0, size, make([]byte, 1<<16), 0, false, nil)
		assert.Error(t, err, "size %d", size)
	}
	_, err := NewQueue(0, 8, make([]byte, 10), 0, false, nil)
	assert.ErrorContains(t, err, "ring memory")
}

func TestRoundTrip(t *testing.T) {
	q, dev, reports := newTestQueue(t, 8, false)
	require.NoError(t, q.Add(7, Buffer{Addr: 0x1000, Len: 10}, Buffer{Addr: 0x2000, Len: 100, Write: true}))
	require.NoError(t, q.Add(8, Buffer{Addr: 0x3000, Len: 50, Write: true}))
	assert.Equal(t, 5, q.Free())
	_, _, ok := dev.next()
	assert.False(t, ok, "nothing visible before Kick")
	assert.True(t, q.Kick(), "no EVENT_IDX, no NO_NOTIFY: notify")
	assert.False(t, q.Kick(), "nothing new")

	h1, b1, ok := dev.next()
	require.True(t, ok)
	assert.Equal(t, []Buffer{{Addr: 0x1000, Len: 10}, {Addr: 0x2000, Len: 100, Write: true}}, b1)
	h2, b2, ok := dev.next()
	require.True(t, ok)
	assert.Equal(t, []Buffer{{Addr: 0x3000, Len: 50, Write: true}}, b2)

	_, _, ok, err := q.Pop()
	require.NoError(t, err)
	assert.False(t, ok)
	dev.use(uint32(h2), 50) // out of order completion is fine
	dev.use(uint32(h1), 100)
	tok, n, ok, err := q.Pop()
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, uint64(8), tok)
	assert.Equal(t, uint32(50), n)
	tok, n, ok, err = q.Pop()
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, uint64(7), tok)
	assert.Equal(t, uint32(100), n)
	assert.Equal(t, 8, q.Free())
	assert.Zero(t, q.InFlight())
	assert.Empty(t, *reports)
}

func TestFullAndReuse(t *testing.T) {
	q, dev, reports := newTestQueue(t, 4, false)
	for i := 0; i < 1000; i++ {
		require.NoError(t, q.Add(uint64(i), Buffer{Addr: 0x1000, Len: 8, Write: true}, Buffer{Addr: 0x2000, Len: 8, Write: true}))
		require.NoError(t, q.Add(uint64(i), Buffer{Addr: 0x3000, Len: 8, Write: true}, Buffer{Addr: 0x4000, Len: 8, Write: true}))
		assert.ErrorIs(t, q.Add(0, Buffer{Addr: 0x5000, Len: 1}), ErrQueueFull)
		q.Kick()
		for {
			h, _, ok := dev.next()
			if !ok {
				break
			}
			dev.use(uint32(h), 16)
		}
		for j := 0; j < 2; j++ {
			_, n, ok, err := q.Pop()
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, uint32(16), n)
		}
	}
	assert.Equal(t, 4, q.Free())
	assert.Empty(t, *reports)
}

func TestReadableAfterWritableRejected(t *testing.T) {
	q, _, _ := newTestQueue(t, 4, false)
	assert.Error(t, q.Add(0, Buffer{Write: true, Len: 1}, Buffer{Len: 1}))
	assert.Equal(t, 4, q.Free())
}

func TestEventIdxNotifications(t *testing.T) {
	q, dev, _ := newTestQueue(t, 8, true)
	dev.setAvailEvent(0)
	require.NoError(t, q.Add(1, Buffer{Len: 1}))
	assert.True(t, q.Kick(), "avail_event 0: the device wants to hear of index 1")
	require.NoError(t, q.Add(2, Buffer{Len: 1}))
	assert.False(t, q.Kick(), "avail_event still 0: the device has not caught up")
	dev.setAvailEvent(2)
	require.NoError(t, q.Add(3, Buffer{Len: 1}))
	assert.True(t, q.Kick(), "crossed avail_event 2")

	// Interrupt requests: used_event follows the driver.
	h, _, _ := dev.next()
	dev.use(uint32(h), 0)
	assert.True(t, q.EnableInterrupts(), "a used entry is pending")
	_, _, ok, err := q.Pop()
	require.NoError(t, err)
	require.True(t, ok)
	assert.False(t, q.EnableInterrupts())
	assert.Equal(t, uint16(1), dev.usedEvent())
}

func TestNoNotifyFlag(t *testing.T) {
	q, dev, _ := newTestQueue(t, 8, false)
	dev.le.PutUint16(dev.ring[dev.usedOff:], abi.VirtqUsedFNoNotify)
	require.NoError(t, q.Add(1, Buffer{Len: 1}))
	assert.False(t, q.Kick())
	q.DisableInterrupts()
	assert.Equal(t, uint16(abi.VirtqAvailFNoInterrupt), dev.u16(dev.availOff))
	q.EnableInterrupts()
	assert.Zero(t, dev.u16(dev.availOff))
}

// Each kind of device misbehaviour is detected, reported once, and
// leaves the queue broken without handing anything out.
func TestMisbehavingDevice(t *testing.T) {
	cases := map[string]func(d *fakeDevice, head uint16){
		"id out of range":    func(d *fakeDevice, head uint16) { d.use(99, 0) },
		"id not a head":      func(d *fakeDevice, head uint16) { d.use(uint32(head)+1, 0) },
		"length too large":   func(d *fakeDevice, head uint16) { d.use(uint32(head), 4097) },
		"index jumps ahead":  func(d *fakeDevice, head uint16) { d.use(uint32(head), 0); d.usedIdx += 5; d.use(uint32(head), 0) },
		"completed twice":    func(d *fakeDevice, head uint16) { d.use(uint32(head), 0); d.use(uint32(head), 0) },
		"never added":        func(d *fakeDevice, head uint16) { d.use(5, 0) },
		"huge length":        func(d *fakeDevice, head uint16) { d.use(uint32(head), 0xffffffff) },
		"readable-only head": func(d *fakeDevice, head uint16) { d.use(uint32(head)+3, 1) },
	}
	for name, misbehave := range cases {
		t.Run(name, func(t *testing.T) {
			q, dev, reports := newTestQueue(t, 8, true)
			require.NoError(t, q.Add(1, Buffer{Addr: 0x800, Len: 16}, Buffer{Addr: 0x1000, Len: 4096, Write: true}))
			require.NoError(t, q.Add(2, Buffer{Addr: 0x2000, Len: 4096, Write: true}))
			require.NoError(t, q.Add(3, Buffer{Addr: 0x3000, Len: 64}))
			q.Kick()
			head, _, _ := dev.next()
			misbehave(dev, head)
			var err error
			for i := 0; i < 10 && err == nil; i++ {
				_, _, _, err = q.Pop()
			}
			require.ErrorIs(t, err, ErrBroken)
			require.Len(t, *reports, 1)
			require.Error(t, q.Broken())
			_, _, ok, err := q.Pop()
			assert.False(t, ok)
			assert.ErrorIs(t, err, ErrBroken)
			assert.ErrorIs(t, q.Add(4, Buffer{Len: 1}), ErrBroken)
			assert.False(t, q.Kick())
			assert.Len(t, *reports, 1, "reported once")
		})
	}
}
