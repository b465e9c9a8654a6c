package memfs

import (
	"fmt"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func names(ents []dent) []string {
	var out []string
	for _, e := range ents {
		out = append(out, e.name)
	}
	return out
}

func TestReadDirRecords(t *testing.T) {
	fresh(t)
	require.Zero(t, Mkdir(Root(), bs("/tmp/d"), 0o755, 0))
	f := mkfile(t, "/tmp/d/file", "")
	require.Zero(t, Mkdir(Root(), bs("/tmp/d/sub"), 0o755, 0))
	require.Zero(t, Symlink(bs("file"), Root(), bs("/tmp/d/link"), 0))
	d, tmp := lookup(t, "/tmp/d"), lookup(t, "/tmp")

	ents := listDir(t, d, 4096)
	require.Len(t, ents, 5)
	assert.Equal(t, dent{Number(d), 1, dtDir, "."}, ents[0])
	assert.Equal(t, dent{Number(tmp), 2, dtDir, ".."}, ents[1])
	assert.Equal(t, dent{Number(f), 3, dtReg, "file"}, ents[2])
	assert.Equal(t, "sub", ents[3].name)
	assert.EqualValues(t, dtDir, ents[3].typ)
	assert.Equal(t, "link", ents[4].name)
	assert.EqualValues(t, dtLnk, ents[4].typ)

	root := listDir(t, Root(), 4096)
	assert.Equal(t, Number(Root()), root[1].ino, "the root is its own parent")

	// Record layout: 19-byte header, name, NUL, padded to 8.
	buf := make([]byte, 4096)
	n, next, err := ReadDir(d, 2, buf)
	require.Zero(t, err)
	assert.Equal(t, 24+24+24, n) // "file", "sub", "link" all fit in 24
	assert.EqualValues(t, 5, next)
	assert.EqualValues(t, 24, buf[16])
	assert.Equal(t, "file\x00", string(buf[19:24]))

	// Small buffers: one record at a time, EINVAL when none fits.
	_, _, err = ReadDir(d, 0, buf[:23])
	assert.Equal(t, EINVAL, err)
	assert.Equal(t, names(ents), names(listDir(t, d, 24)))
	n, next, err = ReadDir(d, 0, buf[:50])
	require.Zero(t, err)
	assert.Equal(t, 48, n)
	assert.EqualValues(t, 2, next)

	long := string(make([]byte, 0)) + "n"
	for len(long) < NameMax {
		long += "n"
	}
	mkfile(t, "/tmp/d/"+long, "")
	_, _, err = ReadDir(d, 5, buf[:direntRecLen(NameMax)-1])
	assert.Equal(t, EINVAL, err)
	n, _, err = ReadDir(d, 5, buf[:direntRecLen(NameMax)])
	require.Zero(t, err)
	assert.Equal(t, 280, n)
	assert.Equal(t, long, parseDirents(t, buf[:n])[0].name)

	// End of directory.
	n, next, err = ReadDir(d, 1000, buf)
	require.Zero(t, err)
	assert.Zero(t, n)
	assert.EqualValues(t, 1000, next)
}

func TestManyFiles(t *testing.T) {
	fresh(t)
	require.Zero(t, Mkdir(Root(), bs("/tmp/many"), 0o755, 0))
	d := lookup(t, "/tmp/many")
	const count = 10000
	for i := 0; i < count; i++ {
		mkfile(t, fmt.Sprintf("/tmp/many/file-%05d", i), "")
	}
	assert.EqualValues(t, 2*bogoDirentSize+count*bogoDirentSize, Size(d))
	for i := 0; i < count; i += 97 {
		lookup(t, fmt.Sprintf("/tmp/many/file-%05d", i))
	}
	ents := listDir(t, d, 4096)
	require.Len(t, ents, count+2)
	for i, e := range ents[2:] {
		require.Equal(t, fmt.Sprintf("file-%05d", i), e.name, "creation order")
	}
	// Remove every other file, then all; the directory empties fully.
	for i := 0; i < count; i += 2 {
		require.Zero(t, Unlink(d, bs(fmt.Sprintf("file-%05d", i)), 0))
	}
	require.Len(t, listDir(t, d, 1000), count/2+2)
	for i := 1; i < count; i += 2 {
		require.Zero(t, Unlink(d, bs(fmt.Sprintf("file-%05d", i)), 0))
	}
	require.Len(t, listDir(t, d, 1000), 2)
	require.Zero(t, Rmdir(Root(), bs("/tmp/many"), 0))
}

// TestReadDirResumeWhileMutating checks the getdents64 contract under
// concurrent changes: every entry present for the whole scan is returned
// exactly once, removed ones at most once, and nothing is duplicated.
func TestReadDirResumeWhileMutating(t *testing.T) {
	fresh(t)
	require.Zero(t, Mkdir(Root(), bs("/tmp/d"), 0o755, 0))
	d := lookup(t, "/tmp/d")
	for i := 0; i < 500; i++ {
		mkfile(t, fmt.Sprintf("/tmp/d/f%d", i), "")
	}
	stable := map[string]bool{}
	for i := 0; i < 500; i++ {
		if i%3 != 0 {
			stable[fmt.Sprintf("f%d", i)] = true
		}
	}
	buf := make([]byte, 256)
	cookie := uint64(0)
	seen := map[string]int{}
	added := 0
	for round := 0; ; round++ {
		n, next, err := ReadDir(d, cookie, buf)
		require.Zero(t, err)
		if n == 0 {
			break
		}
		for _, e := range parseDirents(t, buf[:n]) {
			seen[e.name]++
		}
		cookie = next
		// Between calls: remove some not-yet and already-seen entries
		// (including the one we stopped at), rename one, add new ones.
		for i := round * 3; i < round*3+3 && i < 500; i += 3 {
			Unlink(d, bs(fmt.Sprintf("f%d", i)), 0) // may already be gone
			if j := 498 - i; j > 0 && j%3 == 0 {
				Unlink(d, bs(fmt.Sprintf("f%d", j)), 0) // may already be gone
			}
		}
		for _, e := range parseDirents(t, buf[:n]) {
			if e.name[0] == 'f' && !stable[e.name] {
				Unlink(d, bs(e.name), 0)
			}
		}
		if round < 50 { // bounded, or the scan would chase its own additions
			mkfile(t, fmt.Sprintf("/tmp/d/new%d", added), "")
			added++
		}
	}
	for name := range stable {
		assert.Equal(t, 1, seen[name], name)
	}
	for name, c := range seen {
		assert.Equal(t, 1, c, "no duplicates: %s", name)
	}
	assert.Equal(t, 1, seen["."])
	assert.Equal(t, 1, seen[".."])
	// Entries added during the scan come after older ones, so the scan
	// sees all of those added before its final call.
	assert.Equal(t, added, countPrefix(seen, "new"))

	// Resuming from an arbitrary earlier cookie (telldir/seekdir) works.
	all := listDir(t, d, 4096)
	mid := all[len(all)/2]
	n, _, err := ReadDir(d, mid.off, buf)
	require.Zero(t, err)
	assert.Equal(t, all[len(all)/2+1].name, parseDirents(t, buf[:n])[0].name)
	got := names(listDir(t, d, 4096))
	want := names(all)
	sort.Strings(got)
	sort.Strings(want)
	assert.Equal(t, want, got)
}

func countPrefix(m map[string]int, p string) int {
	n := 0
	for k := range m {
		if len(k) >= len(p) && k[:len(p)] == p {
			n++
		}
	}
	return n
}

// TestReadDirResumeAfterRemovingLastReturned removes exactly the entry a
// ReadDir call stopped at (the resume hint) before the next call.
func TestReadDirResumeAfterRemovingLastReturned(t *testing.T) {
	fresh(t)
	require.Zero(t, Mkdir(Root(), bs("/tmp/d"), 0o755, 0))
	d := lookup(t, "/tmp/d")
	for i := 0; i < 10; i++ {
		mkfile(t, fmt.Sprintf("/tmp/d/e%d", i), "")
	}
	buf := make([]byte, 24*4) // ".", "..", e0, e1
	n, next, err := ReadDir(d, 0, buf)
	require.Zero(t, err)
	got := names(parseDirents(t, buf[:n]))
	require.Equal(t, []string{".", "..", "e0", "e1"}, got)
	require.Zero(t, Unlink(d, bs("e1"), 0))
	require.Zero(t, Unlink(d, bs("e0"), 0))
	n, next, err = ReadDir(d, next, buf)
	require.Zero(t, err)
	require.Equal(t, []string{"e2", "e3", "e4", "e5"}, names(parseDirents(t, buf[:n])))
	// Remove the hint, then create (reusing its memory) before resuming.
	require.Zero(t, Unlink(d, bs("e5"), 0))
	mkfile(t, "/tmp/d/late", "")
	n, _, err = ReadDir(d, next, buf)
	require.Zero(t, err)
	require.Equal(t, []string{"e6", "e7", "e8", "e9"}, names(parseDirents(t, buf[:n])))
	// Rewinding to an earlier cookie, before the hint, restarts correctly.
	n, _, err = ReadDir(d, 2, buf)
	require.Zero(t, err)
	require.Equal(t, []string{"e2", "e3", "e4", "e6"}, names(parseDirents(t, buf[:n])))
}
