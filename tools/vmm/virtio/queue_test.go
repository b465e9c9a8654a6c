package virtio

import (
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/tools/vmm/arch"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ring is a queue of size 8 in plain memory, driven without a transport.
type ring struct {
	mem      []byte
	q        *Queue
	availIdx uint16
}

func newRing(t *testing.T, features uint64) *ring {
	r := &ring{mem: make([]byte, 1<<16)}
	q, err := NewQueue(r.mem, 3, QueueConfig{Size: 8, Desc: tdDesc, Driver: tdAvail, Device: tdUsed}, features)
	require.NoError(t, err)
	r.q = q
	return r
}

func (r *ring) desc(i uint16, x tdesc) { putDesc(r.mem, tdDesc, i, x) }

func (r *ring) publish(heads ...uint16) {
	for _, h := range heads {
		binary.LittleEndian.PutUint16(r.mem[tdAvail+4+2*uint64(r.availIdx%8):], h)
		r.availIdx++
	}
	binary.LittleEndian.PutUint16(r.mem[tdAvail+2:], r.availIdx)
}

func (r *ring) setUsedEvent(v uint16) {
	binary.LittleEndian.PutUint16(r.mem[tdAvail+4+2*8:], v)
}

func (r *ring) availEvent() uint16 {
	return binary.LittleEndian.Uint16(r.mem[tdUsed+4+8*8:])
}

func TestQueueChainLayout(t *testing.T) {
	r := newRing(t, 0)
	r.desc(5, tdesc{addr: 0x9000, len: 10, flags: abi.VirtqDescFNext, next: 2})
	r.desc(2, tdesc{addr: 0x9100, len: 0, flags: abi.VirtqDescFNext, next: 7})
	r.desc(7, tdesc{addr: 0x9200, len: 20, flags: abi.VirtqDescFWrite})
	r.publish(5)
	c, err := r.q.Next()
	require.NoError(t, err)
	require.NotNil(t, c)
	assert.EqualValues(t, 5, c.Head)
	require.Len(t, c.Segs, 3)
	assert.EqualValues(t, 10, c.ReadableLen())
	assert.EqualValues(t, 20, c.WritableLen())
	assert.Equal(t, 20, cap(c.Segs[2].Data), "segments cannot grow past the buffer")
	c, err = r.q.Next()
	require.NoError(t, err)
	assert.Nil(t, c)

	// Put clamps the length and publishes element then index.
	r.q.Put(&Chain{Head: 5, Segs: []Segment{{Data: make([]byte, 20), Writable: true}}}, 1000)
	assert.EqualValues(t, 5, binary.LittleEndian.Uint32(r.mem[tdUsed+4:]))
	assert.EqualValues(t, 20, binary.LittleEndian.Uint32(r.mem[tdUsed+8:]))
	assert.EqualValues(t, 1, binary.LittleEndian.Uint16(r.mem[tdUsed+2:]))
}

func TestQueueMalformed(t *testing.T) {
	w := uint16(abi.VirtqDescFWrite)
	cases := []struct {
		name     string
		features uint64
		setup    func(r *ring)
		want     string
	}{
		{"self loop", 0, func(r *ring) {
			r.desc(0, tdesc{addr: 0x9000, len: 1, flags: abi.VirtqDescFNext, next: 0})
			r.publish(0)
		}, "loop"},
		{"long loop", 0, func(r *ring) {
			for i := uint16(0); i < 8; i++ {
				r.desc(i, tdesc{addr: 0x9000, len: 1, flags: abi.VirtqDescFNext, next: (i + 1) % 8})
			}
			r.publish(3)
		}, "loop"},
		{"head out of range", 0, func(r *ring) { r.publish(8) }, "head"},
		{"next out of range", 0, func(r *ring) {
			r.desc(0, tdesc{addr: 0x9000, len: 1, flags: abi.VirtqDescFNext, next: 0xffff})
			r.publish(0)
		}, "next descriptor"},
		{"buffer past memory", 0, func(r *ring) {
			r.desc(0, tdesc{addr: 1<<16 - 4, len: 5})
			r.publish(0)
		}, "outside"},
		{"buffer address overflow", 0, func(r *ring) {
			r.desc(0, tdesc{addr: 1<<64 - 0x10, len: 0x20})
			r.publish(0)
		}, "outside"},
		{"buffer huge address", 0, func(r *ring) {
			r.desc(0, tdesc{addr: 1<<64 - 1, len: 0})
			r.publish(0)
		}, "outside"},
		{"readable after writable", 0, func(r *ring) {
			r.desc(0, tdesc{addr: 0x9000, len: 1, flags: w | abi.VirtqDescFNext, next: 1})
			r.desc(1, tdesc{addr: 0x9000, len: 1})
			r.publish(0)
		}, "readable"},
		{"avail index jump", 0, func(r *ring) {
			binary.LittleEndian.PutUint16(r.mem[tdAvail+2:], 9)
		}, "jumped"},
		{"avail index backwards", 0, func(r *ring) {
			binary.LittleEndian.PutUint16(r.mem[tdAvail+2:], 0xffff)
		}, "jumped"},
		{"indirect not negotiated", 0, func(r *ring) {
			r.desc(0, tdesc{addr: 0x4000, len: 16, flags: abi.VirtqDescFIndirect})
			r.publish(0)
		}, "VIRTIO_F_INDIRECT_DESC"},
		{"indirect with next", abi.VirtioFIndirectDesc, func(r *ring) {
			r.desc(0, tdesc{addr: 0x4000, len: 16, flags: abi.VirtqDescFIndirect | abi.VirtqDescFNext, next: 1})
			r.publish(0)
		}, "NEXT"},
		{"indirect mid chain", abi.VirtioFIndirectDesc, func(r *ring) {
			r.desc(0, tdesc{addr: 0x9000, len: 1, flags: abi.VirtqDescFNext, next: 1})
			r.desc(1, tdesc{addr: 0x4000, len: 16, flags: abi.VirtqDescFIndirect})
			r.publish(0)
		}, "inside a chain"},
		{"indirect odd length", abi.VirtioFIndirectDesc, func(r *ring) {
			r.desc(0, tdesc{addr: 0x4000, len: 17, flags: abi.VirtqDescFIndirect})
			r.publish(0)
		}, "multiple of 16"},
		{"indirect empty", abi.VirtioFIndirectDesc, func(r *ring) {
			r.desc(0, tdesc{addr: 0x4000, len: 0, flags: abi.VirtqDescFIndirect})
			r.publish(0)
		}, "multiple of 16"},
		{"indirect too big", abi.VirtioFIndirectDesc, func(r *ring) {
			r.desc(0, tdesc{addr: 0x4000, len: 16 * (MaxIndirect + 1), flags: abi.VirtqDescFIndirect})
			r.publish(0)
		}, "exceeds"},
		{"indirect table outside", abi.VirtioFIndirectDesc, func(r *ring) {
			r.desc(0, tdesc{addr: 1<<64 - 16, len: 32, flags: abi.VirtqDescFIndirect})
			r.publish(0)
		}, "outside"},
		{"indirect nested", abi.VirtioFIndirectDesc, func(r *ring) {
			putDesc(r.mem, 0x4000, 0, tdesc{addr: 0x5000, len: 16, flags: abi.VirtqDescFIndirect})
			r.desc(0, tdesc{addr: 0x4000, len: 16, flags: abi.VirtqDescFIndirect})
			r.publish(0)
		}, "nested"},
		{"indirect loop", abi.VirtioFIndirectDesc, func(r *ring) {
			putDesc(r.mem, 0x4000, 0, tdesc{addr: 0x9000, len: 1, flags: abi.VirtqDescFNext, next: 1})
			putDesc(r.mem, 0x4000, 1, tdesc{addr: 0x9000, len: 1, flags: abi.VirtqDescFNext, next: 0})
			r.desc(0, tdesc{addr: 0x4000, len: 32, flags: abi.VirtqDescFIndirect})
			r.publish(0)
		}, "loop"},
		{"indirect next outside table", abi.VirtioFIndirectDesc, func(r *ring) {
			putDesc(r.mem, 0x4000, 0, tdesc{addr: 0x9000, len: 1, flags: abi.VirtqDescFNext, next: 2})
			r.desc(0, tdesc{addr: 0x4000, len: 32, flags: abi.VirtqDescFIndirect})
			r.publish(0)
		}, "out of range"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRing(t, tc.features)
			tc.setup(r)
			c, err := r.q.Next()
			assert.Nil(t, c)
			var pe *ProtocolError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, 3, pe.Queue)
			assert.Contains(t, err.Error(), tc.want)
			// The queue stays dead.
			_, err2 := r.q.Next()
			assert.Equal(t, err, err2)
			_, err2 = r.q.Pending()
			assert.Equal(t, err, err2)
		})
	}
}

