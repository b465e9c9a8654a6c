package netstack

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/unigo-os/unigo/drivers/virtio/virtionet"
)

// lingerPair connects a sender stack to a receiver whose TCP receive
// window is at most 16 KiB, so that the sender's data is acknowledged
// only as fast as the receiving program reads it. It returns the
// sender's endpoint, connected, and the receiver's accepted connection.
func lingerPair(t *testing.T) (tcpip.Endpoint, *waiter.Queue, *gonet.TCPConn) {
	snd, rcv, _ := wiredStacks(t, virtionet.Offloads{})
	rb := tcpip.TCPReceiveBufferSizeRangeOption{Min: 4 << 10, Default: 16 << 10, Max: 16 << 10}
	require.Nil(t, rcv.SetTransportProtocolOption(tcp.ProtocolNumber, &rb))
	moderate := tcpip.TCPModerateReceiveBufferOption(false)
	require.Nil(t, rcv.SetTransportProtocolOption(tcp.ProtocolNumber, &moderate))
	ln, err := gonet.ListenTCP(rcv, tcpip.FullAddress{NIC: firstDeviceNIC, Port: 80}, ipv4.ProtocolNumber)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan *gonet.TCPConn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c.(*gonet.TCPConn)
	}()

	wq := &waiter.Queue{}
	ep, terr := snd.NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, wq)
	require.Nil(t, terr)
	t.Cleanup(ep.Abort)
	entry, ch := waiter.NewChannelEntry(waiter.WritableEvents)
	wq.EventRegister(&entry)
	defer wq.EventUnregister(&entry)
	terr = ep.Connect(tcpip.FullAddress{NIC: firstDeviceNIC, Addr: tcpip.AddrFrom4([4]byte{10, 0, 0, 2}), Port: 80})
	if _, started := terr.(*tcpip.ErrConnectStarted); started {
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatal("connect did not complete")
		}
		terr = ep.LastError()
	}
	require.Nil(t, terr)
	c := <-accepted
	require.NotNil(t, c)
	t.Cleanup(func() { c.Close() })
	return ep, wq, c
}

// writeAll gives ep all of b, waiting for room as a blocking write would.
func writeAll(t *testing.T, ep tcpip.Endpoint, wq *waiter.Queue, b []byte) {
	entry, ch := waiter.NewChannelEntry(waiter.WritableEvents)
	wq.EventRegister(&entry)
	defer wq.EventUnregister(&entry)
	r := bytes.NewReader(b)
	for r.Len() > 0 {
		_, terr := ep.Write(r, tcpip.WriteOptions{})
		if _, block := terr.(*tcpip.ErrWouldBlock); block {
			select {
			case <-ch:
			case <-time.After(10 * time.Second):
				t.Fatal("no room in the send buffer")
			}
			continue
		}
		require.Nil(t, terr)
	}
}

// shortLinger sets exitLinger to d for the test.
func shortLinger(t *testing.T, d time.Duration) {
	old := exitLinger
	exitLinger = d
	t.Cleanup(func() { exitLinger = old })
}

// A peer that keeps reading, however slowly, keeps a closed socket
// flushing: the exit waits until it has acknowledged everything, FIN
// included, even when that takes many times exitLinger.
func TestAwaitAckedSlowReader(t *testing.T) {
	// Well above the most a held ACK may wait (ackFlushEvery+ackDelay),
	// which timers running late under -race and load stretch further.
	shortLinger(t, 300*time.Millisecond)
	ep, wq, c := lingerPair(t)
	const n = 1 << 20
	want := bytes.Repeat([]byte("last words "), n/11+1)[:n]
	got := make(chan []byte, 1)
	go func() {
		// 4 KiB every 5 ms: some 0.8 MB/s, so n takes well over
		// exitLinger to drain through the 16 KiB window.
		var b []byte
		buf := make([]byte, 4<<10)
		for {
			k, err := c.Read(buf)
			b = append(b, buf[:k]...)
			if err != nil {
				got <- b
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	writeAll(t, ep, wq, want)
	ep.Close()
	start := time.Now()
	acked := awaitAcked(ep)
	took := time.Since(start)
	assert.True(t, acked, "gave up after %v with the peer still reading (state %v)", took, tcp.EndpointState(ep.State()))
	assert.Greater(t, took, 2*exitLinger, "the drain should outlast exitLinger for the test to mean anything")
	select {
	case b := <-got:
		assert.Equal(t, len(want), len(b), "bytes the peer read")
		assert.True(t, bytes.Equal(want, b), "what the peer read")
	case <-time.After(10 * time.Second):
		t.Fatal("the peer never saw the end of the stream")
	}
}

// A peer that stops reading is given up on: its window stays shut, and
// awaitAcked returns without the acknowledgement, in bounded time.
func TestAwaitAckedStalledReader(t *testing.T) {
	shortLinger(t, 100*time.Millisecond)
	ep, wq, _ := lingerPair(t)
	writeAll(t, ep, wq, make([]byte, 256<<10))
	ep.Close()
	start := time.Now()
	assert.False(t, awaitAcked(ep), "the peer read nothing, yet everything was acknowledged")
	assert.Less(t, time.Since(start), 10*time.Second)
	t.Logf("gave up after %v", time.Since(start))
}
