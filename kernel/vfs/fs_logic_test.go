package vfs

import (
	"bytes"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/mm"
)

// TestRing checks the pipe ring against a plain FIFO model through many
// wrap-arounds with uneven put and get sizes.
func TestRing(t *testing.T) {
	ring := make([]byte, 64)
	var model []byte
	head, count := 0, 0
	next := byte(0)
	for i := 0; i < 2000; i++ {
		in := make([]byte, (i*7)%50)
		for j := range in {
			in[j] = next
			next++
		}
		n := RingPut(ring, head, count, in)
		want := len(ring) - count
		if want > len(in) {
			want = len(in)
		}
		require.Equal(t, want, n, "put %d", i)
		count += n
		model = append(model, in[:n]...)
		next -= byte(len(in) - n) // unwritten bytes are offered again

		out := make([]byte, (i*13)%41)
		got, h := RingGet(ring, head, count, out)
		wantGot := min(len(out), count)
		require.Equal(t, wantGot, got, "get %d", i)
		require.True(t, bytes.Equal(out[:got], model[:got]), "get %d content", i)
		model = model[got:]
		head, count = h, count-got
		require.Equal(t, len(model), count)
	}
}

func TestRingFullAndEmpty(t *testing.T) {
	ring := make([]byte, 8)
	assert.Equal(t, 8, RingPut(ring, 5, 0, []byte("abcdefghij")))
	assert.Equal(t, 0, RingPut(ring, 5, 8, []byte("x")))
	out := make([]byte, 16)
	n, h := RingGet(ring, 5, 8, out)
	assert.Equal(t, 8, n)
	assert.Equal(t, 5, h)
	assert.Equal(t, "abcdefgh", string(out[:n]))
	n, h = RingGet(ring, 5, 0, out)
	assert.Equal(t, 0, n)
	assert.Equal(t, 5, h)
}

// fakeUser is a user address space for copyCString: mem starts at base,
// and pages listed in bad are unreadable.
type fakeUser struct {
	base uintptr
	mem  []byte
	bad  map[uintptr]bool
}

var cur *fakeUser

func fakeOK(addr, n uintptr) bool {
	if addr < cur.base || addr+n > cur.base+uintptr(len(cur.mem)) {
		return false
	}
	for p := addr &^ (mm.PageSize - 1); p < addr+n; p += mm.PageSize {
		if cur.bad[p] {
			return false
		}
	}
	return true
}

func fakeView(addr uintptr, n int) []byte {
	off := addr - cur.base
	return cur.mem[off : off+uintptr(n)]
}

func newFakeUser(t *testing.T, size int) *fakeUser {
	// A page-aligned base makes page boundaries fall where the test
	// expects them; the address itself is never dereferenced.
	u := &fakeUser{base: 0x10000, mem: make([]byte, size), bad: map[uintptr]bool{}}
	cur = u
	t.Cleanup(func() { cur = nil })
	return u
}

func TestCopyCString(t *testing.T) {
	u := newFakeUser(t, 4*mm.PageSize)
	dst := make([]byte, 4096)

	// A string crossing a page boundary.
	s := "/tmp/a/long/path"
	addr := u.base + mm.PageSize - 5
	copy(u.mem[addr-u.base:], s+"\x00")
	n, err := copyCString(dst, addr, fakeOK, fakeView)
	require.Zero(t, err)
	assert.Equal(t, s, string(dst[:n]))

	// Empty string.
	u.mem[0] = 0
	n, err = copyCString(dst, u.base, fakeOK, fakeView)
	require.Zero(t, err)
	assert.Equal(t, 0, n)

	// No NUL within PATH_MAX.
	for i := range u.mem[:2*mm.PageSize] {
		u.mem[i] = 'x'
	}
	_, err = copyCString(dst, u.base, fakeOK, fakeView)
	assert.Equal(t, int64(-abi.ENAMETOOLONG), err)

	// Exactly PATH_MAX-1 bytes plus NUL fits.
	u.mem[4095] = 0
	n, err = copyCString(dst, u.base, fakeOK, fakeView)
	require.Zero(t, err)
	assert.Equal(t, 4095, n)

	// The string runs into an unreadable page: EFAULT, and the page is
	// never viewed.
	u.mem[4095] = 'x'
	u.mem[mm.PageSize+10] = 0
	u.bad[u.base+mm.PageSize] = true
	_, err = copyCString(dst, u.base+100, fakeOK, fakeView)
	assert.Equal(t, int64(-abi.EFAULT), err)

	// But a string that ends before it is fine.
	u.mem[200] = 0
	n, err = copyCString(dst, u.base+100, fakeOK, fakeView)
	require.Zero(t, err)
	assert.Equal(t, 100, n)

	// Address wrap-around.
	_, err = copyCString(dst, ^uintptr(0)-2, fakeOK, fakeView)
	assert.Equal(t, int64(-abi.EFAULT), err)
}

func TestCopyCStringAllocs(t *testing.T) {
	u := newFakeUser(t, mm.PageSize)
	copy(u.mem, "/etc/hosts\x00")
	dst := make([]byte, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		copyCString(dst, u.base, fakeOK, fakeView)
	})
	assert.Zero(t, allocs)
}

func TestUtimeValue(t *testing.T) {
	assert.Equal(t, int64(42), utimeValue(0, utimeNow, 42))
	assert.Equal(t, int64(-1), utimeValue(0, utimeOmit, 42))
	assert.Equal(t, int64(-2), utimeValue(0, 1e9, 42))
	assert.Equal(t, int64(3e9+5), utimeValue(3, 5, 42))
}

// TestKernelStructSizes pins the layouts user space sees or that live in
// fixed-size kmem blocks.
func TestKernelStructSizes(t *testing.T) {
	assert.Equal(t, uintptr(32), unsafe.Sizeof(OFile{}))
	assert.LessOrEqual(t, unsafe.Sizeof(epitem{}), uintptr(64))
	assert.Equal(t, 12, epollEventSize)
}