func TestQueueIndirectFullTable(t *testing.T) {
	// An indirect table may hold more descriptors than the queue size.
	r := newRing(t, abi.VirtioFIndirectDesc)
	const n = 20
	for i := uint16(0); i < n; i++ {
		x := tdesc{addr: 0x9000 + uint64(i), len: 1, flags: abi.VirtqDescFWrite}
		if i < n-1 {
			x.flags |= abi.VirtqDescFNext
			x.next = i + 1
		}
		putDesc(r.mem, 0x4000, i, x)
	}
	r.desc(1, tdesc{addr: 0x4000, len: 16 * n, flags: abi.VirtqDescFIndirect | abi.VirtqDescFWrite})
	r.publish(1)
	c, err := r.q.Next()
	require.NoError(t, err)
	assert.Len(t, c.Segs, n)
	assert.EqualValues(t, n, c.WritableLen())
}

func TestEventIdx(t *testing.T) {
	r := newRing(t, abi.VirtioFEventIdx)
	chain := &Chain{Head: 0}
	for i := uint16(0); i < 4; i++ {
		r.desc(i, tdesc{addr: 0x9000, len: 1, flags: abi.VirtqDescFWrite})
	}
	r.publish(0, 1, 2, 3)
	for i := range 4 {
		_, err := r.q.Next()
		require.NoError(t, err)
		// avail_event follows what the device consumed.
		assert.EqualValues(t, i+1, r.availEvent())
	}

	// used_event = 0: the driver wants an interrupt when the used index
	// moves past 0, i.e. for the first Put.
	r.setUsedEvent(0)
	r.q.Put(chain, 0)
	assert.True(t, r.q.NeedInterrupt())
	assert.False(t, r.q.NeedInterrupt(), "nothing new")

	// used_event = 3: no interrupt until the used index passes 3.
	r.setUsedEvent(3)
	r.q.Put(chain, 0) // used idx 2
	assert.False(t, r.q.NeedInterrupt())
	r.q.Put(chain, 0) // 3
	assert.False(t, r.q.NeedInterrupt())
	r.q.Put(chain, 0) // 4 crosses 3
	assert.True(t, r.q.NeedInterrupt())

	// A batch crossing the event in the middle still interrupts once.
	r.setUsedEvent(5)
	for range 3 {
		r.q.Put(chain, 0) // 5, 6, 7
	}
	assert.True(t, r.q.NeedInterrupt())

	// An event far behind (driver not interested): no interrupt.
	r.setUsedEvent(2)
	r.q.Put(chain, 0)
	assert.False(t, r.q.NeedInterrupt())

	// Wrap-around of the 16-bit indices.
	r.q.usedIdx, r.q.signalled = 0xfffe, 0xfffe
	r.setUsedEvent(0xffff)
	r.q.Put(chain, 0) // 0xffff
	assert.False(t, r.q.NeedInterrupt())
	r.q.Put(chain, 0) // 0x0000 crosses 0xffff
	assert.True(t, r.q.NeedInterrupt())
}

