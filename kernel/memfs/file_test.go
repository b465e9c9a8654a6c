package memfs

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func newFile(t *testing.T, path string) Inode {
	ino, err := Open(Root(), bs(path), unix.O_CREAT|unix.O_RDWR, 0o644, 0)
	require.Zero(t, err)
	t.Cleanup(func() { Unref(ino) })
	return ino
}

func TestReadWriteOffsets(t *testing.T) {
	fresh(t)
	f := newFile(t, "/tmp/f")
	// Writes straddling page boundaries, compared with a plain buffer.
	model := make([]byte, 0)
	write := func(off int, data []byte) {
		n, err := Write(f, data, int64(off), 0)
		require.Zero(t, err)
		require.Equal(t, len(data), n)
		if end := off + len(data); end > len(model) {
			model = append(model, make([]byte, end-len(model))...)
		}
		copy(model[off:], data)
	}
	write(0, bytes.Repeat([]byte("a"), 5000))
	write(4090, bytes.Repeat([]byte("b"), 20))
	write(12000, []byte("tail"))
	write(8191, []byte("xy"))
	require.EqualValues(t, len(model), Size(f))
	got := make([]byte, len(model)+100)
	n, err := Read(f, got, 0)
	require.Zero(t, err)
	require.Equal(t, len(model), n, "short read at EOF")
	require.Equal(t, model, got[:n])
	for _, off := range []int{0, 1, 4095, 4096, 4097, 8190, 11999, len(model) - 1} {
		for _, size := range []int{1, 7, 4096, 9000} {
			buf := make([]byte, size)
			n, err := Read(f, buf, int64(off))
			require.Zero(t, err)
			want := model[off:]
			if len(want) > size {
				want = want[:size]
			}
			require.Equal(t, want, buf[:n], "off %d size %d", off, size)
		}
	}
	n, err = Read(f, got, int64(len(model)))
	require.Zero(t, err)
	assert.Zero(t, n)
	n, err = Write(f, nil, 100, 99)
	require.Zero(t, err)
	assert.Zero(t, n)
	assert.NotEqualValues(t, 99, doStat(t, f).mtime, "empty write changes nothing")
}

func TestSparseFiles(t *testing.T) {
	fresh(t)
	f := newFile(t, "/tmp/sparse")
	before := Usage()
	offsets := []int64{0, 1 << 20, 1<<30 + 123, 1 << 40, MaxFileSize - 4}
	for _, off := range offsets {
		n, err := Write(f, []byte("DATA"), off, 0)
		require.Zero(t, err)
		require.Equal(t, 4, n)
	}
	assert.Equal(t, MaxFileSize, Size(f))
	u := Usage()
	assert.EqualValues(t, 5, u.DataPages-before.DataPages, "only touched pages are allocated")
	assert.Less(t, u.IndexPages-before.IndexPages, int64(20))
	assert.EqualValues(t, 5*8, doStat(t, f).blocks)
	for _, off := range offsets {
		buf := make([]byte, 12)
		n, err := Read(f, buf, off-4)
		if off == 0 {
			n, err = Read(f, buf[4:], 0)
			n += 4
		}
		require.Zero(t, err)
		want := []byte("\x00\x00\x00\x00DATA\x00\x00\x00\x00")
		if off == MaxFileSize-4 {
			want = want[:8]
		}
		require.Equal(t, want, buf[:n], "around %d", off)
	}
	// A hole spanning whole index subtrees reads as zeros.
	hole := make([]byte, 3*pageSize)
	for i := range hole {
		hole[i] = 0xff
	}
	n, err := Read(f, hole, 1<<35)
	require.Zero(t, err)
	require.Equal(t, len(hole), n)
	require.Equal(t, make([]byte, len(hole)), hole)

	// Truncating frees pages and index pages alike.
	require.Zero(t, Truncate(f, 1<<20+2, 0))
	u = Usage()
	assert.EqualValues(t, 2, u.DataPages-before.DataPages)
	require.Zero(t, Truncate(f, 0, 0))
	assert.Equal(t, before, Usage())
}

