package mm_test

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/kmem"
	"github.com/unigo-os/unigo/kernel/mm"
)

const (
	huge = mm.HugeSize
	rw   = mm.ProtRead | mm.ProtWrite
)

func noShootdown() {}

var shootdowns int

func countShootdown() { shootdowns++ }

// space gives the test a fresh address space with one anonymous mapping
// of size bytes at a 2 MiB-aligned base, and returns the base.
func space(t *testing.T, size uintptr) uintptr {
	t.Helper()
	mm.ResetVMAs()
	mm.NewPageTable()
	base := uintptr(mm.UserBase) + 1<<30
	require.True(t, mm.SetRange(base, base+size, rw))
	t.Cleanup(func() {
		mm.UnmapPages(base, base+size, noShootdown)
		mm.ResetVMAs()
	})
	return base
}

// touch walks [start, end) upwards as a program filling memory would,
// faulting where a page is absent, and returns the faults taken.
func touch(t *testing.T, start, end uintptr) int {
	t.Helper()
	n := 0
	for va := start; va < end; va += pg {
		if e, _ := mm.Leaf(va); e&mm.PtePresent != 0 {
			continue
		}
		require.Equal(t, mm.FaultOK, mm.Fault(va, true, false), "fault at %#x", va)
		n++
	}
	return n
}

// frame returns the address the page at va maps (plus va's offset).
func frame(va uintptr) uintptr {
	e, _ := mm.Leaf(va)
	if e&mm.PtePresent == 0 {
		return 0
	}
	base := uintptr(e & mm.PteAddr)
	if _, h := mm.Leaf(va); h {
		return base&^(huge-1) + va&(huge-1)
	}
	return base + va&(pg-1)
}

// TestHugeOnSequentialFault: filling a mapping upwards takes a doubling
// fault-around window in its first 2 MiB, then one 2 MiB page per fault;
// the VMAs (what /proc/self/maps shows) do not change.
func TestHugeOnSequentialFault(t *testing.T) {
	base := space(t, 16<<20)
	before := vmas()
	h0, pages0 := mm.Stats.Huge, mm.Stats.Pages
	faults := touch(t, base, base+16<<20)
	assert.Equal(t, 7+7, faults, "7 in the first 2 MiB, then one per 2 MiB")
	assert.EqualValues(t, 7, mm.Stats.Huge-h0)
	assert.EqualValues(t, 16<<20/pg, mm.Stats.Pages-pages0)
	_, h := mm.Leaf(base)
	assert.False(t, h, "the first 2 MiB shows no sequential use yet")
	for r := base + huge; r < base+16<<20; r += huge {
		e, h := mm.Leaf(r + 5*pg)
		require.True(t, h, "%#x", r)
		assert.Zero(t, uintptr(e&mm.PteAddr)&(huge-1), "2 MiB frame aligned")
		assert.NotZero(t, e&mm.PteWrite)
	}
	assert.Equal(t, before, vmas(), "VMAs unchanged")

	// A fault on a present 2 MiB page (a race, or spurious) maps nothing.
	f := mm.Stats.Faults
	assert.Equal(t, mm.FaultOK, mm.Fault(base+3*huge+7, true, false))
	assert.Equal(t, f, mm.Stats.Faults)
}

// TestSparseAndDownwardTouchesStaySmall: isolated touches, and stacks
// growing down, get one 4 KiB page per fault and no 2 MiB page.
func TestSparseAndDownwardTouchesStaySmall(t *testing.T) {
	base := space(t, 8<<20)
	h0, p0 := mm.Stats.Huge, mm.Stats.Pages
	for _, off := range []uintptr{3*huge + 5*pg, 2 * huge, huge + 100*pg, 4 * pg} {
		require.Equal(t, mm.FaultOK, mm.Fault(base+off, true, false))
	}
	top := base + 8<<20
	for va := top - pg; va >= top-64*pg; va -= pg {
		require.Equal(t, mm.FaultOK, mm.Fault(va, true, false))
	}
	assert.Equal(t, h0, mm.Stats.Huge)
	assert.EqualValues(t, 4+64, mm.Stats.Pages-p0)
}

