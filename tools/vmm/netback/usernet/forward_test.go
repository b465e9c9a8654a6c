package usernet

import (
	"context"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/link/loopback"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// echoStack is a gVisor stack on a loopback link with an echo server on
// 10.0.0.1:7, standing in for the guest behind the gateway's stack.
func echoStack(t *testing.T) (*stack.Stack, tcpip.FullAddress) {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
	})
	t.Cleanup(func() { s.Close(); s.Wait() })
	require.Nil(t, s.CreateNIC(1, loopback.New()))
	addr := tcpip.AddrFrom4([4]byte{10, 0, 0, 1})
	require.Nil(t, s.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber,
		AddressWithPrefix: addr.WithPrefix()}, stack.AddressProperties{}))
	s.SetRouteTable([]tcpip.Route{{Destination: header4Subnet(t), NIC: 1}})
	full := tcpip.FullAddress{NIC: 1, Addr: addr, Port: 7}
	ln, err := gonet.ListenTCP(s, full, ipv4.ProtocolNumber)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				io.Copy(c, c)
				c.Close()
			}()
		}
	}()
	return s, full
}

func header4Subnet(t *testing.T) tcpip.Subnet {
	sn, err := tcpip.NewSubnet(tcpip.AddrFrom4([4]byte{10, 0, 0, 0}), tcpip.MaskFromBytes([]byte{255, 0, 0, 0}))
	require.NoError(t, err)
	return sn
}

// startForward serves a port forward on a loopback port to guest through
// s, closed when the test ends, and returns it with its address.
func startForward(t *testing.T, s *stack.Stack, guest tcpip.FullAddress) (*tcpForward, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	fw := &tcpForward{ln: ln, dial: func(ctx context.Context) (*guestConn, error) { return dialGuest(ctx, s, guest) }}
	fw.wg.Add(1)
	go fw.serve()
	t.Cleanup(fw.close)
	return fw, ln.Addr().String()
}

// TestForwardReleasesConnections opens many connections through a port
// forward at once, each echoing a message, then closes them: while they
// are open and idle the relays hold no copy buffers, and once they are
// closed the forward's connections and goroutines are back to where they
// started.
func TestForwardReleasesConnections(t *testing.T) {
	s, guest := echoStack(t)
	fw, addr := startForward(t, s, guest)

	baseline := runtime.NumGoroutine()
	const n = 300
	conns := make([]net.Conn, 0, n)
	msg := []byte("hello through the forward")
	buf := make([]byte, len(msg))
	for range 3 { // reuse the connections, as keep-alive clients do
		for i := range n {
			if len(conns) <= i {
				c, err := net.Dial("tcp", addr)
				require.NoError(t, err)
				conns = append(conns, c)
			}
			c := conns[i]
			require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
			_, err := c.Write(msg)
			require.NoError(t, err)
			_, err = io.ReadFull(c, buf)
			require.NoError(t, err)
			require.Equal(t, msg, buf)
		}
	}
	assert.EqualValues(t, n, fw.active.Load())
	// A relay gives its buffer back just after the write the client saw.
	assert.Eventually(t, func() bool { return buffersOut.Load() == 0 }, 5*time.Second, time.Millisecond,
		"idle connections hold copy buffers: %d", buffersOut.Load())

	for _, c := range conns {
		c.Close()
	}
	require.Eventually(t, func() bool { return fw.active.Load() == 0 }, 10*time.Second, 10*time.Millisecond,
		"forwarded connections left: %d", fw.active.Load())
	// Polled by hand: testify's Eventually runs its condition on
	// goroutines of its own.
	for end := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > baseline && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	if !assert.LessOrEqual(t, runtime.NumGoroutine(), baseline, "goroutines left") {
		b := make([]byte, 1<<20)
		t.Logf("%s", b[:runtime.Stack(b, true)])
	}
	assert.Zero(t, buffersOut.Load())
}

// TestForwardHalfClose: the host side closing its write half reaches the
// guest as EOF, and the guest's reply still comes back.
func TestForwardHalfClose(t *testing.T) {
	s, guest := echoStack(t)
	_, addr := startForward(t, s, guest)

	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	big := make([]byte, 1<<20) // more than one copy buffer
	for i := range big {
		big[i] = byte(i * 7)
	}
	go func() {
		c.Write(big)
		c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	require.NoError(t, err)
	assert.Equal(t, big, got)
}

// TestForwardDialFails: a guest that refuses closes the host's connection.
func TestForwardDialFails(t *testing.T) {
	s, guest := echoStack(t)
	guest.Port = 9 // nothing listens
	fw, addr := startForward(t, s, guest)
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = c.Read(make([]byte, 1))
	assert.Error(t, err) // EOF or reset, not a hang
	require.Eventually(t, func() bool { return fw.active.Load() == 0 }, 10*time.Second, 10*time.Millisecond)
}
