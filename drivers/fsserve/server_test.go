package fsserve

import (
	"bytes"
	"encoding/binary"
	"sync"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/unigo-os/unigo/abi"
)

// fakeKernel is a transport that records replies and serves pulls from
// the write data of the request being served.
type fakeKernel struct {
	mu      sync.Mutex
	writes  map[uint64][]byte
	replies map[uint64]reply
}

type reply struct {
	result int64
	data   []byte
	aux    int64
}

func (k *fakeKernel) reply(id uint64, result int64, data []byte, aux int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.replies[id] = reply{result, append([]byte(nil), data...), aux}
}

func (k *fakeKernel) pull(id uint64, p []byte, off uint64) (int, syscall.Errno) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return copy(p, k.writes[id][off:]), 0
}

type harness struct {
	t  *testing.T
	k  *fakeKernel
	s  *server
	id uint64
}

func newHarness(t *testing.T, fsys FS, ro bool) *harness {
	k := &fakeKernel{writes: map[uint64][]byte{}, replies: map[uint64]reply{}}
	s := newServer(k)
	s.addMount(0, fsys, ro)
	return &harness{t: t, k: k, s: s}
}

// call serves a request and returns its reply.
func (h *harness) call(r request, write []byte) reply {
	h.id++
	r.ID = h.id
	h.k.writes[r.ID] = write
	h.s.handle(&r)
	rep, ok := h.k.replies[r.ID]
	require.True(h.t, ok, "no reply")
	return rep
}

func (h *harness) open(path string, flags int) (uint64, Attr) {
	rep := h.call(request{FsRequest: abi.FsRequest{Op: abi.FsOpOpen, Flags: uint32(flags), Mode: 0o644}, path: path}, nil)
	require.GreaterOrEqual(h.t, rep.result, int64(1), "open %s: %v", path, syscall.Errno(-rep.result))
	return uint64(rep.result), decodeAttr(rep.data)
}

func decodeAttr(b []byte) Attr {
	a := *(*abi.FsAttr)(unsafe.Pointer(&b[0]))
	return Attr{Mode: a.Mode, Ino: a.Ino, Size: a.Size, Rdev: a.Rdev}
}

func (h *harness) errno(r request) syscall.Errno {
	rep := h.call(r, nil)
	if rep.result >= 0 {
		return 0
	}
	return syscall.Errno(-rep.result)
}

func TestServerFileIO(t *testing.T) {
	h := newHarness(t, NewMemFS(), false)
	require.Zero(t, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpMkdir, Mode: 0o755}, path: "d"}))
	fh, a := h.open("d/f", syscall.O_CREAT|syscall.O_RDWR)
	assert.Equal(t, uint32(modeRegular|0o644), a.Mode)

	w := h.call(request{FsRequest: abi.FsRequest{Op: abi.FsOpWrite, Handle: fh, Off: 3, Len: 5}}, []byte("hello"))
	assert.Equal(t, int64(5), w.result)
	assert.Equal(t, int64(8), w.aux)
	w = h.call(request{FsRequest: abi.FsRequest{Op: abi.FsOpWrite, Handle: fh, Len: 1, Flags: abi.FsFlagAppend}}, []byte("!"))
	assert.Equal(t, int64(9), w.aux, "append writes at the end")

	r := h.call(request{FsRequest: abi.FsRequest{Op: abi.FsOpRead, Handle: fh, Off: 0, Len: 100}}, nil)
	assert.Equal(t, "\x00\x00\x00hello!", string(r.data))
	assert.Equal(t, int64(9), r.result)
	r = h.call(request{FsRequest: abi.FsRequest{Op: abi.FsOpRead, Handle: fh, Off: 100, Len: 10}}, nil)
	assert.Equal(t, int64(0), r.result, "end of file")

	st := h.call(request{FsRequest: abi.FsRequest{Op: abi.FsOpFstat, Handle: fh}}, nil)
	assert.Equal(t, uint64(9), decodeAttr(st.data).Size)

	// Truncate by handle, then close: the handle is gone.
	assert.Zero(t, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpSetattr, Handle: fh, Flags: SetSize, Off: 2}}))
	st = h.call(request{FsRequest: abi.FsRequest{Op: abi.FsOpStat}, path: "d/f"}, nil)
	assert.Equal(t, uint64(2), decodeAttr(st.data).Size)
	assert.Zero(t, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpClose, Handle: fh}}))
	assert.Equal(t, syscall.EBADF, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpRead, Handle: fh, Len: 1}}))
	assert.Equal(t, syscall.EBADF, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpRead, Handle: 999, Len: 1}}), "unknown handle")

	// O_EXCL, O_TRUNC, O_DIRECTORY.
	assert.Equal(t, syscall.EEXIST, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpOpen, Flags: syscall.O_CREAT | syscall.O_EXCL | syscall.O_WRONLY}, path: "d/f"}))
	_, a = h.open("d/f", syscall.O_WRONLY|syscall.O_TRUNC)
	assert.Zero(t, a.Size)
	assert.Equal(t, syscall.ENOTDIR, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpOpen, Flags: syscall.O_DIRECTORY}, path: "d/f"}))
	assert.Equal(t, syscall.EISDIR, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpOpen, Flags: syscall.O_RDWR}, path: "d"}))
	assert.Equal(t, syscall.ENOENT, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpOpen}, path: "nope"}))
	assert.Equal(t, syscall.ENOTDIR, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpStat}, path: "d/f/x"}))
}