func TestTruncate(t *testing.T) {
	fresh(t)
	f := newFile(t, "/tmp/f")
	before := Usage()
	data := bytes.Repeat([]byte("0123456789"), 1000) // 10000 bytes, 3 pages
	_, err := Write(f, data, 0, 0)
	require.Zero(t, err)
	assert.EqualValues(t, 3, Usage().DataPages-before.DataPages)

	require.Zero(t, Truncate(f, 5000, 10))
	assert.EqualValues(t, 5000, Size(f))
	assert.EqualValues(t, 2, Usage().DataPages-before.DataPages)
	assert.EqualValues(t, 10, doStat(t, f).mtime)
	require.Zero(t, Truncate(f, 5000, 20))
	assert.EqualValues(t, 10, doStat(t, f).mtime, "same size: no change")

	// Growing again exposes zeros, not the old bytes.
	require.Zero(t, Truncate(f, 10000, 0))
	got := make([]byte, 10000)
	n, err := Read(f, got, 0)
	require.Zero(t, err)
	require.Equal(t, 10000, n)
	assert.Equal(t, data[:5000], got[:5000])
	assert.Equal(t, make([]byte, 5000), got[5000:])
	assert.EqualValues(t, 2, Usage().DataPages-before.DataPages, "growing is sparse")

	// Writing past a shrunk end also sees zeros in between.
	require.Zero(t, Truncate(f, 100, 0))
	_, err = Write(f, []byte("Z"), 200, 0)
	require.Zero(t, err)
	got = make([]byte, 201)
	n, err = Read(f, got, 0)
	require.Zero(t, err)
	assert.Equal(t, 201, n)
	assert.Equal(t, data[:100], got[:100])
	assert.Equal(t, make([]byte, 100), got[100:200])

	require.Zero(t, Truncate(f, 0, 0))
	assert.Equal(t, before, Usage())

	// O_TRUNC through Open.
	_, err = Write(f, data, 0, 0)
	require.Zero(t, err)
	g, err := Open(Root(), bs("/tmp/f"), unix.O_WRONLY|unix.O_TRUNC, 0, 0)
	require.Zero(t, err)
	assert.Zero(t, Size(g))
	Unref(g)
	assert.Equal(t, before, Usage())
}

func TestLargeFile(t *testing.T) {
	fresh(t)
	f := newFile(t, "/tmp/big")
	// 64 MiB written in 1 MiB chunks: a height-2 tree.
	chunk := make([]byte, 1<<20)
	for i := 0; i < 64; i++ {
		for j := range chunk {
			chunk[j] = byte(i + j>>12)
		}
		n, err := Write(f, chunk, int64(i)<<20, 0)
		require.Zero(t, err)
		require.Equal(t, len(chunk), n)
	}
	assert.EqualValues(t, 64<<20, Size(f))
	assert.EqualValues(t, 64<<20/512, doStat(t, f).blocks)
	for i := 0; i < 64; i += 7 {
		n, err := Read(f, chunk, int64(i)<<20)
		require.Zero(t, err)
		require.Equal(t, len(chunk), n)
		for j := 0; j < len(chunk); j += 4096 {
			require.Equal(t, byte(i+j>>12), chunk[j])
		}
	}
	require.Zero(t, Truncate(f, 0, 0))
	assert.Zero(t, Usage().DataPages)
	assert.Zero(t, Usage().IndexPages)
}

// TestRegularOnly checks that reading, writing and truncating take regular
// files only: a directory gives EISDIR, a symbolic link EINVAL.
func TestRegularOnly(t *testing.T) {
	fresh(t)
	require.Zero(t, Mkdir(Root(), bs("/tmp/d"), 0o755, 0))
	require.Zero(t, Symlink(bs("d"), Root(), bs("/tmp/link"), 0))
	link, err := Lookup(Root(), bs("/tmp/link"), false)
	require.Zero(t, err)
	f := mkfile(t, "/tmp/f", "abc")
	buf := make([]byte, 4)
	for _, c := range []struct {
		ino  Inode
		want Errno
	}{{lookup(t, "/tmp/d"), EISDIR}, {link, EINVAL}, {f, 0}} {
		_, e := Read(c.ino, buf, 0)
		assert.Equal(t, c.want, e, "read")
		_, e = Write(c.ino, buf, 0, 1)
		assert.Equal(t, c.want, e, "write")
		assert.Equal(t, c.want, Truncate(c.ino, 2, 1), "truncate")
	}
}

// TestNewNameRules: a symbolic link or hard link cannot take a name that
// exists (EEXIST), nor one ending in a slash (ENOENT).
func TestNewNameRules(t *testing.T) {
	fresh(t)
	mkfile(t, "/tmp/f", "")
	assert.Equal(t, EEXIST, Symlink(bs("x"), Root(), bs("/tmp/f"), 1))
	assert.Equal(t, ENOENT, Symlink(bs("x"), Root(), bs("/tmp/new/"), 1))
	assert.Equal(t, EEXIST, Link(Root(), bs("/tmp/f"), Root(), bs("/tmp/f"), false, 1))
	assert.Equal(t, ENOENT, Link(Root(), bs("/tmp/f"), Root(), bs("/tmp/new/"), false, 1))
	require.Zero(t, Symlink(bs("f"), Root(), bs("/tmp/s"), 1))
	require.Zero(t, Link(Root(), bs("/tmp/f"), Root(), bs("/tmp/h"), false, 1))
	assert.Equal(t, lookup(t, "/tmp/f"), lookup(t, "/tmp/h"))
	assert.Equal(t, lookup(t, "/tmp/f"), lookup(t, "/tmp/s"))
}
