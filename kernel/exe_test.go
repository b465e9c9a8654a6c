package kernel

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/unigo-os/unigo/kernel/mm"
)

// TestExeCheck checks the bounds a boot module must keep before the
// kernel trusts it: inside one RAM range (QEMU's -initrd) or one reserved
// range (the launcher's, above RAM) above 1 MiB, page-aligned, clear of
// the image, of a sane size.
func TestExeCheck(t *testing.T) {
	saveRAM, saveN, saveStart, saveEnd := ramRanges, nRAM, mm.ImageStart, mm.ImageEnd
	saveRes, saveNRes := reservedRanges, nReserved
	defer func() {
		ramRanges, nRAM, mm.ImageStart, mm.ImageEnd = saveRAM, saveN, saveStart, saveEnd
		reservedRanges, nReserved = saveRes, saveNRes
	}()
	ramRanges[0] = [2]uintptr{0, 0x9f000}
	ramRanges[1] = [2]uintptr{0x100000, 128 << 20}
	nRAM = 2
	reservedRanges[0] = [2]uintptr{0x9f000, 0xa0000}
	reservedRanges[1] = [2]uintptr{130 << 20, 140 << 20}
	reservedRanges[2] = [2]uintptr{mm.MapLimit - 4096, mm.MapLimit + 4096}
	nReserved = 3
	mm.ImageStart, mm.ImageEnd = 0x200000, 0x800000
	for _, c := range []struct {
		base, size uintptr
		want       string
	}{
		{120 << 20, 5<<20 + 17, ""},
		{128<<20 - 4096, 4096, ""},
		{120 << 20, 0, "bad size"},
		{120 << 20, 2 << 30, "bad size"},
		{^uintptr(0) - 4095, 8192, "bad size"},
		{120<<20 + 8, 100, "not page-aligned"},
		{0x1000, 4096, "not inside RAM or a reserved range above 1 MiB"},
		{124 << 20, 5 << 20, "not inside RAM or a reserved range above 1 MiB"},
		{128 << 20, 4096, "not inside RAM or a reserved range above 1 MiB"},
		{0x9e000, 0x70000, "not inside RAM or a reserved range above 1 MiB"},
		{0x7ff000, 4096, "overlaps the image"},
		{0x100000, 0x100001, "overlaps the image"},
		{0x800000, 4096, ""},
		{130 << 20, 10 << 20, ""},
		{130 << 20, 10<<20 + 1, "not inside RAM or a reserved range above 1 MiB"},
		{0x9f000, 4096, "not inside RAM or a reserved range above 1 MiB"},
		{mm.MapLimit - 4096, 4096, ""},
		{mm.MapLimit - 4096, 4097, "not inside RAM or a reserved range above 1 MiB"},
	} {
		assert.Equal(t, c.want, exeCheck(c.base, c.size), "module %#x+%#x", c.base, c.size)
	}
}

// TestExeSplit checks that RAM ranges given to the allocator leave out
// the module's pages.
func TestExeSplit(t *testing.T) {
	save := exe
	defer func() { exe = save }()
	exe.base, exe.size = 0x1000000, 0x2001
	_, _, split := exeSplit(0x100000, 0x1000000)
	assert.False(t, split)
	_, _, split = exeSplit(0x1003000, 0x2000000)
	assert.False(t, split)
	lo, hi, split := exeSplit(0x100000, 0x8000000)
	assert.True(t, split)
	assert.Equal(t, [2]uintptr{0x100000, 0x1000000}, lo)
	assert.Equal(t, [2]uintptr{0x1003000, 0x8000000}, hi)
	exe.size = 0
	_, _, split = exeSplit(0x100000, 0x8000000)
	assert.False(t, split)
}

// FuzzExeCheck: whatever start_info says, a module exeCheck accepts lies
// page-aligned inside one RAM or reserved range above 1 MiB, clear of the image, and
// its pages (exeSplit) never reach outside what it covers.
func FuzzExeCheck(f *testing.F) {
	f.Add(uint64(120<<20), uint64(5<<20+17))
	f.Add(uint64(0), uint64(0))
	f.Add(^uint64(0)-4095, uint64(8192))
	f.Add(uint64(0x7ff000), uint64(4096))
	f.Add(uint64(128<<20-4096), uint64(4096))
	saveRAM, saveN, saveStart, saveEnd, saveExe := ramRanges, nRAM, mm.ImageStart, mm.ImageEnd, exe
	saveRes, saveNRes := reservedRanges, nReserved
	defer func() {
		ramRanges, nRAM, mm.ImageStart, mm.ImageEnd, exe = saveRAM, saveN, saveStart, saveEnd, saveExe
		reservedRanges, nReserved = saveRes, saveNRes
	}()
	reservedRanges[0] = [2]uintptr{5 << 30, 6 << 30}
	nReserved = 1
	ramRanges[0] = [2]uintptr{0, 0x9f000}
	ramRanges[1] = [2]uintptr{0x100000, 3 << 30}
	ramRanges[2] = [2]uintptr{4 << 30, 5 << 30}
	nRAM = 3
	mm.ImageStart, mm.ImageEnd = 0x200000, 0x800000
	f.Fuzz(func(t *testing.T, base, size uint64) {
		b, s := uintptr(base), uintptr(size)
		if exeCheck(b, s) != "" {
			return
		}
		end := mm.PageRound(b + s)
		if s == 0 || end <= b || b%mm.PageSize != 0 || b < 1<<20 || end > mm.MapLimit || !inOneRange(b, end) ||
			(b < mm.ImageEnd && end > mm.ImageStart) {
			t.Fatalf("accepted module %#x+%#x", b, s)
		}
		exe.base, exe.size = b, s
		lo, hi, split := exeSplit(0x100000, 3<<30)
		if split && (lo[1] > b || hi[0] < end) {
			t.Fatalf("split %v %v overlaps module %#x-%#x", lo, hi, b, end)
		}
	})
}