func TestNotifyOnEmpty(t *testing.T) {
	r := newRing(t, abi.VirtioFEventIdx)
	r.q.NotifyOnEmpty()
	for i := uint16(0); i < 4; i++ {
		r.desc(i, tdesc{addr: 0x9000 + 0x100*uint64(i), len: 16, flags: abi.VirtqDescFWrite})
	}
	r.publish(0, 1, 2)
	binary.LittleEndian.PutUint16(r.mem[tdUsed+4+8*8:], 0xbeef)
	for range 3 {
		c, err := r.q.Next()
		require.NoError(t, err)
		require.NotNil(t, c)
		// While chains are left, avail_event is not touched: the driver
		// adds buffers without notifying.
		assert.EqualValues(t, 0xbeef, r.availEvent())
	}
	c, err := r.q.Next()
	require.NoError(t, err)
	assert.Nil(t, c)
	assert.EqualValues(t, 3, r.availEvent(), "empty: notify at the next chain")

	// A chain published after the index was read is still found.
	r.publish(3)
	c, err = r.q.Next()
	require.NoError(t, err)
	require.NotNil(t, c)
	assert.EqualValues(t, 3, c.Head)
	assert.EqualValues(t, 3, r.availEvent())

	// Without EVENT_IDX it changes nothing.
	r = newRing(t, 0)
	r.q.NotifyOnEmpty()
	c, err = r.q.Next()
	require.NoError(t, err)
	assert.Nil(t, c)
	assert.Zero(t, r.availEvent())
}