// TestNoHugePageAcrossVMAs: a 2 MiB range not wholly inside one writable
// VMA gets 4 KiB pages.
func TestNoHugePageAcrossVMAs(t *testing.T) {
	base := space(t, 8<<20)
	require.True(t, mm.Protect(base+huge+huge/2, base+2*huge, mm.ProtRead))
	touch(t, base, base+huge)
	h0 := mm.Stats.Huge
	touch(t, base+huge, base+huge+huge/2)
	assert.Equal(t, h0, mm.Stats.Huge)
	assert.True(t, mm.HasPageTable(base+huge))
}

// fill writes a distinct byte into every page of [start, end).
func fill(start, end uintptr) {
	for va := start; va < end; va += pg {
		*kctx.At[byte](frame(va)) = byte(va / pg)
	}
}

// TestSplitOnPartialUnmap: munmap or MADV_DONTNEED of part of a 2 MiB
// page splits it: the rest keeps its frames and contents, the range
// reads as zeros when touched again, its frames go back to kmem; a range
// covering the whole 2 MiB page frees it whole.
func TestSplitOnPartialUnmap(t *testing.T) {
	base := space(t, 8<<20)
	touch(t, base, base+8<<20)
	r := base + huge
	_, h := mm.Leaf(r)
	require.True(t, h)
	fill(r, r+huge)
	old := frame(r)
	splits, pages, free := mm.Stats.Splits, mm.Stats.Pages, kmem.FreeBytes()

	mm.SetHooks(countShootdown, nil, nil)
	shootdowns = 0
	mm.UnmapPages(r+16*pg, r+32*pg, noShootdown) // MADV_DONTNEED
	mm.SetHooks(nil, nil, nil)
	assert.EqualValues(t, 1, mm.Stats.Splits-splits)
	assert.Equal(t, 1, shootdowns, "the split flushed every TLB before installing the table")
	assert.EqualValues(t, 16, pages-mm.Stats.Pages)
	assert.EqualValues(t, 16*pg-pg, kmem.FreeBytes()-free, "16 frames freed, one page table taken")
	assert.True(t, mm.HasPageTable(r))
	for va := r; va < r+huge; va += pg {
		e, h := mm.Leaf(va)
		require.False(t, h)
		if va >= r+16*pg && va < r+32*pg {
			require.Zero(t, e&mm.PtePresent, "%#x unmapped", va)
			continue
		}
		require.Equal(t, old+(va-r), frame(va), "%#x keeps its frame", va)
		require.Equal(t, byte(va/pg), *kctx.At[byte](frame(va)), "%#x keeps its contents", va)
		require.NotZero(t, e&mm.PteWrite)
	}
	// Touched again, the range reads as zeros (fresh frames).
	require.Equal(t, mm.FaultOK, mm.Fault(r+20*pg, false, false))
	assert.Zero(t, *kctx.At[byte](frame(r + 20*pg)))

	// munmap of a tail that ends inside the next 2 MiB page.
	r2 := base + 2*huge
	mm.UnmapPages(r+huge/2, r2+pg, noShootdown)
	require.True(t, mm.SetRange(r+huge/2, r2+pg, -1))
	e, _ := mm.Leaf(r2)
	assert.Zero(t, e&mm.PtePresent)
	assert.NotZero(t, frame(r2+pg))
	assert.True(t, mm.HasPageTable(r2))

	// A whole 2 MiB page goes whole.
	r3 := base + 3*huge
	free = kmem.FreeBytes()
	mm.UnmapPages(r3, r3+huge, noShootdown)
	assert.EqualValues(t, huge, kmem.FreeBytes()-free)
	e, _ = mm.Leaf(r3)
	assert.Zero(t, e&mm.PtePresent)
	assert.False(t, mm.HasPageTable(r3))
}

