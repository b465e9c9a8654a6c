package virtio

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/tools/vmm/arch"
)

const pageSize = abi.VirtioBalloonPageSize

// bigGuestMemory maps guest memory of size bytes of RAM the way the
// launcher does (arch.MappingSize, MAP_NORESERVE), so a size above
// arch.LowMemEnd has the [3G, 4G) hole and costs only address space.
func bigGuestMemory(t testing.TB, size uint64) []byte {
	mem, err := unix.Mmap(-1, 0, int(arch.MappingSize(size)), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	require.NoError(t, err)
	t.Cleanup(func() { unix.Munmap(mem) })
	return mem
}

// startBalloon negotiates free page reporting on b over mem and makes the
// reporting queue (index 2) ready with its rings in the first pages.
func startBalloon(t *testing.T, b *Balloon, mem []byte) *testDriver {
	d := &testDriver{t: t, mem: mem}
	d.m = NewMMIO(b, mem, func() { d.irqs.Add(1) })
	t.Cleanup(func() { d.w32(abi.VirtioMMIOStatus, 0) })
	require.True(t, d.negotiate(abi.VirtioFVersion1|abi.VirtioBalloonFPageReporting))
	d.setupQueue(balloonReportingQ, 16, tdDesc, tdAvail, tdUsed)
	d.w32(abi.VirtioMMIOStatus, abi.VirtioStatusAcknowledge|abi.VirtioStatusDriver|abi.VirtioStatusFeaturesOK|abi.VirtioStatusDriverOK)
	require.Zero(t, d.r32(abi.VirtioMMIOStatus)&abi.VirtioStatusNeedsReset, "device error: %v", d.m.Err())
	return d
}

// resident reports, per page of b, whether it is resident (mincore).
func resident(t *testing.T, b []byte) []bool {
	vec := make([]byte, (len(b)+pageSize-1)/pageSize)
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), uintptr(unsafe.Pointer(unsafe.SliceData(vec))))
	require.Zero(t, errno, "mincore: %v", errno)
	r := make([]bool, len(vec))
	for i, v := range vec {
		r[i] = v&1 != 0
	}
	return r
}

// offsetIn is the offset of p, a slice of mem, in mem.
func offsetIn(mem, p []byte) uint64 {
	return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(p))) - uintptr(unsafe.Pointer(unsafe.SliceData(mem))))
}

func fill(b []byte, v byte) {
	for i := range b {
		b[i] = v
	}
}

// report posts bufs as one chain on the reporting queue and notifies.
func (d *testDriver) report(bufs ...tdesc) uint16 {
	head := d.post(bufs...)
	d.w32(abi.VirtioMMIOQueueNotify, balloonReportingQ)
	return head
}

func wr(addr uint64, n uint32) tdesc { return tdesc{addr: addr, len: n, flags: abi.VirtqDescFWrite} }

func TestBalloonFeaturesAndConfig(t *testing.T) {
	b := NewBalloon()
	d := &testDriver{t: t, mem: guestMemory(t, 1<<16)}
	d.m = NewMMIO(b, d.mem, nil)
	assert.EqualValues(t, abi.VirtioDeviceBalloon, d.r32(abi.VirtioMMIODeviceID))
	d.w32(abi.VirtioMMIODeviceFeaturesSel, 0)
	assert.EqualValues(t, abi.VirtioBalloonFPageReporting, d.r32(abi.VirtioMMIODeviceFeatures)&0xffffff,
		"only PAGE_REPORTING among the device bits: no stats, hints or poison")
	assert.Zero(t, d.r32(abi.VirtioMMIOConfig+abi.VirtioBalloonCfgNumPages), "num_pages: the device never asks to inflate")
	assert.False(t, d.negotiate(abi.VirtioFVersion1|abi.VirtioBalloonFPagePoison), "PAGE_POISON is not offered")

	d.w32(abi.VirtioMMIOConfig+abi.VirtioBalloonCfgActual, 42)
	assert.EqualValues(t, 42, d.r32(abi.VirtioMMIOConfig+abi.VirtioBalloonCfgActual))
	d.w32(abi.VirtioMMIOConfig+abi.VirtioBalloonCfgNumPages, 7)
	assert.Zero(t, d.r32(abi.VirtioMMIOConfig+abi.VirtioBalloonCfgNumPages), "num_pages is read-only")
	assert.Zero(t, d.r32(abi.VirtioMMIOConfig+8), "nothing past actual")
}

