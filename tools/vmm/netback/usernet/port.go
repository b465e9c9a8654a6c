package usernet

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/unigo-os/unigo/tools/vmm/netback"
	"github.com/unigo-os/unigo/tools/vmm/netback/seqpacket"
)

// port is the switch's connection to the device: a SOCK_SEQPACKET socket
// read a burst at a time (seqpacket.Conn), with the policy's restricted
// frames dropped on the way in. The switch reads from one goroutine and
// writes, under its own lock, from others.
type port struct {
	c        *seqpacket.Conn
	restrict bool
	ended    atomic.Bool // the device's end closed (EOF)
}

func newPort(f *os.File, restrict bool) (*port, error) {
	c, err := seqpacket.New(f, netback.UserBurst, netback.UserFrameMax)
	if err != nil {
		return nil, err
	}
	return &port{c: c, restrict: restrict}, nil
}

// Read returns the device's next frame that the policy lets through.
func (p *port) Read(b []byte) (int, error) {
	for {
		n, err := p.c.Read(b)
		if errors.Is(err, io.EOF) {
			p.ended.Store(true)
		}
		if err != nil || !p.restrict || !restrictedFrame(b[:n]) {
			return n, err
		}
	}
}

func (p *port) Write(b []byte) (int, error) { return p.c.Write(b) }
func (p *port) Close() error                { return p.c.Close() }

// eof reports whether the device's end was closed.
func (p *port) eof() bool { return p.ended.Load() }

// portAddr names both ends of the port, for the library's log lines.
type portAddr struct{}

func (portAddr) Network() string { return "unixpacket" }
func (portAddr) String() string  { return "device" }

func (p *port) LocalAddr() net.Addr                { return portAddr{} }
func (p *port) RemoteAddr() net.Addr               { return portAddr{} }
func (p *port) SetDeadline(t time.Time) error      { return p.c.File().SetDeadline(t) }
func (p *port) SetReadDeadline(t time.Time) error  { return p.c.File().SetReadDeadline(t) }
func (p *port) SetWriteDeadline(t time.Time) error { return p.c.File().SetWriteDeadline(t) }
