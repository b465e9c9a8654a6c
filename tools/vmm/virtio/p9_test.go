package virtio

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/tools/vmm/hostfs"
)

// Guest buffers of the 9P tests: one T-message area, one R-message area.
const (
	p9T     = 0x8000
	p9R     = 0xa000
	p9Msize = 8 << 10
)

// driverConn is a guest 9P transport over testDriver, for p9.NewClient:
// each whole T-message written becomes one chain (T readable, msize
// writable) and its R-message is what Read returns next. Requests are
// serialised; the device's concurrency is tested separately.
type driverConn struct {
	d      *testDriver
	closed bool // the test ended: the guest memory is gone
	mu     sync.Mutex
	w      []byte
	r      bytes.Buffer
	rc     *sync.Cond
}

func newDriverConn(d *testDriver) *driverConn {
	c := &driverConn{d: d}
	c.rc = sync.NewCond(&c.mu)
	// The p9 client clunks files it finds unreachable from a finalizer,
	// possibly after the test unmapped the guest memory.
	d.t.Cleanup(func() { c.mu.Lock(); c.closed = true; c.mu.Unlock() })
	return c
}

func (c *driverConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, os.ErrClosed
	}
	c.w = append(c.w, b...)
	for len(c.w) >= 4 && len(c.w) >= int(binary.LittleEndian.Uint32(c.w)) {
		size := binary.LittleEndian.Uint32(c.w)
		copy(c.d.mem[p9T:], c.w[:size])
		c.w = c.w[size:]
		c.d.post(tdesc{addr: p9T, len: size}, tdesc{addr: p9R, len: p9Msize, flags: abi.VirtqDescFWrite})
		c.d.w32(abi.VirtioMMIOQueueNotify, 0)
		_, n := c.d.waitUsed()
		c.r.Write(c.d.mem[p9R : p9R+n])
		c.rc.Broadcast()
	}
	return len(b), nil
}

func (c *driverConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.r.Len() == 0 {
		c.rc.Wait()
	}
	return c.r.Read(b)
}

func (c *driverConn) Close() error { return nil }

// p9Device starts a virtio-9p device over a tree of dir behind testDriver.
func p9Device(t *testing.T, dir string, readOnly bool) (*testDriver, *P9) {
	tree, err := hostfs.New(dir, readOnly)
	require.NoError(t, err)
	t.Cleanup(func() { tree.Close() })
	dev, err := NewP9("/data", tree)
	require.NoError(t, err)
	d := newTestDriver(t, dev)
	d.start(abi.VirtioFVersion1 | abi.Virtio9PFMountTag)
	return d, dev
}

func TestP9Config(t *testing.T) {
	d, _ := p9Device(t, t.TempDir(), false)
	assert.Equal(t, uint32(abi.VirtioDevice9P), d.r32(abi.VirtioMMIODeviceID))
	assert.Equal(t, uint32(5), d.r32(abi.VirtioMMIOConfig)&0xffff)
	assert.Equal(t, "/data", string([]byte{
		byte(d.r32(abi.VirtioMMIOConfig) >> 16), byte(d.r32(abi.VirtioMMIOConfig) >> 24),
		byte(d.r32(abi.VirtioMMIOConfig + 4)), byte(d.r32(abi.VirtioMMIOConfig+4) >> 8), byte(d.r32(abi.VirtioMMIOConfig+4) >> 16),
	}))
	_, err := NewP9("", nil)
	assert.Error(t, err)
	_, err = NewP9(string(make([]byte, 256)), nil)
	assert.Error(t, err)
}