// A report of ranges in RAM leaves those host pages non-resident and
// reading back zero, and the pages around them untouched.
func TestBalloonDiscardsReportedRanges(t *testing.T) {
	mem := guestMemory(t, 1<<20)
	data := mem[0x10000:0x20000] // 16 pages
	fill(data, 0xa5)
	require.Equal(t, []bool{true, true, true, true}, resident(t, data[:4*pageSize]))

	b := NewBalloon()
	d := startBalloon(t, b, mem)
	head := d.report(wr(0x11000, 2*pageSize), wr(0x18000, 4*pageSize))
	id, n := d.waitUsed()
	assert.EqualValues(t, head, id)
	assert.Zero(t, n, "a report is used with length 0")
	assert.Eventually(t, func() bool { return d.irqs.Load() > 0 }, timeout, tick, "the driver is interrupted")

	res := resident(t, data)
	for p := range 16 {
		discarded := p == 1 || p == 2 || (p >= 8 && p < 12)
		assert.Equal(t, !discarded, res[p], "page %d resident", p)
		want := byte(0xa5)
		if discarded {
			want = 0
		}
		pg := data[p*pageSize : (p+1)*pageSize]
		assert.Equal(t, want, pg[0], "page %d first byte", p)
		assert.Equal(t, want, pg[pageSize-1], "page %d last byte", p)
	}
	assert.EqualValues(t, 1, b.Stats.Reports.Load())
	assert.EqualValues(t, 2, b.Stats.Ranges.Load())
	assert.EqualValues(t, 6*pageSize, b.Stats.Bytes.Load())
	assert.Zero(t, b.Stats.Refused.Load())
	assert.Contains(t, b.String(), "ranges discarded 2 (24 KiB)")
}

// Ranges that are not wholly within guest RAM (past its end, in or across
// the [3G, 4G) hole), unaligned or empty are refused and counted, without
// touching memory; the good ranges of the same report are discarded and
// the chain is used as usual.
func TestBalloonRefusesBadRanges(t *testing.T) {
	const ram = arch.LowMemEnd + 1<<20 // RAM continues for 1 MiB at 4 GiB
	mem := bigGuestMemory(t, ram)
	end := uint64(len(mem)) // end of RAM
	sentinels := []uint64{0x20000, 0x21000, arch.LowMemEnd - pageSize, arch.HighMemStart, end - pageSize}
	for _, a := range sentinels {
		fill(mem[a:a+pageSize], 0x5a)
	}
	var discarded [][2]uint64
	b := NewBalloon()
	b.discard = func(p []byte) error {
		off := offsetIn(mem, p)
		discarded = append(discarded, [2]uint64{off, uint64(len(p))})
		return unix.Madvise(p, unix.MADV_DONTNEED)
	}
	d := startBalloon(t, b, mem)
	bad := []tdesc{
		wr(arch.LowMemEnd-pageSize, 2*pageSize),    // across the start of the hole
		wr(arch.LowMemEnd, pageSize),               // in the hole
		wr(arch.HighMemStart-pageSize, 2*pageSize), // across the end of the hole
		wr(end-pageSize, 2*pageSize),               // across the end of RAM
		wr(end, pageSize),                          // past the end of RAM
		wr(^uint64(0)&^(pageSize-1), 2*pageSize),   // wrapping around
		wr(0x20800, pageSize),                      // unaligned address
		wr(0x20000, pageSize+1),                    // length not a page multiple
		wr(0x21000, 0),                             // empty
	}
	good := wr(0x30000, pageSize)
	fill(mem[0x30000:0x31000], 0x5a)
	for i, x := range bad {
		head := d.report(x, good)
		id, n := d.waitUsed()
		require.EqualValues(t, head, id, "report %d", i)
		require.Zero(t, n)
		require.EqualValues(t, i+1, b.Stats.Refused.Load(), "range %d (%#x+%#x) refused", i, x.addr, x.len)
		require.Zero(t, d.r32(abi.VirtioMMIOStatus)&abi.VirtioStatusNeedsReset, "a bad range is no protocol error")
	}
	assert.EqualValues(t, len(bad), b.Stats.Reports.Load())
	assert.EqualValues(t, len(bad), b.Stats.Ranges.Load(), "the good range of each report")
	for _, r := range discarded {
		assert.Equal(t, [2]uint64{0x30000, pageSize}, r, "only the good range reaches madvise")
	}
	for _, a := range sentinels {
		assert.Equal(t, byte(0x5a), mem[a], "page %#x untouched", a)
		assert.Equal(t, byte(0x5a), mem[a+pageSize-1], "page %#x untouched", a)
	}
}

