package mm_test

import (
	"os"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/unigo-os/unigo/kernel/kmem"
	"github.com/unigo-os/unigo/kernel/memfs"
	"github.com/unigo-os/unigo/kernel/mm"
)

func TestMain(m *testing.M) {
	// memfs (file VMAs hold references on inodes) needs kmem memory.
	const arena = 64 << 20 // room for 2 MiB pages (huge_test.go)
	b, err := unix.Mmap(-1, 0, arena, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		os.Stderr.WriteString("mm test: mmap arena: " + err.Error() + "\n")
		os.Exit(2)
	}
	kmem.AddRange(uintptr(unsafe.Pointer(&b[0])), arena)
	os.Exit(m.Run())
}

// fileVMA is a VMA as the tests compare it.
type fileVMA struct {
	start, end uintptr
	prot       uint32
	shared     bool
	file, off  uintptr
}

func fileVMAs() []fileVMA {
	var r []fileVMA
	for _, v := range mm.VMAs[:mm.NumVMAs()] {
		r = append(r, fileVMA{v.Start, v.End, v.Prot, v.Shared, v.File, v.Off})
	}
	return r
}

// TestFileVMAs: splitting a file mapping (mprotect, munmap of the middle)
// keeps each piece's file offset, restoring the protection merges the
// pieces back, and every VMA holds one reference on the inode, so an
// unlinked file lives exactly as long as a mapping of it.
func TestFileVMAs(t *testing.T) {
	require.Zero(t, memfs.Init(1))
	path := []byte("/tmp/mapped")
	ino, err := memfs.Open(memfs.Root(), path, unix.O_CREAT|unix.O_RDWR, 0o644, 1)
	require.Zero(t, err)
	f := uintptr(ino)
	inodes := memfs.Usage().Inodes

	mm.ResetVMAs()
	base := uintptr(mm.UserBase)
	require.True(t, mm.SetRange(base, base+2*pg, 3))
	require.True(t, mm.MapFile(base+2*pg, base+10*pg, 1, f, 5*pg, true, false))
	assert.Equal(t, 1, mm.FileVMAs())
	// Not merged with the anonymous neighbour.
	assert.Equal(t, []fileVMA{{base, base + 2*pg, 3, false, 0, 0}, {base + 2*pg, base + 10*pg, 1, true, f, 5 * pg}}, fileVMAs())

	// mprotect of the middle: three pieces, offsets follow.
	require.True(t, mm.Protect(base+4*pg, base+6*pg, 3))
	assert.Equal(t, []fileVMA{
		{base, base + 2*pg, 3, false, 0, 0},
		{base + 2*pg, base + 4*pg, 1, true, f, 5 * pg},
		{base + 4*pg, base + 6*pg, 3, true, f, 7 * pg},
		{base + 6*pg, base + 10*pg, 1, true, f, 9 * pg},
	}, fileVMAs())
	assert.Equal(t, 3, mm.FileVMAs())

	// Restoring it merges them: contiguous offsets of the same file.
	require.True(t, mm.Protect(base+4*pg, base+6*pg, 1))
	assert.Equal(t, []fileVMA{{base, base + 2*pg, 3, false, 0, 0}, {base + 2*pg, base + 10*pg, 1, true, f, 5 * pg}}, fileVMAs())

	// munmap of the middle.
	require.True(t, mm.SetRange(base+3*pg, base+4*pg, -1))
	assert.Equal(t, []fileVMA{
		{base, base + 2*pg, 3, false, 0, 0},
		{base + 2*pg, base + 3*pg, 1, true, f, 5 * pg},
		{base + 4*pg, base + 10*pg, 1, true, f, 7 * pg},
	}, fileVMAs())

	// Mapping the hole again at another offset does not merge.
	require.True(t, mm.MapFile(base+3*pg, base+4*pg, 1, f, 0, true, false))
	assert.Equal(t, 3, mm.FileVMAs())

	// Unlink and close: the mappings keep the inode.
	require.Zero(t, memfs.Unlink(memfs.Root(), path, 2))
	memfs.Unref(ino)
	assert.Equal(t, inodes, memfs.Usage().Inodes)
	// Anonymous memory over part of it.
	require.True(t, mm.SetRange(base+2*pg, base+5*pg, 3))
	assert.Equal(t, []fileVMA{
		{base, base + 5*pg, 3, false, 0, 0},
		{base + 5*pg, base + 10*pg, 1, true, f, 8 * pg},
	}, fileVMAs())
	assert.Equal(t, inodes, memfs.Usage().Inodes)
	// The last mapping goes: so does the file.
	require.True(t, mm.SetRange(base, base+10*pg, -1))
	assert.Equal(t, 0, mm.FileVMAs())
	assert.Equal(t, inodes-1, memfs.Usage().Inodes)
	mm.ResetVMAs()
}

