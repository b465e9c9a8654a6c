package netback

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestParseForward(t *testing.T) {
	for in, want := range map[string]Forward{
		"8080:80":           {Host: "127.0.0.1:8080", GuestPort: 80},
		"8080:80/tcp":       {Host: "127.0.0.1:8080", GuestPort: 80},
		"5353:53/udp":       {Host: "127.0.0.1:5353", GuestPort: 53, UDP: true},
		"0.0.0.0:80:8080":   {Host: "0.0.0.0:80", GuestPort: 8080},
		"[::1]:9000:90/udp": {Host: "[::1]:9000", GuestPort: 90, UDP: true},
		"192.0.2.1:65535:1": {Host: "192.0.2.1:65535", GuestPort: 1},
	} {
		got, err := ParseForward(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "80", ":80", "80:", "0:80", "80:0", "65536:80", "a:80",
		"80:80/sctp", "80:80/", "host:80:80", "1.2.3:80:80", "[::1:80:80", "80:80:80:80"} {
		_, err := ParseForward(in)
		assert.Error(t, err, in)
	}
}

func TestOpenTAPErrors(t *testing.T) {
	for name, msg := range map[string]string{
		"":                    "interface name",
		"a/b":                 "interface name",
		"waytoolonginterface": "interface name",
		"unigonosuch0":        "no such network interface",
		"lo":                  "not a TAP interface",
	} {
		_, err := OpenTAP(name)
		assert.ErrorContains(t, err, msg, name)
	}
}

// tempTAP creates a TAP interface named prefix plus the process id, opens
// it and removes it when the test ends; it skips the test where TAP
// interfaces cannot be made (no ip(8), no CAP_NET_ADMIN).
func tempTAP(t testing.TB, prefix string) (*TAP, string) {
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip(8)")
	}
	name := fmt.Sprintf("%s%d", prefix, os.Getpid()%100000)
	if out, err := exec.Command("ip", "tuntap", "add", name, "mode", "tap").CombinedOutput(); err != nil {
		t.Skipf("cannot create a TAP interface (needs CAP_NET_ADMIN): %s", out)
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", name).Run() })
	tap, err := OpenTAP(name)
	require.NoError(t, err)
	t.Cleanup(func() { tap.Close() })
	return tap, name
}

// TestTAPFrames moves a frame each way through a real TAP interface,
// with a packet socket on the host side. It needs CAP_NET_ADMIN.
func TestTAPFrames(t *testing.T) {
	tap, name := tempTAP(t, "ugtap")
	out, err := exec.Command("ip", "link", "set", name, "up", "mtu", "9000").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.EqualValues(t, 9000, tap.MTU())

	ifi, err := netInterfaceIndex(name)
	require.NoError(t, err)
	const ethType = 0x88b5 // local experimental
	ps, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(ethType)))
	require.NoError(t, err)
	defer unix.Close(ps)
	require.NoError(t, unix.Bind(ps, &unix.SockaddrLinklayer{Protocol: htons(ethType), Ifindex: ifi}))
	tv := unix.NsecToTimeval(int64(5 * time.Second))
	require.NoError(t, unix.SetsockoptTimeval(ps, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv))

	frame := func(tag byte) []byte {
		f := make([]byte, 60)
		copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, tag})
		f[12], f[13] = ethType>>8, ethType&0xff
		for i := 14; i < len(f); i++ {
			f[i] = tag
		}
		return f
	}

	// Guest to host: what the device writes (a vnet header, then the
	// frame) comes out of the interface.
	require.NoError(t, tap.SetOffloads(true, true, true, false))
	hdr := make([]byte, tapVnetHdrSize)
	require.NoError(t, tap.WriteFrame(append(hdr, frame(1)...)))
	buf := make([]byte, 2048)
	n, _, err := unix.Recvfrom(ps, buf, 0)
	require.NoError(t, err)
	assert.Equal(t, frame(1), buf[:n])

	// Host to guest: a frame sent on the interface is read by the device
	// (other traffic, e.g. IPv6 neighbour discovery, is skipped).
	require.NoError(t, unix.Sendto(ps, frame(2), 0, &unix.SockaddrLinklayer{Ifindex: ifi, Halen: 6,
		Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}))
	deadline := time.Now().Add(5 * time.Second)
	require.NoError(t, tap.f.SetReadDeadline(deadline)) // never hang the test
	for time.Now().Before(deadline) {
		n, err := tap.ReadFrame(buf)
		require.NoError(t, err)
		require.GreaterOrEqual(t, n, tapVnetHdrSize)
		if bytes.Equal(buf[tapVnetHdrSize:n], frame(2)) {
			assert.Zero(t, buf[1], "no segmentation for a small frame")
			return
		}
	}
	t.Fatal("frame sent on the interface never reached the device")
}

// TestTAPRejectsBadHeader: the kernel refuses a vnet header that does not
// fit its frame; the device drops such a frame.
func TestTAPRejectsBadHeader(t *testing.T) {
	tap, _ := tempTAP(t, "ugtbh")
	pkt := make([]byte, tapVnetHdrSize+60)
	pkt[0] = 1                    // NEEDS_CSUM
	pkt[6], pkt[8] = 200, 0       // csum_start past the frame
	pkt[tapVnetHdrSize+12] = 0x08 // IPv4
	assert.Error(t, tap.WriteFrame(pkt))
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func netInterfaceIndex(name string) (int, error) {
	b, err := os.ReadFile("/sys/class/net/" + name + "/ifindex")
	if err != nil {
		return 0, err
	}
	var i int
	_, err = fmt.Sscanf(string(b), "%d", &i)
	return i, err
}