// A report with a device-readable buffer breaks the protocol: none of its
// ranges is discarded and the device needs reset.
func TestBalloonReadableBufferIsProtocolError(t *testing.T) {
	mem := guestMemory(t, 1<<20)
	fill(mem[0x10000:0x12000], 0xa5)
	b := NewBalloon()
	d := startBalloon(t, b, mem)
	d.report(tdesc{addr: 0x10000, len: pageSize}, wr(0x11000, pageSize))
	require.Eventually(t, func() bool { return d.r32(abi.VirtioMMIOStatus)&abi.VirtioStatusNeedsReset != 0 }, timeout, tick)
	assert.ErrorContains(t, d.m.Err(), "device-readable")
	assert.Zero(t, d.usedIdx(), "the chain is not used")
	assert.Equal(t, byte(0xa5), mem[0x10000])
	assert.Equal(t, byte(0xa5), mem[0x11000])
	assert.Zero(t, b.Stats.Ranges.Load())
	assert.EqualValues(t, 2, b.Stats.Refused.Load())
}

// Without PAGE_REPORTING negotiated the device serves no queue.
func TestBalloonWithoutReporting(t *testing.T) {
	mem := guestMemory(t, 1<<16)
	b := NewBalloon()
	d := &testDriver{t: t, mem: mem}
	d.m = NewMMIO(b, mem, nil)
	t.Cleanup(func() { d.w32(abi.VirtioMMIOStatus, 0) })
	require.True(t, d.negotiate(abi.VirtioFVersion1))
	d.setupQueue(0, 8, tdDesc, tdAvail, tdUsed)
	d.w32(abi.VirtioMMIOStatus, abi.VirtioStatusAcknowledge|abi.VirtioStatusDriver|abi.VirtioStatusFeaturesOK|abi.VirtioStatusDriverOK)
	require.Zero(t, d.r32(abi.VirtioMMIOStatus)&abi.VirtioStatusNeedsReset)
	assert.Nil(t, b.stop, "no worker")
}