// TestUnmappedPageTableFreed: unmapping a page table's whole 2 MiB frees
// the table, so the range can be one 2 MiB page again.
func TestUnmappedPageTableFreed(t *testing.T) {
	base := space(t, 8<<20)
	touch(t, base, base+4<<20)
	r := base + huge
	mm.UnmapPages(r+pg, r+2*pg, noShootdown) // split it
	require.True(t, mm.HasPageTable(r))
	mm.UnmapPages(r, r+huge, noShootdown)
	assert.False(t, mm.HasPageTable(r))
	h0 := mm.Stats.Huge
	require.Equal(t, 1, touch(t, r, r+huge))
	assert.Equal(t, h0+1, mm.Stats.Huge)
}

// TestSplitOnPartialMprotect: mprotect of part of a 2 MiB page splits it
// and changes only that part; of a whole one, changes the 2 MiB entry.
func TestSplitOnPartialMprotect(t *testing.T) {
	base := space(t, 8<<20)
	touch(t, base, base+8<<20)
	r := base + huge
	old := frame(r)
	require.True(t, mm.SplitHuge(r+pg, r+2*pg))
	require.True(t, mm.Protect(r+pg, r+2*pg, mm.ProtRead))
	mm.ProtectPages(r+pg, r+2*pg, mm.ProtRead, noShootdown)
	for i, want := range []bool{true, false, true} {
		va := r + uintptr(i)*pg
		e, h := mm.Leaf(va)
		assert.False(t, h)
		assert.Equal(t, want, e&mm.PteWrite != 0, "page %d writable", i)
		assert.Equal(t, old+uintptr(i)*pg, frame(va))
	}
	assert.Equal(t, mm.FaultSEGV, mm.Fault(r+pg, true, false), "write to the read-only page")

	r3 := base + 3*huge
	require.True(t, mm.Protect(r3, r3+huge, mm.ProtRead))
	mm.ProtectPages(r3, r3+huge, mm.ProtRead, noShootdown)
	e, h := mm.Leaf(r3 + 9*pg)
	require.True(t, h)
	assert.Zero(t, e&mm.PteWrite)
	assert.False(t, mm.UserOK(r3+pg, 16, true), "read-only 2 MiB page")
	assert.True(t, mm.UserOK(r3+pg, 16, false))
	require.True(t, mm.Protect(r3, r3+huge, rw))
	mm.ProtectPages(r3, r3+huge, rw, noShootdown)
	assert.True(t, mm.UserOK(r3+pg, 16, true))
}

// TestUserOKOverHugePages: system calls' checks see 2 MiB pages as
// present and fault nothing in.
func TestUserOKOverHugePages(t *testing.T) {
	base := space(t, 8<<20)
	touch(t, base, base+8<<20)
	f := mm.Stats.Faults
	assert.True(t, mm.UserOK(base+huge-100, 3<<20, true))
	assert.True(t, mm.UserWritableNow(base+2*huge+8, 64))
	assert.True(t, mm.UserWritableNow(base+huge-8, 16), "across a 4 KiB and a 2 MiB page")
	assert.Equal(t, f, mm.Stats.Faults)
	assert.False(t, mm.UserOK(base+8<<20-8, 16, false), "beyond the mapping")
}

// TestFindGapAlignsLargeMappings: mappings of 2 MiB or more are placed
// 2 MiB-aligned, so that their 2 MiB ranges can be huge pages.
func TestFindGapAlignsLargeMappings(t *testing.T) {
	mm.ResetVMAs()
	top := uintptr(mm.MmapTop)
	require.True(t, mm.SetRange(top-3*pg, top, rw))
	a := mm.FindGap(16 << 20)
	assert.Zero(t, a&(huge-1))
	assert.Equal(t, (top-3*pg-16<<20)&^(huge-1), a)
	assert.Equal(t, top-4*pg, mm.FindGap(pg), "small ones are packed")
	mm.ResetVMAs()
}

