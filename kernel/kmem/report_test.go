package kmem

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// reportArena sets up a fresh allocator over an 8 MiB range with
// reporting on and returns the range's start.
func reportArena(t *testing.T) uintptr {
	reset()
	base := arena(t, 10<<20)
	base = (base + (2<<20 - 1)) &^ (2<<20 - 1)
	require.True(t, AddRange(base, 8<<20))
	require.True(t, EnableReporting())
	return base
}

func fill(p, n uintptr, b byte) {
	s := unsafe.Slice((*byte)(unsafe.Pointer(p)), n)
	for i := range s {
		s[i] = b
	}
}

func allZero(p, n uintptr) bool {
	for _, b := range unsafe.Slice((*byte)(unsafe.Pointer(p)), n) {
		if b != 0 {
			return false
		}
	}
	return true
}

func TestReportReserveAndMerge(t *testing.T) {
	reportArena(t)
	var pages []uintptr
	for i := 0; i < 256; i++ {
		p := AllocPage()
		require.NotZero(t, p)
		pages = append(pages, p)
	}
	for _, p := range pages {
		FreePage(p)
	}
	require.EqualValues(t, 256*PageSize, DirtyBytes())
	var out [8]Range
	n := TakeDirty(out[:], 64*PageSize, 1<<30)
	require.Equal(t, 1, n, "frames freed in address order merge into one range")
	assert.EqualValues(t, 192*PageSize, out[0].Len)
	assert.EqualValues(t, 64*PageSize, DirtyBytes(), "the reserve stays on the lists")
	assert.Zero(t, out[0].Addr&pageMask)
	free := FreeBytes()
	MarkReported(out[:n])
	assert.EqualValues(t, 192*PageSize, ReportedBytes())
	assert.Equal(t, free, FreeBytes(), "reported memory is still free")

	n = TakeDirty(out[:], 64*PageSize, 1<<30)
	assert.Zero(t, n, "nothing beyond the reserve")
}

func TestReportMaxBytesAndRangeCap(t *testing.T) {
	reportArena(t)
	var pages []uintptr
	for i := 0; i < 64; i++ {
		pages = append(pages, AllocPage())
	}
	for i := 0; i < 64; i += 2 { // every other frame: nothing merges
		FreePage(pages[i])
	}
	var out [4]Range
	n := TakeDirty(out[:], 0, 1<<30)
	require.Equal(t, 4, n)
	assert.EqualValues(t, 28*PageSize, DirtyBytes(), "only as many blocks as ranges fit")
	ReturnDirty(out[:n])
	assert.EqualValues(t, 32*PageSize, DirtyBytes())
	n = TakeDirty(out[:], 0, 3*PageSize)
	total := uintptr(0)
	for _, r := range out[:n] {
		total += r.Len
	}
	assert.EqualValues(t, 3*PageSize, total, "maxBytes honoured")
}

func TestReportedFramesClearedOnReuse(t *testing.T) {
	reportArena(t)
	var pages []uintptr
	for i := 0; i < 16; i++ {
		p := AllocPage()
		fill(p, PageSize, 0xaa)
		pages = append(pages, p)
	}
	for _, p := range pages {
		FreePage(p)
	}
	var out [16]Range
	n := TakeDirty(out[:], 0, 1<<30)
	for _, r := range out[:n] {
		fill(r.Addr, r.Len, 0x55) // the host may leave anything there
	}
	MarkReported(out[:n])
	require.Zero(t, DirtyBytes())
	seen := map[uintptr]bool{}
	for range pages {
		p := AllocPage()
		seen[p] = true
		assert.True(t, allZero(p, PageSize), "reported frame cleared when handed out")
	}
	for _, p := range pages {
		assert.True(t, seen[p], "reported frames are reused before the bump space")
	}
	assert.Zero(t, ReportedBytes())
	assert.EqualValues(t, 16*PageSize, ReusedBytes())
}

func TestHugeBlockReformedFromReportedFrames(t *testing.T) {
	reportArena(t)
	h := AllocPages(HugeOrder)
	require.NotZero(t, h)
	// Eat the rest so that only reported frames can serve a huge block.
	for AllocPages(HugeOrder) != 0 {
	}
	for AllocPage() != 0 {
	}
	// mm splits the huge page and frees its frames one by one.
	for q := h; q < h+PageSize<<HugeOrder; q += PageSize {
		fill(q, PageSize, 1)
		FreePage(q)
	}
	require.Zero(t, AllocPages(HugeOrder), "split frames never form a huge block on the lists")
	var out [4]Range
	n := TakeDirty(out[:], 0, 1<<30)
	require.Equal(t, 1, n)
	assert.Equal(t, Range{h, PageSize << HugeOrder}, out[0])
	MarkReported(out[:n])
	p := AllocPages(HugeOrder)
	require.Equal(t, h, p, "512 aligned reported frames form a huge block again")
	assert.True(t, allZero(p, PageSize<<HugeOrder))
	assert.Zero(t, ReportedBytes())
	assert.Zero(t, FreeBytes())
}

