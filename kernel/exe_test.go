package kernel

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/unigo-os/unigo/kernel/mm"
)

// TestExeCheck checks the bounds a boot module must keep before the
// kernel trusts it: inside one RAM range above 1 MiB, page-aligned, clear
// of the image, of a sane size.
func TestExeCheck(t *testing.T) {
	saveRAM, saveN, saveStart, saveEnd := ramRanges, nRAM, mm.ImageStart, mm.ImageEnd
	defer func() { ramRanges, nRAM, mm.ImageStart, mm.ImageEnd = saveRAM, saveN, saveStart, saveEnd }()
	ramRanges[0] = [2]uintptr{0, 0x9f000}
	ramRanges[1] = [2]uintptr{0x100000, 128 << 20}
	nRAM = 2
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
		{0x1000, 4096, "not inside RAM above 1 MiB"},
		{124 << 20, 5 << 20, "not inside RAM above 1 MiB"},
		{128 << 20, 4096, "not inside RAM above 1 MiB"},
		{0x9e000, 0x70000, "not inside RAM above 1 MiB"},
		{0x7ff000, 4096, "overlaps the image"},
		{0x100000, 0x100001, "overlaps the image"},
		{0x800000, 4096, ""},
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
