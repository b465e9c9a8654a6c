package netstack

import (
	"io"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/tcpip"
)

// writeEP is an endpoint whose Write takes up to room bytes; every other
// method is the nil embedded interface's (a test calling one panics).
type writeEP struct {
	tcpip.Endpoint
	room   int
	got    []byte
	writes []int // the size of each write the endpoint was offered
}

func (e *writeEP) Write(r tcpip.Payloader, _ tcpip.WriteOptions) (int64, tcpip.Error) {
	if e.room == 0 {
		return 0, &tcpip.ErrWouldBlock{}
	}
	e.writes = append(e.writes, r.Len())
	b := make([]byte, min(e.room, r.Len()))
	n, _ := io.ReadFull(r, b)
	e.room -= n
	e.got = append(e.got, b[:n]...)
	return int64(n), nil
}

// fakeKernel stands in for SysNetTx: a queue of bytes the program sent.
type fakeKernel struct {
	queued []byte
	pulls  int
}

func (k *fakeKernel) pull(_ uint64, p []byte, _ *sockaddrBuf) (int, syscall.Errno) {
	k.pulls++
	n := copy(p, k.queued)
	k.queued = k.queued[n:]
	return n, 0
}

func withKernel(t *testing.T, k *fakeKernel) {
	old := pullTx
	pullTx = k.pull
	t.Cleanup(func() { pullTx = old })
}

// TestTxPumpPullsOnlyWhenTold: a stream socket pulls from the kernel when
// NetEvTx said the program sent something (or a pull filled the buffer),
// not on every endpoint event: a short pull took all there was.
func TestTxPumpPullsOnlyWhenTold(t *testing.T) {
	k := &fakeKernel{queued: []byte("HTTP/1.1 200 OK\r\n\r\nhello")}
	withKernel(t, k)
	ep := &writeEP{room: 1 << 20}
	s := &socket{typ: syscall.SOCK_STREAM, ep: ep, txMore: true}

	s.txPump()
	require.Equal(t, "HTTP/1.1 200 OK\r\n\r\nhello", string(ep.got))
	require.Equal(t, 1, k.pulls, "a short pull is the last")
	require.False(t, s.txMore)
	require.Nil(t, s.txBuf, "buffer returned to the pool")

	s.txPump() // an endpoint event (an ACK): nothing to pull
	require.Equal(t, 1, k.pulls)

	k.queued = []byte("more")
	s.txMore = true // run() on NetEvTx
	s.txPump()
	require.Equal(t, 2, k.pulls)
	require.Equal(t, "HTTP/1.1 200 OK\r\n\r\nhellomore", string(ep.got))

	// Empty despite NetEvTx (the bytes went with an earlier pull): one
	// pull finds nothing and clears txMore.
	s.txMore = true
	s.txPump()
	require.Equal(t, 3, k.pulls)
	require.False(t, s.txMore)
}