func TestReportedSmallOrders(t *testing.T) {
	reportArena(t)
	var pages []uintptr
	for i := 0; i < 64; i++ {
		pages = append(pages, AllocPage())
	}
	for AllocPage() != 0 {
	}
	for _, p := range pages {
		FreePage(p)
	}
	var out [4]Range
	n := TakeDirty(out[:], 0, 1<<30)
	MarkReported(out[:n])
	for o := 0; o <= 3; o++ {
		p := AllocPages(o)
		require.NotZero(t, p, "order %d from reported frames", o)
		assert.Zero(t, p&(uintptr(PageSize)<<o-1), "order %d aligned", o)
	}
	assert.EqualValues(t, (64-15)*PageSize, ReportedBytes())
	assert.EqualValues(t, FreeBytes(), ReportedBytes())
}

func TestReportingOffTakesNothing(t *testing.T) {
	reset()
	base := arena(t, 1<<20)
	AddRange(base, 1<<20)
	FreePage(AllocPage())
	var out [4]Range
	assert.Zero(t, TakeDirty(out[:], 0, 1<<30))
}

// Two ranges that touch: blocks from both may merge into one reported
// Range, which must still be marked reported (and allocatable again).
func TestReportAcrossAdjacentRanges(t *testing.T) {
	reset()
	base := arena(t, 6<<20)
	base = (base + (2<<20 - 1)) &^ (2<<20 - 1)
	require.True(t, AddRange(base, 2<<20))
	require.True(t, AddRange(base+2<<20, 2<<20))
	require.True(t, EnableReporting())
	var pages []uintptr
	for p := AllocPage(); p != 0; p = AllocPage() {
		pages = append(pages, p)
	}
	for i := len(pages) - 1; i >= 0; i-- { // LIFO lists: lowest first
		FreePage(pages[i])
	}
	free := FreeBytes()
	var out [8]Range
	n := TakeDirty(out[:], 0, 1<<30)
	require.NotZero(t, n)
	taken := uintptr(0)
	for _, r := range out[:n] {
		taken += r.Len
	}
	MarkReported(out[:n])
	assert.EqualValues(t, taken, ReportedBytes(), "every taken frame is marked reported")
	assert.Equal(t, free, FreeBytes())
	got := int64(0)
	for AllocPage() != 0 {
		got += PageSize
	}
	assert.Equal(t, free, got, "all free memory can be allocated again")
	assert.Zero(t, FreeBytes())
}

// An allocation that finds no memory while blocks are lent to the
// reporter waits for them (the reclaim hook) instead of failing.
func TestAllocWaitsForLentBlocks(t *testing.T) {
	reportArena(t)
	var pages []uintptr
	for p := AllocPage(); p != 0; p = AllocPage() {
		pages = append(pages, p)
	}
	for _, p := range pages {
		FreePage(p)
	}
	free := FreeBytes()
	var out [8]Range
	n := TakeDirty(out[:], 64*PageSize, 1<<30)
	require.NotZero(t, n)
	require.EqualValues(t, free-64*PageSize, LentBytes())
	calls := 0
	SetReclaim(func() bool { // the device uses the report
		calls++
		MarkReported(out[:n])
		return true
	})
	defer SetReclaim(nil)
	got := int64(0)
	for AllocPage() != 0 {
		got += PageSize
	}
	assert.Equal(t, free, got, "lent blocks are allocated once the device is done with them")
	assert.Equal(t, 1, calls)
	assert.Zero(t, LentBytes())
}

// Blocks lent to a device that broke are forgotten: no longer free.
func TestForgetLentBlocks(t *testing.T) {
	reportArena(t)
	FreePages(AllocPages(4), 4)
	free := FreeBytes()
	var out [1]Range
	require.Equal(t, 1, TakeDirty(out[:], 0, 1<<30))
	Forget(out[:1])
	assert.Zero(t, LentBytes())
	assert.Equal(t, free-int64(out[0].Len), FreeBytes())
}
