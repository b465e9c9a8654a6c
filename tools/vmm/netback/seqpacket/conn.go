package seqpacket

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Conn is a SOCK_SEQPACKET socket read a batch of messages at a time.
type Conn struct {
	f  *os.File
	rc syscall.RawConn

	slot int            // bytes per message buffer
	buf  []byte         // len(hdrs) slots of slot bytes
	iovs []unix.Iovec   // one per slot
	hdrs []unix.Mmsghdr // one per slot; Len is the message's length
	next int            // the first message of hdrs[:n] not yet returned
	n    int            // messages the last recvmmsg took
	err  error          // sticky: EOF or the socket's error

	out     []byte         // queued messages, back to back
	outIovs []unix.Iovec   // one per queued message
	outHdrs []unix.Mmsghdr // one per queued message
}

// New takes over f, a non-blocking SOCK_SEQPACKET socket, and reads up
// to batch messages of up to slot bytes each per system call (a longer
// message is cut to slot bytes, as read(2) cuts it to its buffer). The
// buffers are batch*slot bytes, touched only as far as messages fill
// them.
func New(f *os.File, batch, slot int) (*Conn, error) {
	if batch < 1 || slot < 1 {
		return nil, fmt.Errorf("seqpacket: batch %d, slot %d: want both positive", batch, slot)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("seqpacket: %w", err)
	}
	c := &Conn{f: f, rc: rc, slot: slot, buf: make([]byte, batch*slot),
		iovs: make([]unix.Iovec, batch), hdrs: make([]unix.Mmsghdr, batch)}
	for i := range c.hdrs {
		c.iovs[i].Base = &c.buf[i*slot]
		c.iovs[i].SetLen(slot)
		c.hdrs[i].Hdr.Iov = &c.iovs[i]
		c.hdrs[i].Hdr.SetIovlen(1)
	}
	return c, nil
}

// File is the socket.
func (c *Conn) File() *os.File { return c.f }

// Buffered is how many messages the last batch holds that Read has not
// returned yet.
func (c *Conn) Buffered() int { return c.n - c.next }

// Read copies the next message into b (cut to len(b)) and returns its
// length; it blocks until one arrives. It returns io.EOF once the peer
// has closed its end, and the socket's error if it fails (a "use of
// closed file" error after Close).
func (c *Conn) Read(b []byte) (int, error) {
	if c.next == c.n {
		if c.err != nil {
			return 0, c.err
		}
		if err := c.fill(); err != nil {
			c.err = err
			return 0, err
		}
	}
	m := c.buf[c.next*c.slot:][:c.hdrs[c.next].Len]
	c.next++
	if len(m) == 0 {
		// The peer closed: what follows is more of the same.
		c.next, c.n, c.err = 0, 0, io.EOF
		return 0, io.EOF
	}
	return copy(b, m), nil
}

// fill takes the waiting messages, at least one, into the buffers.
func (c *Conn) fill() error {
	n, err := mmsg(c.rc.Read, unix.SYS_RECVMMSG, "recvmmsg", c.hdrs)
	switch {
	case err != nil:
		return err
	case n == 0:
		return io.EOF
	}
	c.next, c.n = 0, n
	return nil
}

// mmsg makes one recvmmsg or sendmmsg (trap, named name) over hdrs
// without blocking a thread: wait is c.rc.Read or c.rc.Write, which parks
// the goroutine in Go's poller while the call would block. It returns how
// many messages moved.
func mmsg(wait func(func(uintptr) bool) error, trap uintptr, name string, hdrs []unix.Mmsghdr) (int, error) {
	var n int
	var errno syscall.Errno
	err := wait(func(fd uintptr) bool {
		for {
			r, _, e := unix.Syscall6(trap, fd, uintptr(unsafe.Pointer(&hdrs[0])), uintptr(len(hdrs)),
				unix.MSG_DONTWAIT, 0, 0)
			switch e {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false // wait until ready
			}
			n, errno = int(r), e
			return true
		}
	})
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, os.NewSyscallError(name, errno)
	}
	return n, nil
}

// errEmpty refuses an empty message, which the peer would read as EOF.
var errEmpty = errors.New("seqpacket: an empty message would read as the end")

// Write sends b as one message, after those queued (Queue).
func (c *Conn) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, errEmpty
	}
	if len(c.outHdrs) > 0 {
		if err := c.Flush(); err != nil {
			return 0, err
		}
	}
	return c.f.Write(b)
}

// maxQueued bounds the send batch's bytes, beyond one slot.
const maxQueued = 256 << 10

// Queue copies b into the send batch, which Flush sends with one
// sendmmsg; it flushes first when b does not fit. The batch holds up to
// batch messages (New's) and maxQueued bytes or one slot, whichever is
// more; b is at most slot bytes.
// Queue, Flush and Write are for one goroutine.
func (c *Conn) Queue(b []byte) error {
	switch {
	case len(b) == 0:
		return errEmpty
	case len(b) > c.slot:
		return fmt.Errorf("seqpacket: a %d-byte message exceeds the %d-byte slot", len(b), c.slot)
	}
	if c.out == nil {
		n := len(c.hdrs)
		c.out = make([]byte, 0, max(c.slot, min(n*c.slot, maxQueued)))
		c.outIovs = make([]unix.Iovec, 0, n)
		c.outHdrs = make([]unix.Mmsghdr, 0, n)
	}
	if len(c.outHdrs) == cap(c.outHdrs) || len(c.out)+len(b) > cap(c.out) {
		if err := c.Flush(); err != nil {
			return err
		}
	}
	at := len(c.out)
	c.out = append(c.out, b...)
	c.outIovs = append(c.outIovs, unix.Iovec{Base: &c.out[at]})
	c.outIovs[len(c.outIovs)-1].SetLen(len(b))
	c.outHdrs = append(c.outHdrs, unix.Mmsghdr{})
	return nil
}

// Queued is how many messages wait in the send batch.
func (c *Conn) Queued() int { return len(c.outHdrs) }

// Flush sends the queued messages, as many per sendmmsg as the socket
// takes, waiting while it is full; the batch is empty afterwards, sent
// or, on an error, dropped.
func (c *Conn) Flush() error {
	defer func() {
		c.out, c.outIovs, c.outHdrs = c.out[:0], c.outIovs[:0], c.outHdrs[:0]
	}()
	for i := range c.outHdrs {
		c.outHdrs[i].Hdr.Iov = &c.outIovs[i]
		c.outHdrs[i].Hdr.SetIovlen(1)
	}
	for sent := 0; sent < len(c.outHdrs); {
		n, err := mmsg(c.rc.Write, unix.SYS_SENDMMSG, "sendmmsg", c.outHdrs[sent:])
		switch {
		case err != nil:
			return err
		case n == 0:
			return errors.New("seqpacket: sendmmsg sent nothing")
		}
		sent += n
	}
	return nil
}

// Close closes the socket; a blocked Read returns an error.
func (c *Conn) Close() error { return c.f.Close() }

// Pair makes a connected pair of non-blocking, close-on-exec
// SOCK_SEQPACKET sockets, named nameA and nameB.
func Pair(nameA, nameB string) (a, b *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	return os.NewFile(uintptr(fds[0]), nameA), os.NewFile(uintptr(fds[1]), nameB), nil
}