func TestServerNamesAndReaddir(t *testing.T) {
	h := newHarness(t, NewMemFS(), false)
	for _, n := range []string{"a", "b", "c"} {
		fh, _ := h.open(n, syscall.O_CREAT|syscall.O_WRONLY)
		h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpClose, Handle: fh}})
	}
	assert.Zero(t, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpRename}, path: "a", path2: "z"}))
	assert.Equal(t, syscall.EEXIST, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpRename, Flags: abi.FsFlagNoReplace}, path: "b", path2: "c"}))
	assert.Zero(t, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpUnlink}, path: "b"}))
	assert.Equal(t, syscall.ENOENT, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpUnlink}, path: "b"}))
	assert.Zero(t, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpLink}, path: "c", path2: "c2"}))
	assert.Zero(t, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpMkdir}, path: "dir"}))
	assert.Equal(t, syscall.EISDIR, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpUnlink}, path: "dir"}))
	assert.Equal(t, syscall.EEXIST, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpMkdir}, path: ""}), "the root exists")

	dh, _ := h.open("", syscall.O_RDONLY|syscall.O_DIRECTORY)
	var names []string
	cookie := int64(0)
	for {
		// A buffer for about one record: several calls to get them all.
		rep := h.call(request{FsRequest: abi.FsRequest{Op: abi.FsOpReaddir, Handle: dh, Off: cookie, Len: 32}}, nil)
		require.GreaterOrEqual(t, rep.result, int64(0))
		if rep.result == 0 {
			break
		}
		for b := rep.data; len(b) > 0; {
			reclen := binary.LittleEndian.Uint16(b[16:])
			name := b[19:reclen]
			for i, c := range name {
				if c == 0 {
					name = name[:i]
					break
				}
			}
			names = append(names, string(name))
			b = b[reclen:]
		}
		cookie = rep.aux
	}
	assert.Equal(t, []string{"c", "c2", "dir", "z"}, names)
	assert.Equal(t, syscall.EINVAL, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpReaddir, Handle: dh, Len: 8}}), "no record fits")
}