// TestP9Client runs hugelgupf/p9's client through the queue: the guest's
// writes reach the host directory, fsync included.
func TestP9Client(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("from the host"), 0o644))
	d, _ := p9Device(t, dir, false)
	c, err := p9.NewClient(newDriverConn(d), p9.WithMessageSize(p9Msize))
	require.NoError(t, err)
	root, err := c.Attach("")
	require.NoError(t, err)

	_, f, err := root.Walk([]string{"hello.txt"})
	require.NoError(t, err)
	_, _, err = f.Open(p9.ReadOnly)
	require.NoError(t, err)
	b := make([]byte, 64)
	n, err := f.ReadAt(b, 0)
	require.NoError(t, err)
	assert.Equal(t, "from the host", string(b[:n]))
	require.NoError(t, f.Close())

	_, dc, err := root.Walk(nil)
	require.NoError(t, err)
	nf, _, _, err := dc.Create("out.bin", p9.WriteOnly, 0o644, 0, 0)
	require.NoError(t, err)
	big := bytes.Repeat([]byte("0123456789abcdef"), 3000) // several messages
	n, err = nf.WriteAt(big, 0)
	require.NoError(t, err)
	assert.Equal(t, len(big), n)
	require.NoError(t, nf.FSync())
	require.NoError(t, nf.Close())
	got, err := os.ReadFile(filepath.Join(dir, "out.bin"))
	require.NoError(t, err)
	assert.Equal(t, big, got)

	_, _, err = root.Walk([]string{".."})
	assert.ErrorIs(t, err, linux.EINVAL)
	require.NoError(t, root.Close())
	require.NoError(t, c.Close())
}

func TestP9ReadOnly(t *testing.T) {
	dir := t.TempDir()
	d, _ := p9Device(t, dir, true)
	c, err := p9.NewClient(newDriverConn(d), p9.WithMessageSize(p9Msize))
	require.NoError(t, err)
	root, err := c.Attach("")
	require.NoError(t, err)
	_, _, _, err = root.Create("x", p9.WriteOnly, 0o644, 0, 0)
	assert.ErrorIs(t, err, linux.EROFS)
	assert.NoFileExists(t, filepath.Join(dir, "x"))
	require.NoError(t, root.Close())
	require.NoError(t, c.Close())
}

// tmsg builds a raw T-message.
func tmsg(typ uint8, tag uint16, body ...byte) []byte {
	m := binary.LittleEndian.AppendUint32(nil, uint32(p9Header+len(body)))
	m = append(m, typ)
	m = binary.LittleEndian.AppendUint16(m, tag)
	return append(m, body...)
}

func tversion(tag uint16, msize uint32) []byte {
	body := binary.LittleEndian.AppendUint32(nil, msize)
	body = binary.LittleEndian.AppendUint16(body, 8)
	return tmsg(p9Tversion, tag, append(body, "9P2000.L"...)...)
}

// rawRequest posts m with wlen writable bytes and returns what came back.
func rawRequest(d *testDriver, m []byte, wlen uint32) []byte {
	copy(d.mem[p9T:], m)
	d.post(tdesc{addr: p9T, len: uint32(len(m))}, tdesc{addr: p9R, len: wlen, flags: abi.VirtqDescFWrite})
	d.w32(abi.VirtioMMIOQueueNotify, 0)
	_, n := d.waitUsed()
	return append([]byte(nil), d.mem[p9R:p9R+n]...)
}

