package kmem

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// arena maps size bytes outside the Go heap, as physical memory would be.
func arena(t *testing.T, size int) uintptr {
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	require.NoError(t, err)
	return uintptr(unsafe.Pointer(&b[0]))
}

func reset() {
	nranges = 0
	freeLists = [MaxOrder + 1]uintptr{}
	classes = [numClasses]uintptr{}
	freeBytes.Store(0)
	totalBytes.Store(0)
	reporting = false
	listBytes.Store(0)
	reportedBytes.Store(0)
	lentBytes.Store(0)
	reusedBytes.Store(0)
}

func TestPagesAndOrders(t *testing.T) {
	reset()
	base := arena(t, 4<<20)                        // holds an aligned 2 MiB block
	require.True(t, AddRange(base+100, 4<<20-100)) // rounded inwards
	require.EqualValues(t, (4<<20)-PageSize, TotalBytes())

	seen := map[uintptr]bool{}
	for o := 0; o <= MaxOrder; o++ {
		p := AllocPages(o)
		require.NotZero(t, p)
		require.Zero(t, p&(uintptr(PageSize)<<o-1), "order %d block aligned", o)
		require.False(t, seen[p])
		seen[p] = true
		*(*uint64)(unsafe.Pointer(p)) = 0xdead
		FreePages(p, o)
		q := AllocPages(o)
		require.Equal(t, p, q, "freed block is reused")
		require.Zero(t, *(*uint64)(unsafe.Pointer(q)), "reused block is zeroed")
	}
}

func TestExhaustionAndSplit(t *testing.T) {
	reset()
	base := arena(t, 64*PageSize)
	AddRange(base, 64*PageSize)
	var got []uintptr
	for {
		p := AllocPage()
		if p == 0 {
			break
		}
		got = append(got, p)
	}
	require.Len(t, got, 64)
	require.Zero(t, FreeBytes())
	// Free four frames that happen to form nothing special; a larger order
	// cannot be satisfied from them (no coalescing), order 0 can.
	for _, p := range got[:4] {
		FreePage(p)
	}
	require.Zero(t, AllocPages(2))
	require.NotZero(t, AllocPage())
}

func TestSmallObjects(t *testing.T) {
	reset()
	base := arena(t, 1<<20)
	AddRange(base, 1<<20)
	for _, size := range []uintptr{1, 16, 17, 100, 512, 2048} {
		p := Alloc(size)
		require.NotZero(t, p)
		b := unsafe.Slice((*byte)(unsafe.Pointer(p)), size)
		for i := range b {
			require.Zero(t, b[i])
			b[i] = 0xff
		}
		Free(p, size)
		require.Equal(t, p, Alloc(size))
	}
	big := Alloc(5000)
	require.NotZero(t, big)
	require.Zero(t, big&pageMask)
	Free(big, 5000)
}

func TestNoGoAllocations(t *testing.T) {
	reset()
	base := arena(t, 1<<20)
	AddRange(base, 1<<20)
	n := testing.AllocsPerRun(100, func() {
		p := Alloc(64)
		q := AllocPage()
		Free(p, 64)
		FreePage(q)
	})
	require.Zero(t, n)
}

// TestHugeBlocks: a 2 MiB block is aligned to 2 MiB; the frames skipped
// to align it serve smaller orders afterwards, so no memory is lost; a
// freed 2 MiB block is reused whole.
func TestHugeBlocks(t *testing.T) {
	reset()
	const size = 8 << 20
	base := arena(t, size)
	AddRange(base, size)
	first := AllocPage()
	require.NotZero(t, first)
	h := AllocPages(HugeOrder)
	require.NotZero(t, h)
	require.Zero(t, h&(PageSize<<HugeOrder-1), "2 MiB block aligned")
	require.EqualValues(t, size-PageSize-PageSize<<HugeOrder, FreeBytes())

	// The skipped frames (between first and h) come back as blocks of
	// every order before the bump space is used again.
	skipped := h - (first + PageSize)
	var got uintptr
	for o := MaxOrder - 1; o >= 0; o-- {
		for {
			if uintptr(PageSize)<<o > skipped-got {
				break
			}
			p := AllocPages(o)
			require.NotZero(t, p)
			require.Less(t, p, h, "order %d block from the skipped frames", o)
			got += PageSize << o
		}
	}
	require.Equal(t, skipped, got)

	FreePages(h, HugeOrder)
	require.Equal(t, h, AllocPages(HugeOrder), "freed 2 MiB block reused")
}