func TestServerSymlinksStayInside(t *testing.T) {
	m := NewMemFS()
	h := newHarness(t, m, false)
	require.Zero(t, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpMkdir}, path: "sub"}))
	fh, _ := h.open("secret", syscall.O_CREAT|syscall.O_WRONLY)
	h.call(request{FsRequest: abi.FsRequest{Op: abi.FsOpWrite, Handle: fh, Len: 6}}, []byte("inside"))
	links := map[string]string{
		"sub/up":    "../../../../secret", // ".." at the root stays there
		"sub/abs":   "/secret",            // absolute: from the mount's root
		"sub/etc":   "/etc/passwd",        // does not reach the guest's /etc
		"sub/loop":  "loop",
		"sub/dirup": "../..",
	}
	for l, target := range links {
		require.Zero(t, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpSymlink}, path: l, path2: target}))
	}
	for _, l := range []string{"sub/up", "sub/abs", "sub/dirup/secret"} {
		fh, a := h.open(l, syscall.O_RDONLY)
		assert.Equal(t, uint64(6), a.Size, l)
		r := h.call(request{FsRequest: abi.FsRequest{Op: abi.FsOpRead, Handle: fh, Len: 10}}, nil)
		assert.Equal(t, "inside", string(r.data), l)
	}
	assert.Equal(t, syscall.ENOENT, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpOpen}, path: "sub/etc"}))
	assert.Equal(t, syscall.ELOOP, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpOpen}, path: "sub/loop"}))
	assert.Equal(t, syscall.ELOOP, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpOpen, Flags: syscall.O_NOFOLLOW}, path: "sub/abs"}))
	rl := h.call(request{FsRequest: abi.FsRequest{Op: abi.FsOpReadlink, Len: 100}, path: "sub/up"}, nil)
	assert.Equal(t, "../../../../secret", string(rl.data))
	st := h.call(request{FsRequest: abi.FsRequest{Op: abi.FsOpStat, Flags: abi.FsFlagNofollow}, path: "sub/abs"}, nil)
	assert.Equal(t, uint32(modeSymlink), decodeAttr(st.data).Mode&modeType)
}

func TestServerReadOnly(t *testing.T) {
	m := NewMemFS()
	h := newHarness(t, m, true)
	assert.Equal(t, syscall.EROFS, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpOpen, Flags: syscall.O_CREAT | syscall.O_WRONLY}, path: "f"}))
	assert.Equal(t, syscall.EROFS, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpMkdir}, path: "d"}))
	assert.Equal(t, syscall.EROFS, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpUnlink}, path: "d"}))
	assert.Equal(t, syscall.EROFS, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpSetattr, Flags: SetMode}, path: ""}))
	dh, _ := h.open("", syscall.O_RDONLY)
	assert.Equal(t, syscall.EROFS, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpWrite, Handle: dh, Len: 1}}))
	assert.Equal(t, syscall.ENODEV, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpStat, Mount: 7}}), "unknown mount")
}

func TestParse(t *testing.T) {
	const hdr = int(unsafe.Sizeof(abi.FsRequest{}))
	rec := func(op uint32, p1, p2 string) []byte {
		size := (hdr + len(p1) + len(p2) + 7) &^ 7
		b := make([]byte, size)
		r := (*abi.FsRequest)(unsafe.Pointer(&b[0]))
		r.Size, r.Op, r.PathLen, r.Path2Len = uint32(size), op, uint16(len(p1)), uint16(len(p2))
		copy(b[hdr:], p1+p2)
		return b
	}
	b := append(rec(abi.FsOpRename, "a/b", "c"), rec(abi.FsOpStat, "xyz", "")...)
	rs := parse(b)
	require.Len(t, rs, 2)
	assert.Equal(t, "a/b", rs[0].path)
	assert.Equal(t, "c", rs[0].path2)
	assert.Equal(t, "xyz", rs[1].path)
	// Malformed: paths longer than the record, a size beyond the buffer.
	bad := rec(abi.FsOpStat, "abc", "")
	(*abi.FsRequest)(unsafe.Pointer(&bad[0])).PathLen = 200
	assert.Empty(t, parse(bad))
	bad = rec(abi.FsOpStat, "abc", "")
	(*abi.FsRequest)(unsafe.Pointer(&bad[0])).Size = 4096
	assert.Empty(t, parse(bad))
	assert.Empty(t, parse(bad[:10]))
}

// memDisk is a Device in memory.
type memDisk struct{ b []byte }

func (d *memDisk) ReadAt(p []byte, off int64) (int, error) {
	if off%SectorSize != 0 || len(p)%SectorSize != 0 {
		panic("unaligned read")
	}
	return copy(p, d.b[off:]), nil
}
func (d *memDisk) WriteAt(p []byte, off int64) (int, error) {
	if off%SectorSize != 0 || len(p)%SectorSize != 0 {
		panic("unaligned write")
	}
	return copy(d.b[off:], p), nil
}
func (d *memDisk) Size() int64  { return int64(len(d.b)) }
func (d *memDisk) Flush() error { return nil }

