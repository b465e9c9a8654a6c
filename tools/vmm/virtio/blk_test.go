package virtio

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newTestBlock(t testing.TB, size int, ro bool) (*Block, string) {
	path := filepath.Join(t.TempDir(), "disk")
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i / blkSector)
	}
	require.NoError(t, os.WriteFile(path, data, 0o644))
	b, err := OpenBlock(path, ro)
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	return b, path
}

func blkHdr(typ uint32, sector uint64) []byte {
	h := make([]byte, 16)
	binary.LittleEndian.PutUint32(h, typ)
	binary.LittleEndian.PutUint64(h[8:], sector)
	return h
}

func blkChain(segs ...Segment) *Chain { return &Chain{Segs: segs} }

func TestBlockReadWriteFlush(t *testing.T) {
	b, path := newTestBlock(t, 8*blkSector+100, false)
	assert.Equal(t, int64(8*blkSector), b.Size(), "a partial last sector is not exposed")
	cfg := make([]byte, 8)
	b.ReadConfig(0, cfg)
	assert.Equal(t, uint64(8), binary.LittleEndian.Uint64(cfg))
	assert.Equal(t, uint64(BlkFFlush), b.Features())

	// Read sectors 2-3, the data split over two buffers, status alone.
	d1, d2, st := make([]byte, 700), make([]byte, 324), make([]byte, 1)
	n, err := b.handle(blkChain(Segment{Data: blkHdr(blkTIn, 2)}, Segment{Data: d1, Writable: true},
		Segment{Data: d2, Writable: true}, Segment{Data: st, Writable: true}))
	require.NoError(t, err)
	assert.Equal(t, uint32(1025), n)
	assert.Equal(t, byte(blkSOK), st[0])
	assert.Equal(t, byte(2), d1[0])
	assert.Equal(t, byte(3), d2[len(d2)-1])

	// Write sector 7 with the header and data in one buffer, the status
	// at the end of the last writable one.
	buf := append(blkHdr(blkTOut, 7), bytes.Repeat([]byte{0xab}, blkSector)...)
	n, err = b.handle(blkChain(Segment{Data: buf}, Segment{Data: st, Writable: true}))
	require.NoError(t, err)
	assert.Equal(t, uint32(1), n)
	assert.Equal(t, byte(blkSOK), st[0])
	_, err = b.handle(blkChain(Segment{Data: blkHdr(blkTFlush, 0)}, Segment{Data: st, Writable: true}))
	require.NoError(t, err)
	assert.Equal(t, byte(blkSOK), st[0])
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, bytes.Repeat([]byte{0xab}, blkSector), got[7*blkSector:8*blkSector])
	assert.Equal(t, byte(6), got[7*blkSector-1])

	id := make([]byte, 21)
	_, err = b.handle(blkChain(Segment{Data: blkHdr(blkTGetID, 0)}, Segment{Data: id, Writable: true}))
	require.NoError(t, err)
	assert.Equal(t, "unigo", string(bytes.TrimRight(id[:20], "\x00")))
}

func TestBlockRefusesBadRequests(t *testing.T) {
	b, path := newTestBlock(t, 8*blkSector, false)
	before, _ := os.ReadFile(path)
	st := make([]byte, 1)
	for name, c := range map[string]*Chain{
		"read past the end":        blkChain(Segment{Data: blkHdr(blkTIn, 7)}, Segment{Data: make([]byte, 1024), Writable: true}, Segment{Data: st, Writable: true}),
		"sector overflow":          blkChain(Segment{Data: blkHdr(blkTOut, 1<<61)}, Segment{Data: make([]byte, 512)}, Segment{Data: st, Writable: true}),
		"huge sector":              blkChain(Segment{Data: blkHdr(blkTIn, ^uint64(0))}, Segment{Data: make([]byte, 512), Writable: true}, Segment{Data: st, Writable: true}),
		"partial sector":           blkChain(Segment{Data: blkHdr(blkTOut, 0)}, Segment{Data: make([]byte, 100)}, Segment{Data: st, Writable: true}),
		"short header":             blkChain(Segment{Data: make([]byte, 10)}, Segment{Data: st, Writable: true}),
		"write with writable data": blkChain(Segment{Data: blkHdr(blkTOut, 0)}, Segment{Data: make([]byte, 512), Writable: true}, Segment{Data: st, Writable: true}),
	} {
		st[0] = 0xff
		_, err := b.handle(c)
		require.NoError(t, err, name)
		assert.Equal(t, byte(blkSIOErr), st[0], name)
	}
	st[0] = 0xff
	_, err := b.handle(blkChain(Segment{Data: blkHdr(99, 0)}, Segment{Data: st, Writable: true}))
	require.NoError(t, err)
	assert.Equal(t, byte(blkSUnsupp), st[0])
	n, err := b.handle(blkChain(Segment{Data: blkHdr(blkTIn, 0)}))
	require.NoError(t, err)
	assert.Zero(t, n, "no status byte: no answer")
	after, _ := os.ReadFile(path)
	assert.Equal(t, before, after)
}

func TestBlockReadOnly(t *testing.T) {
	b, path := newTestBlock(t, 4*blkSector, true)
	assert.Equal(t, uint64(BlkFFlush|BlkFRO), b.Features())
	st := make([]byte, 1)
	_, err := b.handle(blkChain(Segment{Data: blkHdr(blkTOut, 0)}, Segment{Data: make([]byte, 512)}, Segment{Data: st, Writable: true}))
	require.NoError(t, err)
	assert.Equal(t, byte(blkSIOErr), st[0])
	got, _ := os.ReadFile(path)
	assert.Equal(t, byte(0), got[0])
}

func TestOpenBlockErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := OpenBlock(filepath.Join(dir, "missing"), false)
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = OpenBlock(dir, true)
	assert.Error(t, err)
}

// FuzzBlockChain hands the device arbitrary request chains: it must never
// panic, never write outside the device, and never report more bytes
// written than the chain's writable segments hold.
func FuzzBlockChain(f *testing.F) {
	f.Add(blkHdr(blkTIn, 1), uint16(16), uint16(513), uint16(0), false)
	f.Add(append(blkHdr(blkTOut, 3), make([]byte, 512)...), uint16(20), uint16(1), uint16(0), false)
	f.Add(append(blkHdr(blkTOut, 7), make([]byte, 1024)...), uint16(16), uint16(1), uint16(0), true)
	f.Add(blkHdr(blkTFlush, 0), uint16(8), uint16(1), uint16(0), false)
	f.Add(blkHdr(blkTGetID, 0), uint16(16), uint16(3), uint16(30), false)
	f.Add([]byte{1, 2, 3}, uint16(1), uint16(0), uint16(0), false)
	f.Fuzz(func(t *testing.T, readable []byte, split, w1, w2 uint16, ro bool) {
		b, path := newTestBlock(t, 8*blkSector, ro)
		s := int(split) % (len(readable) + 1)
		c := blkChain(Segment{Data: readable[:s]}, Segment{Data: readable[s:]},
			Segment{Data: make([]byte, int(w1)%5000), Writable: true}, Segment{Data: make([]byte, int(w2)%600), Writable: true})
		n, err := b.handle(c)
		require.NoError(t, err)
		require.LessOrEqual(t, uint64(n), c.WritableLen())
		st, err := os.Stat(path)
		require.NoError(t, err)
		require.Equal(t, int64(8*blkSector), st.Size(), "the file's size never changes")
	})
}
