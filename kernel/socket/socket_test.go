package socket

import (
	"os"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/unigo-os/unigo/kernel/idtable"
	"github.com/unigo-os/unigo/kernel/kmem"

	_ "github.com/unigo-os/unigo/kernel/internal/linkstub" // rt's entry points
)

// TestMain gives kmem an arena outside the Go heap, as physical memory
// would be, for the socket rings.
func TestMain(m *testing.M) {
	const arena = 16 << 20
	b, err := unix.Mmap(-1, 0, arena, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		os.Stderr.WriteString("socket test: mmap arena: " + err.Error() + "\n")
		os.Exit(2)
	}
	kmem.AddRange(uintptr(unsafe.Pointer(&b[0])), arena)
	os.Exit(m.Run())
}

// TestSockRing checks a socket's byte ring: allocated on first put, FIFO
// across the wrap, full at sockBufSize, peek leaves the bytes, and the
// buffer goes back to kmem once drained.
func TestSockRing(t *testing.T) {
	var r sring
	assert.Zero(t, r.get(make([]byte, 8), false), "empty")
	chunk := make([]byte, sockBufSize-100)
	for i := range chunk {
		chunk[i] = byte(i)
	}
	require.Equal(t, len(chunk), r.put(chunk))
	require.NotZero(t, r.buf)
	got := make([]byte, len(chunk))
	require.Equal(t, len(chunk), r.get(got, false))
	assert.Equal(t, chunk, got)
	assert.Zero(t, r.buf, "drained ring releases its buffer")

	// Wrap: start near the end of the buffer.
	require.Equal(t, 200, r.put(chunk[:200]))
	r.head = uint32(sockBufSize - 50)
	full := make([]byte, sockBufSize)
	require.Equal(t, sockBufSize-200, r.put(full[200:]))
	assert.Zero(t, r.room())
	assert.Zero(t, r.put([]byte{1}), "full")
	peek := make([]byte, 10)
	require.Equal(t, 10, r.get(peek, true))
	assert.Equal(t, uint32(sockBufSize), r.count, "peek keeps the bytes")
	r.release()
	assert.Zero(t, r.count)
}

func unixAddr(name string) *sockaddr {
	a := &sockaddr{n: uint32(2 + len(name))}
	a.b[0] = afUnix
	copy(a.b[2:], name)
	return a
}

// TestUnixNames checks how AF_UNIX names compare: a path up to its NUL,
// an abstract name (leading NUL) by its whole length, unnamed never.
func TestUnixNames(t *testing.T) {
	assert.Equal(t, 6, unixNameLen(unixAddr("/tmp\x00junk")))
	assert.Equal(t, 2+len("\x00abs"), unixNameLen(unixAddr("\x00abs")))
	assert.True(t, unixSameName(unixAddr("/run/s"), unixAddr("/run/s\x00")))
	assert.False(t, unixSameName(unixAddr("/run/s"), unixAddr("/run/t")))
	assert.False(t, unixSameName(unixAddr("\x00a"), unixAddr("\x00a\x00")), "abstract names count every byte")
	assert.False(t, unixSameName(unixAddr(""), unixAddr("")), "unnamed sockets have no name to share")
}

// TestSockoptValues checks SO_SNDBUF/SO_RCVBUF's clamping and doubling,
// as Linux reports them back.
func TestSockoptValues(t *testing.T) {
	assert.Equal(t, int32(2*2304), clampBuf(1))
	assert.Equal(t, int32(2*65536), clampBuf(65536))
	assert.Equal(t, int32(2*(4<<20)), clampBuf(1<<30))
	assert.Equal(t, int32(7), orDefault(0, 7))
	assert.Equal(t, int32(3), orDefault(3, 7))
}

// TestNetIDs checks the ids inet sockets are known to the netstack by:
// a lookup finds the registered sock, and an id from before the slot was
// reused is refused.
func TestNetIDs(t *testing.T) {
	p := newSock(afInet, sockStream, 0)
	require.NotZero(t, p)
	require.True(t, netRegister(p))
	id := sk(p).id
	require.NotZero(t, id)
	assert.Equal(t, p, netLookup(id))
	idtable.Free(netIDs[:], id) // the netstack releases it
	assert.Zero(t, netLookup(id), "stale id")
	assert.Zero(t, netLookup(maxNetSocks), "out of range")
}

var listened int

// TestListeningHook checks that listen reaches the hook the kernel
// installs, and does without one.
func TestListeningHook(t *testing.T) {
	SetHooks(nil)
	listeningHook(3)
	assert.Zero(t, listened)
	SetHooks(func(fd int) { listened = fd })
	defer SetHooks(nil)
	listeningHook(4)
	assert.Equal(t, 4, listened)
}

// TestInetCloseFreesRxRing: once the program closes an inet stream
// socket, bytes it never read are freed at once, not kept while the
// netstack still holds the socket (until the peer has acknowledged the
// FIN, for up to abi.ExitLinger or longer).
func TestInetCloseFreesRxRing(t *testing.T) {
	p := newSock(afInet, sockStream, 0)
	require.NotZero(t, p)
	require.True(t, netRegister(p))
	s := sk(p)
	s.state = ssConnected
	require.Equal(t, 100, s.rx.put(make([]byte, 100)))
	require.NotZero(t, s.rx.buf)
	sockCloseLocked(p)
	assert.Zero(t, s.rx.buf, "unread bytes freed at close")
	assert.Zero(t, s.rx.count)
	assert.NotZero(t, s.pend&npClose, "the netstack is told")
	for netDirtyHd != 0 { // leave the channel's queue as it was
		netDirtyHd = sk(netDirtyHd).dirty
	}
	netDirtyTl = 0
	idtable.Free(netIDs[:], s.id)
	netLive--
	sockPut(p)
}