// TestP9Hostile sends what no driver should: the device answers without
// failing, and keeps serving.
func TestP9Hostile(t *testing.T) {
	d, _ := p9Device(t, t.TempDir(), false)

	// Tversion's msize is lowered to the device's.
	r := rawRequest(d, tversion(0xffff, 1<<30), 64)
	require.GreaterOrEqual(t, len(r), 11)
	assert.Equal(t, uint8(101), r[4])
	assert.Equal(t, uint32(p9MaxMessage), binary.LittleEndian.Uint32(r[7:]))

	// A size beyond the chain, below the header, or no room for a reply:
	// the chain comes back empty.
	m := tversion(1, 8192)
	binary.LittleEndian.PutUint32(m, 4000)
	assert.Empty(t, rawRequest(d, m, 64))
	binary.LittleEndian.PutUint32(m, 3)
	assert.Empty(t, rawRequest(d, m, 64))
	assert.Empty(t, rawRequest(d, tversion(1, 8192), 10))
	assert.Empty(t, rawRequest(d, []byte{1, 2}, 64))

	// An unknown message type gets Rlerror with its tag.
	r = rawRequest(d, tmsg(250, 7), 64)
	require.Len(t, r, 11)
	assert.Equal(t, uint8(p9Rlerror), r[4])
	assert.Equal(t, uint16(7), binary.LittleEndian.Uint16(r[5:]))

	// Tattach, then a Tread of 1 GiB on an unopened fid: the count is
	// clamped before the server sees it, and the error comes back.
	attach := binary.LittleEndian.AppendUint32(nil, 1)            // fid
	attach = binary.LittleEndian.AppendUint32(attach, ^uint32(0)) // afid
	attach = append(attach, 0, 0, 0, 0)                           // uname, aname
	attach = binary.LittleEndian.AppendUint32(attach, 0)          // n_uname
	r = rawRequest(d, tmsg(104, 2, attach...), 64)
	require.GreaterOrEqual(t, len(r), 5)
	assert.Equal(t, uint8(105), r[4], "Rattach")
	read := binary.LittleEndian.AppendUint32(nil, 1)
	read = binary.LittleEndian.AppendUint64(read, 0)
	read = binary.LittleEndian.AppendUint32(read, 1<<30)
	r = rawRequest(d, tmsg(p9Tread, 3, read...), 64)
	require.Len(t, r, 11)
	assert.Equal(t, uint8(p9Rlerror), r[4])

	// Still serving.
	r = rawRequest(d, tversion(0xffff, 8192), 64)
	assert.Equal(t, uint8(101), r[4])
}

// TestP9DuplicateTag holds one request in flight (a Tflush of a tag the
// server never saw completes at once, so use two chains posted together).
func TestP9DuplicateTag(t *testing.T) {
	d, _ := p9Device(t, t.TempDir(), false)
	rawRequest(d, tversion(0xffff, 8192), 64)
	// Two chains with the same tag in one notification: the second comes
	// back unanswered (0 bytes), the first is answered.
	m := tmsg(250, 9)
	copy(d.mem[p9T:], m)
	d.post(tdesc{addr: p9T, len: uint32(len(m))}, tdesc{addr: p9R, len: 64, flags: abi.VirtqDescFWrite})
	d.post(tdesc{addr: p9T, len: uint32(len(m))}, tdesc{addr: p9R + 64, len: 64, flags: abi.VirtqDescFWrite})
	d.w32(abi.VirtioMMIOQueueNotify, 0)
	var lens []uint32
	for range 2 {
		_, n := d.waitUsed()
		lens = append(lens, n)
	}
	assert.ElementsMatch(t, []uint32{0, 11}, lens)
}

func TestP9ReplyTooBig(t *testing.T) {
	ch := &Chain{Segs: []Segment{{Data: make([]byte, 11), Writable: true}, {Data: make([]byte, 3), Writable: true}}}
	r := tmsg(117, 5, make([]byte, 20)...)
	n := p9Reply(ch, r)
	assert.Equal(t, uint32(11), n)
	b := ch.Segs[0].Data
	assert.Equal(t, uint8(p9Rlerror), b[4])
	assert.Equal(t, uint16(5), binary.LittleEndian.Uint16(b[5:]))
	assert.Equal(t, uint32(errEMSGSIZE), binary.LittleEndian.Uint32(b[7:]))

	// A reply spread over two segments.
	ch = &Chain{Segs: []Segment{{Data: make([]byte, 4)}, {Data: make([]byte, 8), Writable: true}, {Data: make([]byte, 3), Writable: true}}}
	r = tmsg(117, 6, 1, 2, 3)
	assert.Equal(t, uint32(10), p9Reply(ch, r))
	assert.Equal(t, []byte{2, 3, 0}, ch.Segs[2].Data)
}

func TestP9Reset(t *testing.T) {
	d, dev := p9Device(t, t.TempDir(), false)
	rawRequest(d, tversion(0xffff, 8192), 64)
	d.w32(abi.VirtioMMIOStatus, 0)
	done := make(chan struct{})
	go func() { dev.Reset(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("reset hangs")
	}
	d.start(abi.VirtioFVersion1)
	r := rawRequest(d, tversion(0xffff, 8192), 64)
	assert.Equal(t, uint8(101), r[4])
}