func TestServeDevice(t *testing.T) {
	d := &memDisk{b: make([]byte, 8*SectorSize)}
	h := newHarness(t, newDeviceFS(d, false), false)
	fh, a := h.open("", syscall.O_RDWR)
	assert.Equal(t, uint32(modeBlock), a.Mode&modeType)
	assert.Equal(t, uint64(len(d.b)), a.Size)
	assert.NotZero(t, a.Rdev)
	w := h.call(request{FsRequest: abi.FsRequest{Op: abi.FsOpWrite, Handle: fh, Off: 510, Len: 4}}, []byte("ABCD"))
	assert.Equal(t, int64(4), w.result)
	assert.Equal(t, "ABCD", string(d.b[510:514]))
	w = h.call(request{FsRequest: abi.FsRequest{Op: abi.FsOpWrite, Handle: fh, Off: int64(len(d.b)) - 2, Len: 4}}, []byte("WXYZ"))
	assert.Equal(t, int64(2), w.result, "cut at the end")
	assert.Equal(t, syscall.ENOSPC, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpWrite, Handle: fh, Off: int64(len(d.b)), Len: 1}}))
	r := h.call(request{FsRequest: abi.FsRequest{Op: abi.FsOpRead, Handle: fh, Off: 509, Len: 6}}, nil)
	assert.Equal(t, "\x00ABCD\x00", string(r.data))
	r = h.call(request{FsRequest: abi.FsRequest{Op: abi.FsOpRead, Handle: fh, Off: int64(len(d.b)) - 1, Len: 100}}, nil)
	assert.Equal(t, "X", string(r.data))
	assert.Zero(t, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpFsync, Handle: fh}}))
	assert.Equal(t, syscall.ENOTDIR, h.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpStat}, path: "x"}))

	ro := newHarness(t, newDeviceFS(d, true), true)
	assert.Equal(t, syscall.EROFS, ro.errno(request{FsRequest: abi.FsRequest{Op: abi.FsOpOpen, Flags: syscall.O_RDWR}}))
}

// TestServerConcurrent serves many requests at once, as the reader's
// goroutines do: each goroutine creates, writes, reads back and closes
// its own file while others do the same.
func TestServerConcurrent(t *testing.T) {
	k := &fakeKernel{writes: map[uint64][]byte{}, replies: map[uint64]reply{}}
	s := newServer(k)
	s.addMount(0, NewMemFS(), false)
	var next uint64
	var mu sync.Mutex
	call := func(r request, write []byte) reply {
		mu.Lock()
		next++
		r.ID = next
		k.mu.Lock()
		k.writes[r.ID] = write
		k.mu.Unlock()
		mu.Unlock()
		s.handle(&r)
		k.mu.Lock()
		defer k.mu.Unlock()
		return k.replies[r.ID]
	}
	var wg sync.WaitGroup
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := string(rune('a'+g%26)) + string(rune('0'+g/26))
			data := bytes.Repeat([]byte{byte(g)}, 1000+g)
			for i := 0; i < 20; i++ {
				o := call(request{FsRequest: abi.FsRequest{Op: abi.FsOpOpen, Flags: syscall.O_CREAT | syscall.O_RDWR | syscall.O_TRUNC, Mode: 0o644}, path: name}, nil)
				if !assert.Greater(t, o.result, int64(0)) {
					return
				}
				h := uint64(o.result)
				w := call(request{FsRequest: abi.FsRequest{Op: abi.FsOpWrite, Handle: h, Len: uint64(len(data))}}, data)
				assert.Equal(t, int64(len(data)), w.result)
				r := call(request{FsRequest: abi.FsRequest{Op: abi.FsOpRead, Handle: h, Len: 4096}}, nil)
				assert.Equal(t, data, r.data)
				call(request{FsRequest: abi.FsRequest{Op: abi.FsOpClose, Handle: h}}, nil)
			}
		}()
	}
	wg.Wait()
	s.mu.Lock()
	assert.Empty(t, s.handles, "every handle closed")
	s.mu.Unlock()
}
