package virtio

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"

	"github.com/unigo-os/unigo/tools/vmm/netback"
)

// TCP between the host kernel and a fake guest (gVisor's stack) through a
// real TAP interface, with TSO negotiated both ways: the guest sends and
// receives super-frames that the host kernel segments and coalesces. It
// needs CAP_NET_ADMIN and skips without.

// tapGuest creates TAP interface with host address 10.213.N.1/24 and a
// TSO-capable stack guest at 10.213.N.2 on it.
func tapGuest(t *testing.T) (*stackGuest, string, string) {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip(8)")
	}
	n := os.Getpid()%200 + 20
	name := fmt.Sprintf("ugnt%d", os.Getpid()%100000)
	if out, err := exec.Command("ip", "tuntap", "add", name, "mode", "tap").CombinedOutput(); err != nil {
		t.Skipf("cannot create a TAP interface (needs CAP_NET_ADMIN): %s", out)
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", name).Run() })
	hostAddr, guestAddr := fmt.Sprintf("10.213.%d.1", n), fmt.Sprintf("10.213.%d.2", n)
	for _, args := range [][]string{{"addr", "add", hostAddr + "/24", "dev", name}, {"link", "set", name, "up"}} {
		out, err := exec.Command("ip", args...).CombinedOutput()
		require.NoError(t, err, "ip %v: %s", args, out)
	}
	tap, err := netback.OpenTAP(name)
	require.NoError(t, err)
	t.Cleanup(func() { tap.Close() })
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0x13, byte(n)}
	g := newStackGuestOn(t, stackConfig{backend: tap, mac: mac, mtu: 1500,
		addr: tcpip.AddrFrom4Slice(net.ParseIP(guestAddr).To4()), gateway: tcpip.AddrFrom4Slice(net.ParseIP(hostAddr).To4()),
		prefix: 24, tso: true})
	return g, hostAddr, guestAddr
}

func TestTAPStackHostToGuest(t *testing.T) {
	if testing.Short() {
		t.Skip("bulk transfer")
	}
	g, _, guestAddr := tapGuest(t)
	ln, err := gonet.ListenTCP(g.st, tcpip.FullAddress{NIC: 1, Port: 8080}, ipv4.ProtocolNumber)
	require.NoError(t, err)
	defer ln.Close()
	got := acceptDigest(ln, "ok")
	c, err := net.DialTimeout("tcp", guestAddr+":8080", 5*time.Second)
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
		t.Fatalf("guest never got the whole stream (device %v)", g.dev)
	}
	elapsed := time.Since(start)
	require.NoError(t, r.err)
	assert.EqualValues(t, bulkBytes, r.n)
	assert.Equal(t, want, r.sum, "data arrived intact")
	ack, _ := io.ReadAll(c)
	assert.Equal(t, "ok", string(ack))
	frames := g.dev.Stats.RXFrames.Load()
	assert.Less(t, frames, uint64(bulkBytes/1448), "the host kernel sent super-frames (GUEST_TSO4)")
	t.Logf("host -> guest over TAP: %d MiB in %v = %.0f Mbit/s (%d frames, %d dropped)", bulkBytes>>20,
		elapsed.Round(time.Millisecond), float64(bulkBytes)*8/elapsed.Seconds()/1e6, frames, g.dev.Stats.RXDropped.Load())
}

func TestTAPStackGuestToHost(t *testing.T) {
	if testing.Short() {
		t.Skip("bulk transfer")
	}
	g, hostAddr, _ := tapGuest(t)
	ln, err := net.Listen("tcp", hostAddr+":0")
	require.NoError(t, err)
	defer ln.Close()
	got := acceptDigest(ln, "")
	ctx, cancel := contextWithTimeout(10 * time.Second)
	defer cancel()
	c, err := gonet.DialContextTCP(ctx, g.st, tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom4Slice(net.ParseIP(hostAddr).To4()),
		Port: uint16(ln.Addr().(*net.TCPAddr).Port)}, ipv4.ProtocolNumber)
	require.NoError(t, err)
	start := time.Now()
	want, err := sendPattern(c, bulkBytes)
	require.NoError(t, err)
	require.NoError(t, c.CloseWrite())
	var r digestResult
	select {
	case r = <-got:
	case <-time.After(60 * time.Second):
		t.Fatalf("host never got the whole stream (device %v)", g.dev)
	}
	elapsed := time.Since(start)
	c.Close()
	require.NoError(t, r.err)
	assert.EqualValues(t, bulkBytes, r.n)
	assert.Equal(t, want, r.sum, "data arrived intact")
	frames := g.dev.Stats.TXFrames.Load()
	assert.Less(t, frames, uint64(bulkBytes/1448), "the guest sent super-frames (HOST_TSO4)")
	t.Logf("guest -> host over TAP: %d MiB in %v = %.0f Mbit/s (%d frames)", bulkBytes>>20,
		elapsed.Round(time.Millisecond), float64(bulkBytes)*8/elapsed.Seconds()/1e6, frames)
}
