package memfs

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// shrinks records the shrink hook's calls (a top-level function, as the
// hook must be), and whether the pages it is told about were still there.
var shrinks []struct {
	ino        Inode
	size       int64
	pagesAlive int64
}

func recordShrink(ino Inode, size int64) {
	shrinks = append(shrinks, struct {
		ino        Inode
		size       int64
		pagesAlive int64
	}{ino, size, ip(uintptr(ino)).pages})
}

var shrinkCount int

func countShrink(Inode, int64) { shrinkCount++ }

// TestPageAtCoherent: PageAt hands out the file's own pages, so bytes
// stored there are what Read returns and Write's bytes are in the page.
func TestPageAtCoherent(t *testing.T) {
	fresh(t)
	ino := mkfile(t, "/tmp/m", "")
	require.Zero(t, Truncate(ino, 3*pageSize, 1))
	require.Zero(t, Usage().DataPages, "truncate up leaves holes")

	p, err := PageAt(ino, 1) // a hole: allocated, zeroed
	require.Zero(t, err)
	require.NotZero(t, p)
	assert.Equal(t, int64(1), Usage().DataPages)
	assert.Equal(t, make([]byte, pageSize), pageBytes(p))
	q, err := PageAt(ino, 1)
	require.Zero(t, err)
	assert.Equal(t, p, q, "the same page every time")

	// Mapping -> read.
	copy(pageBytes(p)[100:], "via the page")
	buf := make([]byte, 12)
	n, err := Read(ino, buf, pageSize+100)
	require.Zero(t, err)
	assert.Equal(t, "via the page", string(buf[:n]))

	// Write -> mapping.
	_, err = Write(ino, []byte("via write"), pageSize+500, 2)
	require.Zero(t, err)
	assert.Equal(t, "via write", string(pageBytes(p)[500:509]))

	// Static files and directories cannot be mapped.
	assert.False(t, Mappable(Root()))
	assert.True(t, Mappable(ino))
	_, err = PageAt(Root(), 0)
	assert.Equal(t, ENODEV, err)
	_, err = PageAt(ino, uint64(MaxFileSize>>pageShift))
	assert.Equal(t, EFBIG, err)
}

// TestShrinkHook: Truncate calls the hook before it frees pages (so the
// kernel can unmap them first), and only when the file shrinks.
func TestShrinkHook(t *testing.T) {
	fresh(t)
	shrinks = nil
	SetShrinkHook(recordShrink)
	defer SetShrinkHook(nil)
	ino := mkfile(t, "/tmp/s", "")
	_, err := Write(ino, make([]byte, 4*pageSize), 0, 1)
	require.Zero(t, err)
	require.Zero(t, Truncate(ino, 8*pageSize, 2)) // growing: no call
	assert.Empty(t, shrinks)
	p, err := PageAt(ino, 1)
	require.Zero(t, err)
	pageBytes(p)[pageSize-1] = 7
	require.Zero(t, Truncate(ino, pageSize+10, 3))
	require.Len(t, shrinks, 1)
	assert.Equal(t, ino, shrinks[0].ino)
	assert.Equal(t, int64(pageSize+10), shrinks[0].size)
	assert.Equal(t, int64(4), shrinks[0].pagesAlive, "called before any page is freed")
	assert.Equal(t, int64(2), ip(uintptr(ino)).pages)
	assert.Zero(t, pageBytes(p)[pageSize-1], "the tail of the straddling page is zeroed")
	require.Zero(t, Truncate(ino, pageSize+10, 4)) // same size: no call
	assert.Len(t, shrinks, 1)
}

// TestGrowZeroesMappedTail: bytes a mapping stored beyond the end of file
// in its last page read as zeros once the file grows over them, by
// truncate or by a write further on.
func TestGrowZeroesMappedTail(t *testing.T) {
	fresh(t)
	ino := mkfile(t, "/tmp/tail", "abc")
	p, err := PageAt(ino, 0)
	require.Zero(t, err)
	copy(pageBytes(p)[3:], "beyond")
	require.Zero(t, Truncate(ino, 10, 1))
	assert.Equal(t, "abc\x00\x00\x00\x00\x00\x00\x00", readAll(t, ino))

	copy(pageBytes(p)[10:], "again")
	_, err = Write(ino, []byte("z"), 20, 2)
	require.Zero(t, err)
	assert.Equal(t, "abc"+string(make([]byte, 17))+"z", readAll(t, ino))
}