// TestTxPumpFullBufferAndFullEndpoint: a pull that fills the buffer may
// have left bytes in the kernel, so txPump pulls again, and after the
// endpoint was full it resumes with what it holds, then pulls the rest.
func TestTxPumpFullBufferAndFullEndpoint(t *testing.T) {
	data := make([]byte, 2*bufSize+1000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	k := &fakeKernel{queued: data}
	withKernel(t, k)
	ep := &writeEP{room: 3000}
	s := &socket{typ: syscall.SOCK_STREAM, ep: ep, txMore: true}

	s.txPump()
	require.Equal(t, 2, k.pulls, "a full small pull goes on into a large buffer")
	require.Len(t, s.txPending, bufSize-3000, "held until the endpoint has room")
	require.True(t, s.txMore, "a full pull may have left more")

	ep.room = 1 << 20 // EventOut
	s.txPump()
	require.Equal(t, data, ep.got)
	require.Equal(t, 4, k.pulls, "then a full large pull and the rest in a short one")
	require.False(t, s.txMore)
}

// TestTxPumpBufferSizeFollowsTheSender: a stream socket holds a small
// scratch buffer while it sends a little at a time, a large one once a
// pull fills the small one, and a small one again when the kernel holds
// less than that; whichever it took goes back to the pool after the pump.
func TestTxPumpBufferSizeFollowsTheSender(t *testing.T) {
	k := &fakeKernel{}
	withKernel(t, k)
	var sizes []int
	pullTx = func(id uint64, p []byte, to *sockaddrBuf) (int, syscall.Errno) {
		sizes = append(sizes, len(p))
		return k.pull(id, p, to)
	}
	ep := &writeEP{room: 1 << 30}
	s := &socket{typ: syscall.SOCK_STREAM, ep: ep}
	send := func(n int) {
		k.queued = make([]byte, n)
		s.txMore = true
		s.txPump()
		require.Nil(t, s.txBuf, "buffer returned to the pool")
	}

	send(200)
	require.Equal(t, []int{smallBufSize}, sizes)
	require.False(t, s.txBig)

	sizes = nil
	send(3*bufSize - 100)
	require.Equal(t, []int{smallBufSize, bufSize - smallBufSize, bufSize, bufSize}, sizes,
		"a small pull, the rest of a large buffer after it, then large ones")
	require.True(t, s.txBig)
	require.Equal(t, []int{bufSize, bufSize, bufSize - 100}, ep.writes[1:], "the endpoint took large writes")

	sizes = nil
	send(bufSize / 2) // still sending in bulk: starts large
	require.Equal(t, []int{bufSize}, sizes)
	require.True(t, s.txBig)

	sizes = nil
	send(100) // small again
	require.Equal(t, []int{bufSize}, sizes)
	require.False(t, s.txBig)
	sizes = nil
	send(100)
	require.Equal(t, []int{smallBufSize}, sizes)
	require.Equal(t, 200+3*bufSize-100+bufSize/2+100+100, len(ep.got))
}

// TestTxPumpDatagramGetsLargeBuffer: a datagram is pulled whole, so a
// datagram socket always pulls into bufSize.
func TestTxPumpDatagramGetsLargeBuffer(t *testing.T) {
	var sizes []int
	pullTx = func(_ uint64, p []byte, _ *sockaddrBuf) (int, syscall.Errno) {
		sizes = append(sizes, len(p))
		return 0, 0
	}
	t.Cleanup(func() { pullTx = netTx })
	s := &socket{typ: syscall.SOCK_DGRAM, txMore: true}
	s.txPump()
	require.Equal(t, []int{bufSize}, sizes)
	require.Nil(t, s.txBuf)
}

// sinkEP is an endpoint whose Write takes everything into a fixed
// buffer, so that it allocates nothing itself.
type sinkEP struct {
	tcpip.Endpoint
	buf [smallBufSize]byte
}

func (e *sinkEP) Write(r tcpip.Payloader, _ tcpip.WriteOptions) (int64, tcpip.Error) {
	n, _ := io.ReadFull(r, e.buf[:min(r.Len(), len(e.buf))])
	return int64(n), nil
}

// TestTxPumpAllocatesNothing: moving a response from the kernel into the
// endpoint costs no heap allocation of ours (the scratch buffer comes
// from a pool, the reader the endpoint reads is the socket's), so a busy
// server's send path adds no garbage per write.
func TestTxPumpAllocatesNothing(t *testing.T) {
	msg := []byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
	pullTx = func(_ uint64, p []byte, _ *sockaddrBuf) (int, syscall.Errno) {
		return copy(p, msg), 0
	}
	t.Cleanup(func() { pullTx = netTx })
	s := &socket{typ: syscall.SOCK_STREAM, ep: &sinkEP{}}
	allocs := testing.AllocsPerRun(100, func() {
		s.txMore = true
		s.txPump()
	})
	require.Zero(t, allocs)
}