// TestPrivateAndSharedDoNotMerge: adjacent mappings of one file merge
// only when both are shared or both private.
func TestPrivateAndSharedDoNotMerge(t *testing.T) {
	require.Zero(t, memfs.Init(1))
	ino, err := memfs.Open(memfs.Root(), []byte("/tmp/m2"), unix.O_CREAT|unix.O_RDWR, 0o644, 1)
	require.Zero(t, err)
	defer memfs.Unref(ino)
	mm.ResetVMAs()
	base := uintptr(mm.UserBase)
	require.True(t, mm.MapFile(base, base+pg, 1, uintptr(ino), 0, true, false))
	require.True(t, mm.MapFile(base+pg, base+2*pg, 1, uintptr(ino), pg, false, false))
	assert.Equal(t, 2, mm.NumVMAs())
	require.True(t, mm.MapFile(base+2*pg, base+3*pg, 1, uintptr(ino), 2*pg, false, false))
	assert.Equal(t, 2, mm.NumVMAs())
	require.True(t, mm.SetRange(base, base+3*pg, -1))
	assert.Equal(t, 0, mm.FileVMAs())
	mm.ResetVMAs()
}

// TestMayProtect: a shared mapping of a file opened read-only may not be
// made writable; other mappings may.
func TestMayProtect(t *testing.T) {
	require.Zero(t, memfs.Init(1))
	ino, err := memfs.Open(memfs.Root(), []byte("/tmp/ro"), unix.O_CREAT|unix.O_RDWR, 0o644, 1)
	require.Zero(t, err)
	defer memfs.Unref(ino)
	mm.ResetVMAs()
	base := uintptr(mm.UserBase)
	require.True(t, mm.SetRange(base, base+pg, 1))
	require.True(t, mm.MapFile(base+pg, base+2*pg, 1, uintptr(ino), 0, true, true))
	require.True(t, mm.MapFile(base+2*pg, base+3*pg, 1, uintptr(ino), 0, false, false))
	assert.True(t, mm.MayProtect(base, base+pg, 3))
	assert.True(t, mm.MayProtect(base+2*pg, base+3*pg, 3))
	assert.False(t, mm.MayProtect(base, base+3*pg, 3))
	assert.True(t, mm.MayProtect(base, base+3*pg, 1))
	require.True(t, mm.SetRange(base, base+3*pg, -1))
	mm.ResetVMAs()
}

// TestAdviseMappedPartsOnly: advice, as protection (update), is set on the
// mapped parts of the range only, split at its ends, keeping the
// protection; advising the default again merges the pieces back.
func TestAdviseMappedPartsOnly(t *testing.T) {
	mm.ResetVMAs()
	base := uintptr(mm.UserBase)
	require.True(t, mm.SetRange(base, base+8*pg, 3))
	require.True(t, mm.Advise(base+2*pg, base+4*pg, 1))
	type piece struct {
		start, end uintptr
		prot       uint32
		huge       int8
	}
	pieces := func() []piece {
		var r []piece
		for _, v := range mm.VMAs[:mm.NumVMAs()] {
			r = append(r, piece{v.Start, v.End, v.Prot, v.Huge})
		}
		return r
	}
	assert.Equal(t, []piece{{base, base + 2*pg, 3, 0}, {base + 2*pg, base + 4*pg, 3, 1}, {base + 4*pg, base + 8*pg, 3, 0}}, pieces())
	require.True(t, mm.Advise(base+3*pg, base+10*pg, -1), "past the mapping's end: the mapped part only")
	assert.Equal(t, []piece{{base, base + 2*pg, 3, 0}, {base + 2*pg, base + 3*pg, 3, 1}, {base + 3*pg, base + 8*pg, 3, -1}}, pieces())
	require.True(t, mm.Advise(base, base+8*pg, 0))
	assert.Equal(t, []piece{{base, base + 8*pg, 3, 0}}, pieces())
}
