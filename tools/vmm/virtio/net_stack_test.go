package virtio

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"github.com/unigo-os/unigo/abi"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/unigo-os/unigo/tools/vmm/netback"
	"github.com/unigo-os/unigo/tools/vmm/netback/usernet"
)

// A fake guest with a real TCP/IP stack: gVisor's tcpip (what the unigo
// netstack is built on) on a link endpoint whose frames go through the
// virtio-net device's rings in guest memory and on to the user-mode
// network. It proves whole TCP connections through the launcher's network
// path, both directions, and measures its throughput.

type stackGuest struct {
	*userGuest
	st *stack.Stack
}

func newStackGuest(t *testing.T, forwards ...netback.Forward) *stackGuest {
	user, err := usernet.NewUser(forwards, netback.UserPolicy{HostLoopback: true})
	require.NoError(t, err)
	t.Cleanup(func() { user.Close() })
	return newStackGuestOn(t, stackConfig{backend: user, mac: netback.UserGuestMAC, mtu: netback.UserMTU,
		addr: guestIP, gateway: gatewayIP, prefix: netback.UserPrefixLen})
}

type stackConfig struct {
	backend NetBackend
	mac     net.HardwareAddr
	mtu     uint16
	addr    tcpip.Address
	gateway tcpip.Address
	prefix  int
	// tso negotiates TSO both ways and lets the stack send super-frames,
	// as a guest driver with GSO would.
	tso bool
}

func newStackGuestOn(t *testing.T, cfg stackConfig) *stackGuest {
	ep := channel.New(1024, uint32(cfg.mtu), tcpip.LinkAddress(cfg.mac))
	features := uint64(abi.VirtioNetFMrgRxbuf | abi.VirtioNetFCsum | abi.VirtioNetFGuestCsum | abi.VirtioFEventIdx)
	if cfg.tso {
		// Received frames may carry partial checksums and be super-frames.
		ep.LinkEPCapabilities = stack.CapabilityRXChecksumOffload
		ep.SupportedGSOKind = stack.HostGSOSupported
		features |= abi.VirtioNetFHostTSO4 | abi.VirtioNetFGuestTSO4 | abi.VirtioNetFHostTSO6 | abi.VirtioNetFGuestTSO6
	}
	st := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
	})
	t.Cleanup(func() {
		st.Close()
		st.Wait()
	})
	require.Nil(t, st.CreateNIC(1, ethernet.New(ep)))
	require.Nil(t, st.AddProtocolAddress(1, tcpip.ProtocolAddress{
		Protocol:          ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: cfg.addr, PrefixLen: cfg.prefix},
	}, stack.AddressProperties{}))
	st.SetRouteTable([]tcpip.Route{{Destination: header.IPv4EmptySubnet, Gateway: cfg.gateway, NIC: 1}})

	g := newRingGuest(t, cfg.backend, cfg.mac, cfg.mtu, features, func(frame []byte) {
		pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(frame)})
		ep.InjectInbound(0, pkt) // the ethernet endpoint reads the type
		pkt.DecRef()
	})
	// Transmit: whatever the stack sends goes onto the transmit ring, with
	// the header a virtio-net driver with GSO would write (as gVisor's own
	// fdbased endpoint does for a TAP).
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			pkt := ep.ReadContext(ctx)
			if pkt == nil {
				return
			}
			var hdr [abi.VirtioNetHdrSize]byte
			if gso := pkt.GSOOptions; gso.Type != stack.GSONone {
				binary.LittleEndian.PutUint16(hdr[2:], uint16(pkt.HeaderSize()))
				if gso.NeedsCsum {
					hdr[0] = abi.VirtioNetHdrFNeedsCsum
					binary.LittleEndian.PutUint16(hdr[6:], header.EthernetMinimumSize+gso.L3HdrLen)
					binary.LittleEndian.PutUint16(hdr[8:], gso.CsumOffset)
				}
				if uint16(pkt.Data().Size()) > gso.MSS {
					switch gso.Type {
					case stack.GSOTCPv4:
						hdr[1] = abi.VirtioNetHdrGSOTCPv4
					case stack.GSOTCPv6:
						hdr[1] = abi.VirtioNetHdrGSOTCPv6
					}
					binary.LittleEndian.PutUint16(hdr[4:], gso.MSS)
				}
			}
			v := pkt.ToView()
			g.sendPacket(hdr, v.AsSlice())
			v.Release()
			pkt.DecRef()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return &stackGuest{userGuest: g, st: st}
}