// FuzzBalloonReport hands the balloon hostile reporting queues: any
// descriptor table (direct and indirect descriptors anywhere, in the hole,
// past the end of RAM) over guest memory with the [3G, 4G) hole. The device
// must never panic or hang, must discard only page-aligned, page-multiple
// ranges wholly within RAM, and must account for every range of a report.
func FuzzBalloonReport(f *testing.F) {
	desc := func(ds ...tdesc) []byte {
		b := make([]byte, 16*len(ds))
		for i, x := range ds {
			putDesc(b, 0, uint16(i), x)
		}
		return b
	}
	const next = abi.VirtqDescFNext | abi.VirtqDescFWrite
	f.Add(desc(wr(0x10000, pageSize)), []byte{0}, uint8(0))
	f.Add(desc(tdesc{addr: 0x10000, len: 2 * pageSize, flags: next, next: 1}, wr(arch.LowMemEnd-pageSize, 2*pageSize)), []byte{0, 1}, uint8(0))
	// An indirect table at descriptor 16 (0x1100), with a range in high RAM
	// and an unaligned one.
	ind := make([]tdesc, 18)
	ind[0] = tdesc{addr: tdDesc + 16*16, len: 32, flags: abi.VirtqDescFIndirect}
	ind[16] = tdesc{addr: arch.HighMemStart, len: pageSize, flags: next, next: 1}
	ind[17] = wr(0x20800, pageSize)
	f.Add(desc(ind...), []byte{0}, uint8(2))
	f.Add(desc(tdesc{addr: 0x10000, len: pageSize}, wr(0x11000, pageSize)), []byte{0, 0, 0}, uint8(1))
	f.Add(desc(tdesc{addr: 0x10000, len: pageSize, flags: next, next: 0}), []byte{0, 5, 200}, uint8(3))

	const ram = arch.LowMemEnd + 1<<20
	mem := bigGuestMemory(f, ram)
	mapLen := uint64(len(mem))
	f.Fuzz(func(t *testing.T, table, heads []byte, feat uint8) {
		clear(mem[tdDesc:tdData])
		copy(mem[tdDesc:tdAvail], table)
		const size = 16
		nh := min(len(heads), size)
		for i := range nh {
			binary.LittleEndian.PutUint16(mem[tdAvail+4+2*i:], uint16(heads[i]))
		}
		binary.LittleEndian.PutUint16(mem[tdAvail+2:], uint16(nh))
		q, err := NewQueue(mem, balloonReportingQ, QueueConfig{Size: size, Desc: tdDesc, Driver: tdAvail, Device: tdUsed}, fuzzFeatures(feat))
		require.NoError(t, err)
		q.AddressesOnly()

		var got uint64
		b := NewBalloon()
		b.discard = func(p []byte) error {
			addr := offsetIn(mem, p)
			n := uint64(len(p))
			if addr%pageSize != 0 || n == 0 || n%pageSize != 0 || !arch.InRAM(mapLen, addr, n) {
				t.Fatalf("discarded %#x+%#x", addr, n)
			}
			got += n
			return nil
		}
		for range 2 * size {
			c, err := q.Next()
			if err != nil {
				var pe *ProtocolError
				require.ErrorAs(t, err, &pe)
				return
			}
			if c == nil {
				break
			}
			ranges, refused := b.Stats.Ranges.Load(), b.Stats.Refused.Load()
			if err := b.report(q.Index, c); err != nil {
				var pe *ProtocolError
				require.ErrorAs(t, err, &pe)
				require.Equal(t, ranges, b.Stats.Ranges.Load(), "a bad report discards nothing")
				return
			}
			require.EqualValues(t, len(c.Segs), b.Stats.Ranges.Load()-ranges+b.Stats.Refused.Load()-refused,
				"every range discarded or refused")
			q.Put(c, 0)
		}
		require.Equal(t, got, b.Stats.Bytes.Load())
	})
}

// BenchmarkBalloonReport: the device's cost for one report of 32 ranges
// of 2 MiB (64 MiB) of touched anonymous guest RAM; SetBytes makes it a
// discard rate.
func BenchmarkBalloonReport(b *testing.B) {
	const rangeSize, ranges = 2 << 20, 32
	mem := bigGuestMemory(b, ranges*rangeSize)
	c := &Chain{}
	for i := range ranges {
		a := uint64(i * rangeSize)
		c.Segs = append(c.Segs, Segment{Addr: a, Len: rangeSize, Data: mem[a : a+rangeSize : a+rangeSize], Writable: true})
	}
	d := NewBalloon()
	b.SetBytes(ranges * rangeSize)
	for b.Loop() {
		b.StopTimer()
		for i := 0; i < len(mem); i += pageSize {
			mem[i] = 1
		}
		b.StartTimer()
		if err := d.report(balloonReportingQ, c); err != nil {
			b.Fatal(err)
		}
	}
}
