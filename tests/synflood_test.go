package tests

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// synFloodScript runs in a fresh network namespace with a TAP device
// (host side 10.0.2.2) and the guest (examples/httpd, 10.0.2.15) started
// by "$@" in the background. Once the guest serves, it sends 20,000 TCP
// SYNs to the guest's port 8080 from spoofed neighbours (10.0.2.100-249,
// which never answer ARP, so every half-open connection stays half-open),
// then checks that an ordinary client still gets the page, and stops the
// guest through /quit.
const synFloodScript = `set -e
ip link set lo up
ip tuntap add dev tap0 mode tap
ip addr add 10.0.2.2/24 dev tap0
ip link set tap0 up
"$@" </dev/null &
vm=$!
status=0
python3 - <<'PY' || status=$?
import random, socket, struct, sys, time, urllib.request

def get(path, timeout):
    return urllib.request.urlopen("http://10.0.2.15:8080" + path, timeout=timeout).read()

deadline = time.time() + 600
while True:
    try:
        get("/", 2)
        break
    except Exception:
        if time.time() > deadline:
            sys.exit("synflood: the guest never served")
        time.sleep(0.5)

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff

raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
dst = socket.inet_aton("10.0.2.15")
sent = 0
for i in range(20000):
    src = socket.inet_aton("10.0.2.%d" % (100 + i % 150))
    sport = random.randint(1024, 65535)
    tcp = struct.pack("!HHIIBBHHH", sport, 8080, random.getrandbits(32), 0, 5 << 4, 0x02, 65535, 0, 0)
    pseudo = src + dst + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), i & 0xffff, 0, 64, socket.IPPROTO_TCP, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    raw.sendto(ip + tcp, ("10.0.2.15", 0))
    sent += 1
print("synflood: sent %d SYNs" % sent, flush=True)
start = time.time()
body = get("/", 60)
print("synflood: page after the flood in %.1f s: %r" % (time.time() - start, body), flush=True)
get("/quit", 60)
PY
wait $vm || true
exit $status`

// TestSYNFlood checks that a flood of SYNs from hosts that never complete
// the handshake does not keep the guest from serving a real client (the
// issue's "bad input"), over a TAP device, under QEMU and under the
// launcher (-net tap). It needs root for the namespace, the TAP device
// and the raw socket, so it skips elsewhere.
func TestSYNFlood(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: a network namespace, a TAP device and a raw socket")
	}
	for _, tool := range []string{"unshare", "ip", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool + " not on PATH")
		}
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("no /dev/net/tun")
	}
	static := []string{"unigo.ip=10.0.2.15/24", "unigo.gw=10.0.2.2"}
	forBootRunners(t, func(t *testing.T, r runner) {
		var monitor []string
		switch r.name {
		case "qemu":
			s := runSpec{image: images[httpdPkg], memory: "256M", cpus: 2, kparams: static,
				qemuArgs: qemuVirtio("-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no,vhost=off",
					"-device", "virtio-net-device,netdev=n0")}
			args, err := qemuArgs(s, kvmBootsKernel())
			require.NoError(t, err)
			monitor = append([]string{qemuBinary}, args...)
		case "launcher":
			monitor = []string{unigoBin, "run", "-m", "256M", "-smp", "2", "-net", "tap=tap0",
				"-cmdline", strings.Join(static, " "), images[httpdPkg]}
		default:
			t.Skipf("no TAP setup for the %s runner", r.name)
		}
		synFlood(t, monitor)
	})
}

// synFlood runs synFloodScript with the monitor command and checks what
// it printed.
func synFlood(t *testing.T, monitor []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", append([]string{"-n", "sh", "-c", synFloodScript, "sh"}, monitor...)...)
	var out, diag strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &diag
	t.Logf("%s", strings.Join(cmd.Args, " "))
	err := cmd.Run()
	if strings.Contains(diag.String(), "Operation not permitted") {
		t.Skip("no permission for a TAP device here: " + strings.TrimSpace(diag.String()))
	}
	res := strings.ReplaceAll(out.String(), "\r\n", "\n")
	require.NoError(t, ctx.Err(), "timed out; output:\n%s%s", res, diag.String())
	require.NoError(t, err, "output:\n%s%s", res, diag.String())
	require.Contains(t, res, "synflood: sent 20000 SYNs")
	require.Contains(t, res, "synflood: page after the flood in ")
	require.Contains(t, res, `b'Hello from unigo!\n'`)
	require.Contains(t, res, "httpd: bye")
	t.Log(res)
}
