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

// waitNoRelays waits until the guest-to-host copies of earlier tests have
// ended, so that owed and relayedFromGuest count this test's alone.
func waitNoRelays(t *testing.T) {
	require.Eventually(t, func() bool {
		fromGuest.mu.Lock()
		defer fromGuest.mu.Unlock()
		return len(fromGuest.m) == 0
	}, 10*time.Second, time.Millisecond, "relays of earlier tests did not end")
}

// drainPair opens a connection through a port forward to a guest that
// sends big and closes (or, unless closeAfter, keeps the connection open
// until the test ends): until the host reads, the gateway holds what the
// host kernel's socket buffers have no room for.
func drainPair(t *testing.T, big []byte, closeAfter bool) net.Conn {
	waitNoRelays(t)
	s, guest := echoStack(t)
	guest.Port = 8
	ln, err := gonet.ListenTCP(s, guest, ipv4.ProtocolNumber)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Write(big)
		if closeAfter {
			c.Close()
		}
	}()
	_, addr := startForward(t, s, guest)
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.(*net.TCPConn).SetReadBuffer(64<<10))
	require.Eventually(t, func() bool { return fromGuest.owed() > 0 }, 10*time.Second, time.Millisecond,
		"the gateway never held the guest's data")
	// Until the host's socket buffers are full the relay keeps up with
	// the guest and may hold nothing between two writes: wait until it
	// is stuck in a write.
	stuck := 0
	require.Eventually(t, func() bool {
		fromGuest.mu.Lock()
		defer fromGuest.mu.Unlock()
		for g := range fromGuest.m {
			if g.inHand.Load() {
				stuck++
				return stuck >= 3
			}
		}
		stuck = 0
		return false
	}, 20*time.Second, 50*time.Millisecond, "the host's buffers never filled")
	require.Positive(t, fromGuest.owed())
	return c
}

// TestDrainWaitsForSlowHost: drain keeps the process until a host that
// reads slowly has been handed everything the guest sent, FIN included,
// for as long as the relays keep writing.
func TestDrainWaitsForSlowHost(t *testing.T) {
	big := make([]byte, 16<<20) // beyond the host socket's buffers
	for i := range big {
		big[i] = byte(i * 13)
	}
	c := drainPair(t, big, true)
	const linger = 300 * time.Millisecond
	type result struct {
		owed int
		took time.Duration
	}
	drained := make(chan result, 1)
	go func() {
		start := time.Now()
		n := drain(linger, 20*time.Second)
		drained <- result{n, time.Since(start)}
	}()
	require.NoError(t, c.SetDeadline(time.Now().Add(20*time.Second)))
	var got []byte
	buf := make([]byte, 64<<10)
	for { // some 12 MB/s
		k, err := c.Read(buf)
		got = append(got, buf[:k]...)
		if err != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	r := <-drained
	// The relays owed the host bytes when drain started (drainPair), so
	// drain returning nothing owed means it waited for the host's reads.
	assert.Zero(t, r.owed, "drain gave up with the host still reading (after %v)", r.took)
	assert.Equal(t, len(big), len(got))
	assert.Equal(t, big, got)
}

// TestDrainGivesUpOnStalledHost: a host that reads nothing is given up
// on once the relays have written nothing for linger.
func TestDrainGivesUpOnStalledHost(t *testing.T) {
	drainPair(t, make([]byte, 16<<20), true)
	start := time.Now()
	assert.Positive(t, drain(200*time.Millisecond, 20*time.Second))
	assert.Less(t, time.Since(start), 5*time.Second)
}

// TestDrainProgressIsGuestToHost: the drain's progress counts what the
// relays wrote to the host of the guest's, not what the host sent the
// guest, so a host that keeps sending cannot keep the drain waiting on a
// stalled one.
func TestDrainProgressIsGuestToHost(t *testing.T) {
	waitNoRelays(t)
	s, guest := echoStack(t)
	sink := guest
	sink.Port = 9
	ln, err := gonet.ListenTCP(s, sink, ipv4.ProtocolNumber)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		n, _ := io.Copy(io.Discard, c)
		c.Close()
		got <- n
	}()
	_, sinkAddr := startForward(t, s, sink)
	c, err := net.Dial("tcp", sinkAddr)
	require.NoError(t, err)
	before := relayedFromGuest.Load()
	msg := make([]byte, 1<<20)
	_, err = c.Write(msg)
	require.NoError(t, err)
	require.NoError(t, c.Close())
	select {
	case n := <-got:
		require.EqualValues(t, len(msg), n)
	case <-time.After(10 * time.Second):
		t.Fatal("the guest never got the host's bytes")
	}
	assert.Equal(t, before, relayedFromGuest.Load(), "host-to-guest bytes counted")

	_, echoAddr := startForward(t, s, guest)
	e, err := net.Dial("tcp", echoAddr)
	require.NoError(t, err)
	defer e.Close()
	require.NoError(t, e.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = e.Write(msg[:1000])
	require.NoError(t, err)
	_, err = io.ReadFull(e, msg[:1000])
	require.NoError(t, err)
	// The relay counts once its write has returned, maybe after our read.
	assert.Eventually(t, func() bool { return relayedFromGuest.Load()-before == 1000 }, 10*time.Second,
		time.Millisecond, "the guest's echo")
}