// TestZeroRange: blocks carved for the first time from an AddZeroRange
// range are not cleared again (the test fills the range with 0xff to see
// it); reused blocks, and blocks of an AddRange range, are.
func TestZeroRange(t *testing.T) {
	reset()
	base := arena(t, 8<<20)
	b := unsafe.Slice((*byte)(unsafe.Pointer(base)), 8<<20)
	for i := range b {
		b[i] = 0xff
	}
	AddZeroRange(base, 4<<20)
	p := AllocPage()
	require.Equal(t, byte(0xff), *(*byte)(unsafe.Pointer(p)), "fresh: not cleared")
	h := AllocPages(HugeOrder)
	require.Equal(t, byte(0xff), *(*byte)(unsafe.Pointer(h + 12345)), "fresh 2 MiB block: not cleared")
	FreePage(p)
	require.Equal(t, p, AllocPage())
	require.Zero(t, *(*byte)(unsafe.Pointer(p + 8)), "reused: cleared")

	reset()
	AddRange(base+4<<20, 4<<20)
	q := AllocPage()
	require.Zero(t, *(*byte)(unsafe.Pointer(q + 100)), "AddRange memory: cleared")
}

// TestDirtyPages: AllocPagesDirty hands out the same blocks as AllocPages,
// accounted the same, but leaves a recycled block's contents alone.
func TestDirtyPages(t *testing.T) {
	reset()
	base := arena(t, 64*PageSize)
	require.True(t, AddRange(base, 64*PageSize))
	p := AllocPagesDirty(2)
	require.NotZero(t, p)
	require.Zero(t, p&(4*PageSize-1), "aligned to its size")
	require.EqualValues(t, 60*PageSize, FreeBytes())
	*(*uint64)(unsafe.Pointer(p + PageSize)) = 0xdead
	FreePages(p, 2)
	q := AllocPagesDirty(2)
	require.Equal(t, p, q, "freed block is reused")
	require.EqualValues(t, 0xdead, *(*uint64)(unsafe.Pointer(q + PageSize)), "not cleared")
	FreePages(q, 2)
	require.Equal(t, p, AllocPages(2))
	require.Zero(t, *(*uint64)(unsafe.Pointer(p + PageSize)), "AllocPages still clears")
	require.Zero(t, AllocPagesDirty(-1))
	require.Zero(t, AllocPagesDirty(MaxOrder+1))
}

// TestFresh: Fresh reports the bump pointer of the zero range holding an
// address, and nothing for other addresses or ranges not known to be zero.
func TestFresh(t *testing.T) {
	reset()
	base := arena(t, 4<<20)
	require.True(t, AddZeroRange(base+1<<20, 2<<20))
	require.True(t, AddRange(base, 1<<20))
	freshSeen = nil
	Fresh(base+1<<20, recordFresh)
	require.Equal(t, []uintptr{base + 1<<20}, freshSeen, "nothing handed out yet")
	p := AllocPages(4) // the first range's
	require.Equal(t, base+1<<20, p)
	Fresh(base+2<<20, recordFresh)
	require.Equal(t, []uintptr{base + 1<<20, p + PageSize<<4}, freshSeen)
	Fresh(base, recordFresh)         // not known to be zero
	Fresh(base+3<<20+1, recordFresh) // in no range
	require.Len(t, freshSeen, 2)
}

var freshSeen []uintptr

func recordFresh(next uintptr) { freshSeen = append(freshSeen, next) }