// TestAdvise: MADV_HUGEPAGE maps a 2 MiB page on the first touch of its
// range, MADV_NOHUGEPAGE never; the advice splits VMAs like mprotect and
// the default merges them back.
func TestAdvise(t *testing.T) {
	base := space(t, 8<<20)
	require.True(t, mm.Advise(base+2*huge, base+3*huge, 1))
	assert.Len(t, vmas(), 3)
	h0 := mm.Stats.Huge
	require.Equal(t, 1, touch(t, base+2*huge, base+3*huge))
	assert.Equal(t, h0+1, mm.Stats.Huge)
	require.True(t, mm.Advise(base+2*huge, base+3*huge, 0))
	assert.Equal(t, [][3]uintptr{{base, base + 8<<20, rw}}, vmas())

	require.True(t, mm.Advise(base, base+8<<20, -1))
	assert.Equal(t, 7+7+7, touch(t, base, base+8<<20), "4 KiB pages and fault-around only (one 2 MiB page was there)")
	assert.Equal(t, h0+1, mm.Stats.Huge)
	_, h := mm.Leaf(base + 2*huge)
	assert.True(t, h, "the 2 MiB page mapped before stays")
}

// TestProtNoneRevokesPresentPages: mprotect(PROT_NONE) over pages already
// mapped (4 KiB and 2 MiB) leaves no user access to them, and restoring
// the protection gives the same frames back.
func TestProtNoneRevokesPresentPages(t *testing.T) {
	base := space(t, 8<<20)
	touch(t, base, base+8<<20)
	small, r := base+pg, base+2*huge
	oldSmall, oldHuge := frame(small), frame(r)
	require.True(t, mm.SplitHuge(small, small+pg))
	for _, span := range [][2]uintptr{{small, small + pg}, {r, r + huge}} {
		require.True(t, mm.Protect(span[0], span[1], 0))
		mm.ProtectPages(span[0], span[1], 0, noShootdown)
		e, _ := mm.Leaf(span[0])
		assert.Zero(t, e&mm.PteUser, "PROT_NONE page at %#x still user-accessible", span[0])
		assert.Equal(t, mm.FaultSEGV, mm.Fault(span[0], false, false))
		assert.False(t, mm.UserOK(span[0], 16, false))
	}
	for _, span := range [][2]uintptr{{small, small + pg}, {r, r + huge}} {
		require.True(t, mm.Protect(span[0], span[1], rw))
		mm.ProtectPages(span[0], span[1], rw, noShootdown)
		e, _ := mm.Leaf(span[0])
		assert.NotZero(t, e&mm.PteUser)
	}
	assert.Equal(t, oldSmall, frame(small))
	assert.Equal(t, oldHuge, frame(r))
}

// TestMremapOverHugePages: mremap moving or shrinking a mapping filled
// with 2 MiB pages keeps every byte: the move splits them and carries the
// 4 KiB entries, the shrink splits the page it cuts.
func TestMremapOverHugePages(t *testing.T) {
	base := space(t, 8<<20)
	touch(t, base, base+8<<20)
	_, h := mm.Leaf(base + 3*huge)
	require.True(t, h, "filled upwards: 2 MiB pages")
	for va := base; va < base+8<<20; va += pg {
		*(*uintptr)(unsafe.Pointer(frame(va))) = va
	}
	dst := base + 64<<20
	i := mm.OneVMA(base, base+8<<20)
	require.GreaterOrEqual(t, i, 0)
	require.True(t, mm.Move(i, base, 8<<20, dst, 8<<20, noShootdown))
	t.Cleanup(func() { mm.UnmapPages(dst, dst+8<<20, noShootdown) })
	for off := uintptr(0); off < 8<<20; off += pg {
		f := frame(dst + off)
		require.NotZero(t, f, "page at +%#x not moved", off)
		require.Equal(t, base+off, *(*uintptr)(unsafe.Pointer(f)), "page at +%#x", off)
		e, _ := mm.Leaf(base + off)
		require.Zero(t, e&mm.PtePresent, "old page at +%#x still mapped", off)
	}
	j := mm.OneVMA(dst, dst+8<<20)
	require.True(t, mm.Resize(j, dst, 8<<20, 3<<20+pg, noShootdown))
	assert.Equal(t, base+3<<20, *(*uintptr)(unsafe.Pointer(frame(dst + 3<<20))))
	e, _ := mm.Leaf(dst + 3<<20 + pg)
	assert.Zero(t, e&mm.PtePresent, "shrunk past a 2 MiB page's middle")
}