func TestServePolling(t *testing.T) {
	r := newRing(t, abi.VirtioFEventIdx)
	for i := uint16(0); i < 4; i++ {
		r.desc(i, tdesc{addr: 0x9000 + 0x100*uint64(i), len: 16})
	}
	binary.LittleEndian.PutUint16(r.mem[tdUsed+4+8*8:], 0xbeef)
	r.publish(0, 1)
	handled := make(chan uint16, 8)
	stop := make(chan struct{})
	done := make(chan struct{})
	var passes atomic.Int32 // passes over the ring that handled chains
	var inPass atomic.Int32
	go func() {
		defer close(done)
		r.q.ServePolling(stop, &failInterrupter{}, func(c *Chain) (uint32, error) {
			inPass.Add(1)
			handled <- c.Head
			return 0, nil
		}, func() {
			if inPass.Swap(0) > 0 {
				passes.Add(1)
			}
		}, 500*time.Millisecond)
	}()
	assert.EqualValues(t, 0, <-handled)
	assert.EqualValues(t, 1, <-handled)
	// The pass hook runs once the pass that took both chains ends.
	require.Eventually(t, func() bool { return passes.Load() == 1 }, 5*time.Second, time.Millisecond)
	// While polling the device asks for no notification...
	assert.EqualValues(t, 0xbeef, r.availEvent())
	// ...and finds a chain published without one.
	r.publish(2)
	assert.EqualValues(t, 2, <-handled)
	// After the window it asks for one at the next chain and waits.
	require.Eventually(t, func() bool { return r.availEvent() == 3 }, 5*time.Second, time.Millisecond)
	r.publish(3)
	r.q.Kick()
	assert.EqualValues(t, 3, <-handled)
	close(stop)
	<-done
}

func TestNoInterruptFlag(t *testing.T) {
	r := newRing(t, 0)
	chain := &Chain{Head: 0}
	r.q.Put(chain, 0)
	assert.True(t, r.q.NeedInterrupt())
	binary.LittleEndian.PutUint16(r.mem[tdAvail:], abi.VirtqAvailFNoInterrupt)
	r.q.Put(chain, 0)
	assert.False(t, r.q.NeedInterrupt())
	binary.LittleEndian.PutUint16(r.mem[tdAvail:], 0)
	assert.False(t, r.q.NeedInterrupt(), "nothing new since the suppressed Put")
	r.q.Put(chain, 0)
	assert.True(t, r.q.NeedInterrupt())
	// Without EVENT_IDX the device never writes avail_event.
	assert.Zero(t, r.availEvent())
}

