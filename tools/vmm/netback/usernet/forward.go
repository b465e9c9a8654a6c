package usernet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// The user-mode network's TCP relays (port forwards and the NAT) join a
// host socket to a connection of the gateway's stack. A relay copies each
// direction with a buffer taken from copyBufs only once the source has
// data, and gives it back before it waits again, so an idle connection (a
// keep-alive client between requests) holds no copy buffer: the memory of
// many open connections is their TCP state, not 64 KiB of buffers each as
// with io.Copy.

// copyBufSize is a relay's copy buffer: io.Copy's size.
const copyBufSize = 32 << 10

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// buffersOut counts copy buffers taken and not yet given back.
var buffersOut atomic.Int64

// relayConn is one end of a relay: a connection that can wait until a
// Read would not block without holding a buffer.
type relayConn interface {
	net.Conn
	CloseRead() error
	CloseWrite() error
	// waitReadable returns when data, EOF or an error is there to read.
	waitReadable() error
}

// hostConn is a host TCP socket.
type hostConn struct {
	*net.TCPConn
	rc syscall.RawConn
}

func newHostConn(c *net.TCPConn) (*hostConn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &hostConn{TCPConn: c, rc: rc}, nil
}

func (h *hostConn) waitReadable() error {
	var b [1]byte
	return h.rc.Read(func(fd uintptr) bool {
		for {
			_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
			if err != unix.EINTR {
				return err != unix.EAGAIN
			}
		}
	})
}

// guestConn is a connection of the gateway's stack, with the endpoint and
// queue that gonet hides.
type guestConn struct {
	*gonet.TCPConn
	ep tcpip.Endpoint
	wq *waiter.Queue
	// inHand: the relay has read bytes of the guest's it has not yet
	// written to the host (they are in neither endpoint).
	inHand atomic.Bool
}

func newGuestConn(wq *waiter.Queue, ep tcpip.Endpoint) *guestConn {
	return &guestConn{TCPConn: gonet.NewTCPConn(wq, ep), ep: ep, wq: wq}
}

const readyMask = waiter.ReadableEvents | waiter.EventHUp | waiter.EventErr

func (g *guestConn) waitReadable() error {
	e, ch := waiter.NewChannelEntry(readyMask)
	g.wq.EventRegister(&e)
	defer g.wq.EventUnregister(&e)
	if g.ep.Readiness(readyMask) == 0 {
		<-ch
	}
	return nil
}

// dialGuest connects to addr through s, giving up when ctx ends.
func dialGuest(ctx context.Context, s *stack.Stack, addr tcpip.FullAddress) (*guestConn, error) {
	var wq waiter.Queue
	ep, terr := s.NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, &wq)
	if terr != nil {
		return nil, errors.New(terr.String())
	}
	e, ch := waiter.NewChannelEntry(waiter.WritableEvents | waiter.EventHUp | waiter.EventErr)
	wq.EventRegister(&e)
	defer wq.EventUnregister(&e)
	terr = ep.Connect(addr)
	if _, ok := terr.(*tcpip.ErrConnectStarted); ok {
		select {
		case <-ctx.Done():
			ep.Close()
			return nil, ctx.Err()
		case <-ch:
		}
		terr = ep.LastError()
	}
	if terr != nil {
		ep.Close()
		return nil, fmt.Errorf("connect %v:%d: %s", addr.Addr, addr.Port, terr)
	}
	return newGuestConn(&wq, ep), nil
}

// relay copies between a and b until both directions end, then closes
// both.
func relay(a, b relayConn) {
	done := make(chan struct{})
	go func() {
		relayCopy(b, a)
		close(done)
	}()
	relayCopy(a, b)
	<-done
	a.Close()
	b.Close()
}

