package tests

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tapSetup runs in a fresh network namespace: a multiqueue TAP device
// whose host side is 10.0.2.2, the gateway the virtionet guest expects.
// Linux's stack answers its ARP, ICMP echo and (for a UDP datagram whose
// checksum the device completed) "port unreachable"; a listening socket
// on port 7777 takes the TSO check's connection and sends 100,000 bytes
// back.
const tapSetup = `set -e
ip link set lo up
ip tuntap add dev tap0 mode tap multi_queue
ip addr add 10.0.2.2/24 dev tap0
ip link set tap0 mtu 9000 up
python3 -c '
import socket, time
s = socket.socket()
s.bind(("10.0.2.2", 7777))
s.listen(1)
c, _ = s.accept()
c.sendall(bytes(i % 251 for i in range(100000)))
time.sleep(600)' &
listener=$!
status=0
"$@" || status=$?
kill $listener
exit $status`

// TestVirtionetTAP boots the virtionet guest under QEMU with a TAP
// backend, which (unlike user networking) offers checksum offload, TSO,
// and multiqueue: the driver must negotiate two queue pairs through the
// control queue, send a UDP datagram with a partial checksum, exchange
// 9000-byte frames (several transmit cells and mergeable receive buffers
// per frame), and send a 20,000-byte TCP frame for segmentation (TSO) —
// the host kernel, behind the TAP device, checks the offload headers.
// It needs root for the namespace and the TAP device, so it skips
// elsewhere.
func TestVirtionetTAP(t *testing.T) {
	runnerNamed("qemu").check(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root: a network namespace with a TAP device")
	}
	for _, tool := range []string{"unshare", "ip", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool + " not on PATH")
		}
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("no /dev/net/tun")
	}
	s := runSpec{image: images["./tests/guests/virtionet"], args: []string{"level", "tso"}, memory: "128M", cpus: 2,
		qemuArgs: qemuVirtio("-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no,queues=2,vhost=off",
			"-device", "virtio-net-device,netdev=n0,mac=52:54:00:12:34:56,mq=on,host_mtu=9000")}
	args, err := qemuArgs(s, kvmBootsKernel())
	require.NoError(t, err)
	timeout := 30 * time.Second * tcgSlowdown
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", append([]string{"-n", "sh", "-c", tapSetup, "sh", qemuBinary}, args...)...)
	var out, diag strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &diag
	t.Logf("%s", strings.Join(cmd.Args, " "))
	err = cmd.Run()
	require.NoError(t, ctx.Err(), "timed out; output:\n%s%s", out.String(), diag.String())
	status := 0
	if ee, ok := err.(*exec.ExitError); ok {
		status = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	if strings.Contains(diag.String(), "Operation not permitted") {
		t.Skip("no permission for a TAP device here: " + strings.TrimSpace(diag.String()))
	}
	code, poweredOff, err := decodeQEMUStatus(status, diag.String())
	require.NoError(t, err)
	res := strings.ReplaceAll(out.String(), "\r\n", "\n")
	require.False(t, poweredOff, "output:\n%s%s", res, diag.String())
	require.Equal(t, 0, code, "output:\n%s%s", res, diag.String())
	for _, w := range []string{
		"virtionet: mac=52:54:00:12:34:56 mtu=9000 link=true\n",
		"TXChecksum:true TSO4:true TSO6:true RXChecksum:true",
		"MergeableRX:true EventIdx:true QueuePairs:2}",
		"virtionet: gateway 10.0.2.2 is at ",
		"virtionet: echo reply from 10.0.2.2 with 8972 bytes\n",
		"virtionet: checksum offload: port unreachable from 10.0.2.2\n",
		"virtionet: tso: peer acknowledged 20000 bytes sent as one frame\n",
		"virtionet: tso: received 100000 bytes, largest frame ",
		"virtionet: ok\n",
	} {
		assert.Contains(t, res, w)
	}
	// The host coalesced segments (the guest announced no MSS, so the
	// host's are 536 bytes) into GSO frames (GUEST_TSO4); frames of at
	// least the MTU arrived in several mergeable buffers each. How far
	// beyond the MTU the host coalesces depends on its TCP's timing, so
	// that is only logged.
	m := regexp.MustCompile(`largest frame (\d+) bytes, (\d+) with a GSO type`).FindStringSubmatch(res)
	require.NotNil(t, m, "no receive summary; output:\n%s", res)
	largest, _ := strconv.Atoi(m[1])
	gso, _ := strconv.Atoi(m[2])
	assert.GreaterOrEqual(t, largest, 9000+14, "largest received frame")
	assert.Positive(t, gso, "frames with a GSO type")
	t.Logf("largest received frame %d bytes, %d with a GSO type", largest, gso)
}