// transfer sends n pseudo-random bytes over c while the peer returns
// their SHA-256; it reports the digest of what was sent.
func sendPattern(w io.Writer, n int) ([32]byte, error) {
	h := sha256.New()
	buf := make([]byte, 64<<10)
	for i := range buf {
		buf[i] = byte(i*7 + i>>8)
	}
	for sent := 0; sent < n; {
		k := min(len(buf), n-sent)
		buf[0] = byte(sent >> 16) // vary the content a little
		if _, err := w.Write(buf[:k]); err != nil {
			return [32]byte{}, err
		}
		h.Write(buf[:k])
		sent += k
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// digestResult is what a connection accepted by acceptDigest carried.
type digestResult struct {
	sum [32]byte
	n   int64
	err error
}

// acceptDigest accepts one connection on ln, reads it to EOF, answers
// ack (if not empty) and reports the SHA-256 and length of what it read.
func acceptDigest(ln net.Listener, ack string) <-chan digestResult {
	got := make(chan digestResult, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- digestResult{err: err}
			return
		}
		defer c.Close()
		sum, n, err := readDigest(c)
		if ack != "" {
			c.Write([]byte(ack))
		}
		got <- digestResult{sum, n, err}
	}()
	return got
}

func readDigest(r io.Reader) ([32]byte, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, n, err
}

const bulkBytes = 32 << 20

// TestUserNetStackHostToGuest: a host client connects to a -p port and
// streams data to a server in the guest's TCP stack, which checks it.
func TestUserNetStackHostToGuest(t *testing.T) {
	if testing.Short() {
		t.Skip("bulk transfer")
	}
	port := freeTCPPort(t)
	fw, err := netback.ParseForward(strconv.Itoa(port) + ":8080")
	require.NoError(t, err)
	g := newStackGuest(t, fw)

	ln, err := gonet.ListenTCP(g.st, tcpip.FullAddress{NIC: 1, Addr: guestIP, Port: 8080}, ipv4.ProtocolNumber)
	require.NoError(t, err)
	defer ln.Close()
	got := acceptDigest(ln, "ok")

	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	require.NoError(t, err)
	defer c.Close()
	start := time.Now()
	want, err := sendPattern(c, bulkBytes)
	require.NoError(t, err)
	require.NoError(t, c.(*net.TCPConn).CloseWrite())
	var r digestResult
	select {
	case r = <-got:
	case <-time.After(60 * time.Second):
		t.Fatalf("guest never got the whole stream (device rx %d dropped %d)", g.dev.Stats.RXFrames.Load(), g.dev.Stats.RXDropped.Load())
	}
	elapsed := time.Since(start)
	require.NoError(t, r.err)
	assert.EqualValues(t, bulkBytes, r.n)
	assert.Equal(t, want, r.sum, "data arrived intact")
	ack, _ := io.ReadAll(c)
	assert.Equal(t, "ok", string(ack))
	t.Logf("host -> guest: %d MiB in %v = %.0f Mbit/s (%d frames, %d dropped)", bulkBytes>>20, elapsed.Round(time.Millisecond),
		float64(bulkBytes)*8/elapsed.Seconds()/1e6, g.dev.Stats.RXFrames.Load(), g.dev.Stats.RXDropped.Load())
}

// TestUserNetStackGuestToHost: the guest's TCP stack connects to a host
// server through the gateway's NAT (192.168.127.254 is the host's
// 127.0.0.1) and streams data to it.
func TestUserNetStackGuestToHost(t *testing.T) {
	if testing.Short() {
		t.Skip("bulk transfer")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	got := acceptDigest(ln, "")
	g := newStackGuest(t)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := gonet.DialContextTCP(ctx, g.st, tcpip.FullAddress{NIC: 1, Addr: hostIP, Port: uint16(ln.Addr().(*net.TCPAddr).Port)}, ipv4.ProtocolNumber)
	require.NoError(t, err)
	start := time.Now()
	want, err := sendPattern(c, bulkBytes)
	require.NoError(t, err)
	require.NoError(t, c.CloseWrite())
	var r digestResult
	select {
	case r = <-got:
	case <-time.After(60 * time.Second):
		t.Fatalf("host never got the whole stream (device tx %d dropped %d)", g.dev.Stats.TXFrames.Load(), g.dev.Stats.TXDropped.Load())
	}
	elapsed := time.Since(start)
	c.Close()
	require.NoError(t, r.err)
	assert.EqualValues(t, bulkBytes, r.n)
	assert.Equal(t, want, r.sum, "data arrived intact")
	t.Logf("guest -> host: %d MiB in %v = %.0f Mbit/s (%d frames)", bulkBytes>>20, elapsed.Round(time.Millisecond),
		float64(bulkBytes)*8/elapsed.Seconds()/1e6, g.dev.Stats.TXFrames.Load())
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