// relayCopy copies src to dst until src ends or either fails, then ends
// the direction on both (as tcpproxy does: dst's write half, src's read
// half).
func relayCopy(dst, src relayConn) {
	defer src.CloseRead()
	defer dst.CloseWrite()
	g, guestToHost := src.(*guestConn)
	if guestToHost {
		fromGuest.add(g)
		defer fromGuest.remove(g)
	}
	for {
		if err := src.waitReadable(); err != nil {
			return
		}
		bp := copyBufs.Get().(*[]byte)
		buffersOut.Add(1)
		n, err := src.Read(*bp)
		if n > 0 {
			if guestToHost {
				g.inHand.Store(true)
			}
			if _, werr := dst.Write((*bp)[:n]); werr != nil {
				err = werr
			}
			if guestToHost {
				g.inHand.Store(false)
				relayedFromGuest.Add(int64(n))
			}
		}
		buffersOut.Add(-1)
		copyBufs.Put(bp)
		if err != nil { // io.EOF included
			return
		}
	}
}

// tcpForward is a port forward: it accepts on a host listener and relays
// each connection to one that dial makes.
type tcpForward struct {
	ln     net.Listener
	dial   func(context.Context) (*guestConn, error)
	active atomic.Int64 // connections accepted and not yet finished
	wg     sync.WaitGroup
}

func (f *tcpForward) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait, as net/http does.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		f.active.Add(1)
		go f.handle(c.(*net.TCPConn))
	}
}

func (f *tcpForward) handle(c *net.TCPConn) {
	defer f.active.Add(-1)
	h, err := newHostConn(c)
	if err != nil {
		c.Close()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), forwardDialTimeout)
	g, err := f.dial(ctx)
	cancel()
	if err != nil {
		// The host's connection closes, as with the library's forwards.
		c.Close()
		return
	}
	c.SetKeepAlive(true)
	relay(h, g)
}

// close stops accepting; connections in progress go on.
func (f *tcpForward) close() {
	f.ln.Close()
	f.wg.Wait()
}

// Draining at exit. The gateway acknowledges what the guest sends as soon
// as its stack holds it, and the guest's exit waits for no more than
// that (the acknowledgement of its FIN), so when the guest powers off the
// gateway may still hold bytes the host has not taken: a slow reader's.
// Drain lets the relays deliver them before the process exits.

// relayedFromGuest counts the bytes relays have written to the host from
// the guest: the drain's progress (the host's bytes to the guest are not).
var relayedFromGuest atomic.Int64

// fromGuest is the set of guest-to-host directions still copying.
var fromGuest = guestCopies{m: map[*guestConn]bool{}}

type guestCopies struct {
	mu sync.Mutex
	m  map[*guestConn]bool
}

func (c *guestCopies) add(g *guestConn) {
	c.mu.Lock()
	c.m[g] = true
	c.mu.Unlock()
}

func (c *guestCopies) remove(g *guestConn) {
	c.mu.Lock()
	delete(c.m, g)
	c.mu.Unlock()
}

// owed counts the directions that still have something of the guest's to
// deliver: received bytes (in the endpoint or in the relay's hands), or
// its FIN (the copy ends with it). A
// connection the guest left open and idle owes nothing.
func (c *guestCopies) owed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for g := range c.m {
		st := tcp.EndpointState(g.ep.State())
		if g.inHand.Load() || g.ep.Readiness(waiter.ReadableEvents) != 0 || st == tcp.StateCloseWait || st == tcp.StateLastAck {
			n++
		}
	}
	return n
}

// drain waits until no relay owes the host anything of the guest's, or
// none has written the host a byte of the guest's for linger, or max has
// passed. It returns how many directions were still owed.
func drain(linger, max time.Duration) int {
	end := time.Now().Add(max)
	quiet := time.Now().Add(linger)
	last := relayedFromGuest.Load()
	for {
		n := fromGuest.owed()
		if n == 0 {
			return 0
		}
		now := time.Now()
		if r := relayedFromGuest.Load(); r != last {
			last, quiet = r, now.Add(linger)
		}
		if now.After(quiet) || now.After(end) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}
