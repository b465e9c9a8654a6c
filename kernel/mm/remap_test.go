package mm_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/unigo-os/unigo/kernel/memfs"
	"github.com/unigo-os/unigo/kernel/mm"
)

// TestOneVMA: mremap's source must lie in one VMA.
func TestOneVMA(t *testing.T) {
	mm.ResetVMAs()
	base := uintptr(mm.UserBase)
	require.True(t, mm.SetRange(base, base+4*pg, 3))
	require.True(t, mm.SetRange(base+4*pg, base+8*pg, 1))
	assert.Equal(t, 0, mm.OneVMA(base, base+4*pg))
	assert.Equal(t, 0, mm.OneVMA(base+pg, base+2*pg))
	assert.Equal(t, 1, mm.OneVMA(base+4*pg, base+8*pg))
	assert.Equal(t, -1, mm.OneVMA(base+3*pg, base+5*pg), "across two VMAs")
	assert.Equal(t, -1, mm.OneVMA(base+7*pg, base+9*pg), "past the end")
	assert.Equal(t, -1, mm.OneVMA(base+9*pg, base+10*pg), "unmapped")
	mm.ResetVMAs()
}

// TestResizeVMAs: shrinking unmaps the tail; growing extends the VMA,
// merged with it, for anonymous and file mappings (offsets continue).
func TestResizeVMAs(t *testing.T) {
	mm.ResetVMAs()
	base := uintptr(mm.UserBase)
	require.True(t, mm.SetRange(base, base+4*pg, 3))
	require.True(t, mm.ResizeVMAs(0, base, 4*pg, 2*pg))
	assert.Equal(t, [][3]uintptr{{base, base + 2*pg, 3}}, vmas())
	require.True(t, mm.ResizeVMAs(0, base, 2*pg, 6*pg))
	assert.Equal(t, [][3]uintptr{{base, base + 6*pg, 3}}, vmas())
	// A part at the end of a VMA.
	require.True(t, mm.ResizeVMAs(0, base+4*pg, 2*pg, 5*pg))
	assert.Equal(t, [][3]uintptr{{base, base + 9*pg, 3}}, vmas())
	mm.ResetVMAs()

	require.Zero(t, memfs.Init(1))
	ino, err := memfs.Open(memfs.Root(), []byte("/tmp/remapped"), unix.O_CREAT|unix.O_RDWR, 0o644, 1)
	require.Zero(t, err)
	f := uintptr(ino)
	require.True(t, mm.MapFile(base, base+2*pg, 1, f, 3*pg, false, false))
	require.True(t, mm.ResizeVMAs(0, base, 2*pg, 5*pg))
	assert.Equal(t, []fileVMA{{base, base + 5*pg, 1, false, f, 3 * pg}}, fileVMAs())
	require.True(t, mm.SetRange(base, base+5*pg, -1))
	assert.Zero(t, mm.FileVMAs())
	memfs.Unref(ino)
	mm.ResetVMAs()
}

// TestMapLike: a moved mapping keeps the protection, the flags and, for
// a file, the offset of what it maps.
func TestMapLike(t *testing.T) {
	mm.ResetVMAs()
	base := uintptr(mm.UserBase)
	require.True(t, mm.SetRange(base, base+4*pg, 1))
	dst := base + 100*pg
	require.True(t, mm.MapLike(0, base+pg, dst, 8*pg))
	assert.Equal(t, [][3]uintptr{{base, base + 4*pg, 1}, {dst, dst + 8*pg, 1}}, vmas())
	mm.ResetVMAs()

	require.Zero(t, memfs.Init(1))
	ino, err := memfs.Open(memfs.Root(), []byte("/tmp/moved"), unix.O_CREAT|unix.O_RDWR, 0o644, 1)
	require.Zero(t, err)
	f := uintptr(ino)
	require.True(t, mm.MapFile(base, base+4*pg, 3, f, 2*pg, true, false))
	require.True(t, mm.MapLike(0, base+pg, dst, 3*pg))
	assert.Equal(t, []fileVMA{{base, base + 4*pg, 3, true, f, 2 * pg}, {dst, dst + 3*pg, 3, true, f, 3 * pg}}, fileVMAs())
	assert.Equal(t, 2, mm.FileVMAs())
	require.True(t, mm.SetRange(base, dst+3*pg, -1))
	memfs.Unref(ino)
	mm.ResetVMAs()
}