func TestNewQueueRejects(t *testing.T) {
	mem := make([]byte, 4096)
	_, err := NewQueue(mem, 0, QueueConfig{Size: 3}, 0)
	assert.Error(t, err)
	_, err = NewQueue(mem, 0, QueueConfig{Size: 512}, 0)
	assert.Error(t, err, "512 descriptors do not fit in 4 KiB")
	// Overlapping rings are the driver's problem, not a host hazard.
	_, err = NewQueue(mem, 0, QueueConfig{Size: 256}, 0)
	assert.NoError(t, err)
	_, err = NewQueue(mem, 0, QueueConfig{Size: 64, Desc: 0, Driver: 1024, Device: 2048}, 0)
	assert.NoError(t, err)
}

// BenchmarkQueueRoundTrip measures the device side of one request: take a
// two-segment chain from the available ring, return it on the used ring and
// decide about the interrupt.
func BenchmarkQueueRoundTrip(b *testing.B) {
	for _, feat := range []struct {
		name string
		bits uint64
	}{{"plain", 0}, {"event_idx", abi.VirtioFEventIdx}} {
		b.Run(feat.name, func(b *testing.B) {
			mem := make([]byte, 1<<16)
			q, err := NewQueue(mem, 0, QueueConfig{Size: 256, Desc: tdDesc, Driver: 0x5000, Device: 0x6000}, feat.bits)
			require.NoError(b, err)
			for i := uint16(0); i < 256; i += 2 {
				putDesc(mem, tdDesc, i, tdesc{addr: 0x9000, len: 64, flags: abi.VirtqDescFNext, next: i + 1})
				putDesc(mem, tdDesc, i+1, tdesc{addr: 0xa000, len: 1500, flags: abi.VirtqDescFWrite})
			}
			var avail uint16
			for i := 0; b.Loop(); i++ {
				binary.LittleEndian.PutUint16(mem[0x5000+4+2*uint64(avail%256):], uint16(2*i)%256)
				avail++
				binary.LittleEndian.PutUint16(mem[0x5000+2:], avail)
				c, err := q.Next()
				if err != nil || c == nil {
					b.Fatal(err)
				}
				q.Put(c, 1500)
				q.NeedInterrupt()
			}
		})
	}
}

// TestQueueHole: with more than 3G of RAM the mapping spans the
// [3G, 4G) hole, which is not guest RAM: rings and buffers there are
// refused.
func TestQueueHole(t *testing.T) {
	size := arch.MappingSize(5 << 30)
	mem, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	require.NoError(t, err)
	defer unix.Munmap(mem)
	cfg := func(base uint64) QueueConfig {
		return QueueConfig{Size: 8, Desc: base, Driver: base + 0x1000, Device: base + 0x2000}
	}
	assert.NoError(t, cfg(0x1000).Validate(mem, abi.VirtqMaxSize))
	assert.NoError(t, cfg(arch.HighMemStart).Validate(mem, abi.VirtqMaxSize))
	assert.Error(t, cfg(arch.LowMemEnd).Validate(mem, abi.VirtqMaxSize))
	assert.Error(t, cfg(arch.LowMemEnd-0x1000).Validate(mem, abi.VirtqMaxSize), "rings reach into the hole")

	// A descriptor pointing into the hole is a protocol error.
	q, err := NewQueue(mem, 0, cfg(0x1000), 0)
	require.NoError(t, err)
	putDesc(mem, 0x1000, 0, tdesc{addr: arch.LowMemEnd + 0x1000, len: 64, flags: abi.VirtqDescFWrite})
	binary.LittleEndian.PutUint16(mem[0x2004:], 0)
	binary.LittleEndian.PutUint16(mem[0x2002:], 1)
	_, err = q.Next()
	var pe *ProtocolError
	assert.ErrorAs(t, err, &pe)
}
