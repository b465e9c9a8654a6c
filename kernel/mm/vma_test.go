package mm_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/unigo-os/unigo/kernel" // rt needs the kernel linked
	"github.com/unigo-os/unigo/kernel/mm"
)

const pg = mm.PageSize

// vmas lists the table as [start, end, prot] triples.
func vmas() [][3]uintptr {
	var r [][3]uintptr
	for _, v := range mm.VMAs[:mm.NumVMAs()] {
		r = append(r, [3]uintptr{v.Start, v.End, uintptr(v.Prot)})
	}
	return r
}

// TestSetRange splits, merges and removes VMAs the way mmap, mprotect and
// munmap ask.
func TestSetRange(t *testing.T) {
	mm.ResetVMAs()
	base := uintptr(mm.UserBase)
	require.True(t, mm.SetRange(base, base+10*pg, 3))
	assert.Equal(t, [][3]uintptr{{base, base + 10*pg, 3}}, vmas())

	// mprotect of the middle splits in three.
	require.True(t, mm.SetRange(base+2*pg, base+4*pg, 1))
	assert.Equal(t, [][3]uintptr{{base, base + 2*pg, 3}, {base + 2*pg, base + 4*pg, 1}, {base + 4*pg, base + 10*pg, 3}}, vmas())
	assert.Equal(t, 1, mm.FindVMA(base+3*pg))
	assert.Equal(t, -1, mm.FindVMA(base+10*pg))

	// Restoring the protection merges them back.
	require.True(t, mm.SetRange(base+2*pg, base+4*pg, 3))
	assert.Equal(t, [][3]uintptr{{base, base + 10*pg, 3}}, vmas())

	// munmap of the tail.
	require.True(t, mm.SetRange(base+8*pg, base+10*pg, -1))
	assert.Equal(t, [][3]uintptr{{base, base + 8*pg, 3}}, vmas())
	assert.True(t, mm.RangeFree(base+8*pg, base+10*pg))
	assert.False(t, mm.RangeFree(base+7*pg, base+9*pg))
	mm.ResetVMAs()
}

// TestFindGap places unhinted mappings top-down below mmapTop.
func TestFindGap(t *testing.T) {
	mm.ResetVMAs()
	top := uintptr(mm.MmapTop)
	a := mm.FindGap(4 * pg)
	assert.Equal(t, top-4*pg, a)
	require.True(t, mm.SetRange(a, a+4*pg, 3))
	b := mm.FindGap(pg)
	assert.Equal(t, a-pg, b)
	require.True(t, mm.SetRange(a+pg, a+2*pg, -1)) // a hole that fits one page
	assert.Equal(t, a+pg, mm.FindGap(pg))
	assert.Equal(t, uintptr(0), mm.FindGap(top))
	assert.Equal(t, uintptr(pg), mm.PageRound(1))
	mm.ResetVMAs()
}
