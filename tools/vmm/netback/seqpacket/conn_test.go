package seqpacket

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// pair is a non-blocking SOCK_SEQPACKET socketpair, as the launcher and
// its network process share.
func pair(t *testing.T) (a, b *os.File) {
	a, b, err := Pair("a", "b")
	require.NoError(t, err)
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// setBuf sets f's socket buffer opt (SO_SNDBUF, SO_RCVBUF) to n bytes,
// leaving f non-blocking (Fd would not).
func setBuf(t *testing.T, f *os.File, opt, n int) {
	rc, err := f.SyscallConn()
	require.NoError(t, err)
	var serr error
	require.NoError(t, rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt, n) }))
	require.NoError(t, serr)
}

func msg(i, size int) []byte { return bytes.Repeat([]byte{byte(i)}, size) }

// TestOrderAndBoundaries: messages of every size up to the slot come out
// one per Read, in order, a burst of them from one recvmmsg.
func TestOrderAndBoundaries(t *testing.T) {
	a, b := pair(t)
	c, err := New(b, 4, 64<<10)
	require.NoError(t, err)
	sizes := []int{1, 14, 60, 1514, 9000, 64 << 10, 3, 1500, 2, 65000}
	for i, s := range sizes {
		_, err := a.Write(msg(i, s))
		require.NoError(t, err)
	}
	buf := make([]byte, 64<<10)
	for i, s := range sizes {
		n, err := c.Read(buf)
		require.NoError(t, err)
		require.Equal(t, s, n, "message %d", i)
		require.Equal(t, msg(i, s), buf[:n], "message %d", i)
		if i == 0 {
			assert.Equal(t, 3, c.Buffered(), "the first recvmmsg took a batch")
		}
	}
	assert.Equal(t, 0, c.Buffered())
}

// TestCut: a message longer than the slot or than Read's buffer is cut,
// as read(2) cuts it, and the next one is whole.
func TestCut(t *testing.T) {
	a, b := pair(t)
	c, err := New(b, 2, 100)
	require.NoError(t, err)
	for i, s := range []int{300, 50, 80} {
		_, err := a.Write(msg(i, s))
		require.NoError(t, err)
	}
	buf := make([]byte, 1000)
	n, err := c.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, msg(0, 100), buf[:n])
	n, err = c.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, msg(1, 50), buf[:n])
	n, err = c.Read(buf[:10])
	require.NoError(t, err)
	assert.Equal(t, msg(2, 10), buf[:n])
}

// TestEOF: the peer's close reads as io.EOF after the messages it sent,
// and stays so.
func TestEOF(t *testing.T) {
	a, b := pair(t)
	c, err := New(b, 8, 2048)
	require.NoError(t, err)
	_, err = a.Write([]byte("last"))
	require.NoError(t, err)
	a.Close()
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "last", string(buf[:n]))
	for range 3 {
		_, err = c.Read(buf)
		assert.ErrorIs(t, err, io.EOF)
	}
}

// TestBlockingRead: Read waits for a message, and Close ends a waiting
// Read with an error.
func TestBlockingRead(t *testing.T) {
	a, b := pair(t)
	c, err := New(b, 8, 2048)
	require.NoError(t, err)
	got := make(chan error, 1)
	go func() {
		buf := make([]byte, 2048)
		n, err := c.Read(buf)
		if err == nil && string(buf[:n]) != "late" {
			err = errors.New("wrong message " + string(buf[:n]))
		}
		got <- err
		_, err = c.Read(buf)
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	_, err = a.Write([]byte("late"))
	require.NoError(t, err)
	require.NoError(t, <-got)
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, c.Close())
	select {
	case err := <-got:
		assert.ErrorContains(t, err, "closed")
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the blocked Read")
	}
}

// TestBackPressure: a writer whose peer does not read waits (here until
// its deadline) instead of losing messages; what it sent all arrives.
func TestBackPressure(t *testing.T) {
	a, b := pair(t)
	w, err := New(a, 1, 16)
	require.NoError(t, err)
	r, err := New(b, 16, 2048)
	require.NoError(t, err)
	require.NoError(t, a.SetWriteDeadline(time.Now().Add(200*time.Millisecond)))
	sent := 0
	for {
		if _, err := w.Write(msg(sent, 1000)); err != nil {
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			break
		}
		sent++
	}
	require.Greater(t, sent, 0)
	buf := make([]byte, 2048)
	for i := range sent {
		n, err := r.Read(buf)
		require.NoError(t, err)
		require.Equal(t, msg(i, 1000), buf[:n])
	}
	assert.Equal(t, 0, r.Buffered())
	_, err = w.Write(nil)
	assert.Error(t, err, "an empty message")
	_, err = New(a, 0, 1)
	assert.Error(t, err)
}

// TestQueueFlush: queued messages arrive in order with their boundaries
// after Flush, a full batch flushes itself, Write sends after the queue,
// and a message beyond the slot is refused.
func TestQueueFlush(t *testing.T) {
	a, b := pair(t)
	for _, f := range []*os.File{a, b} { // room for all of it, as Spawn makes
		setBuf(t, f, unix.SO_SNDBUF, 4<<20)
		setBuf(t, f, unix.SO_RCVBUF, 4<<20)
	}
	w, err := New(a, 4, 64<<10)
	require.NoError(t, err)
	r, err := New(b, 16, 64<<10)
	require.NoError(t, err)
	sizes := []int{60, 1514, 64 << 10, 14, 7, 65000, 65000, 65000, 65000, 1}
	for i, s := range sizes {
		require.NoError(t, w.Queue(msg(i, s)))
	}
	assert.Less(t, w.Queued(), len(sizes), "full batches went out")
	_, err = w.Write(msg(len(sizes), 99))
	require.NoError(t, err)
	assert.Equal(t, 0, w.Queued())
	sizes = append(sizes, 99)
	buf := make([]byte, 64<<10)
	for i, s := range sizes {
		n, err := r.Read(buf)
		require.NoError(t, err)
		require.Equal(t, msg(i, s), buf[:n], "message %d", i)
	}
	require.Error(t, w.Queue(msg(0, 64<<10+1)))
	require.Error(t, w.Queue(nil))
	require.NoError(t, w.Flush(), "an empty batch")
}

// TestFlushBackPressure: Flush waits while the peer's buffer is full and
// sends everything once the peer reads; nothing is lost.
func TestFlushBackPressure(t *testing.T) {
	a, b := pair(t)
	setBuf(t, a, unix.SO_SNDBUF, 4096)
	w, err := New(a, 8, 2048)
	require.NoError(t, err)
	r, err := New(b, 8, 2048)
	require.NoError(t, err)
	const total = 2000
	done := make(chan error, 1)
	go func() {
		for i := range total {
			if err := w.Queue(msg(i, 1000)); err != nil {
				done <- err
				return
			}
		}
		done <- w.Flush()
	}()
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("the writer finished (%v) though nothing was read", err)
	default:
	}
	buf := make([]byte, 2048)
	for i := range total {
		n, err := r.Read(buf)
		require.NoError(t, err)
		require.Equal(t, msg(i, 1000), buf[:n], "message %d", i)
	}
	require.NoError(t, <-done)
}

// TestFlushClosedPeer: a peer gone fails Flush, and the batch is
// dropped, not kept to grow.
func TestFlushClosedPeer(t *testing.T) {
	a, b := pair(t)
	w, err := New(a, 8, 2048)
	require.NoError(t, err)
	require.NoError(t, w.Queue([]byte("x")))
	b.Close()
	assert.Error(t, w.Flush())
	assert.Equal(t, 0, w.Queued())
}
