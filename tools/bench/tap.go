package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// tapLab is the benchmark network, built from network namespaces
// so that nothing touches the host's own interfaces:
//
//	client namespace                          native namespace
//	  veth  10.203.0.1/24  <---- veth pair ---->  veth 10.203.0.2/24  httpd
//	  tap0  10.203.1.1/24  <-- launcher guest 10.203.1.2
//	  tap1  10.203.2.1/24  <-- QEMU microvm guest 10.203.2.2
//
// The load generator runs in the client namespace (wrk under ip netns
// exec, the Go client through tapLab.dial), so each server is one hop
// away from it over a virtual link: a veth pair for the native process,
// a TAP device for the guests. It needs root, ip(8) and /dev/net/tun.
type tapLab struct {
	client, native string // namespace names
}

// The lab's addresses.
const (
	labNative   = "10.203.0.2"
	labLauncher = "10.203.1.2"
	labQEMU     = "10.203.2.2"
)

// newTapLab builds the namespaces, or says why it cannot.
func newTapLab() (*tapLab, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("needs root (network namespaces and TAP devices)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, errors.New("ip (iproute2) not on PATH")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return nil, errors.New("no /dev/net/tun")
	}
	pid := strconv.Itoa(os.Getpid())
	l := &tapLab{client: "unigo-bench-client-" + pid, native: "unigo-bench-native-" + pid}
	steps := [][]string{
		{"netns", "add", l.client},
		{"netns", "add", l.native},
		{"-n", l.client, "link", "set", "lo", "up"},
		{"-n", l.native, "link", "set", "lo", "up"},
		{"-n", l.client, "link", "add", "veth0", "type", "veth", "peer", "name", "veth0", "netns", l.native},
		{"-n", l.client, "addr", "add", "10.203.0.1/24", "dev", "veth0"},
		{"-n", l.native, "addr", "add", labNative + "/24", "dev", "veth0"},
		{"-n", l.client, "link", "set", "veth0", "up"},
		{"-n", l.native, "link", "set", "veth0", "up"},
		{"-n", l.client, "tuntap", "add", "dev", "tap0", "mode", "tap"},
		{"-n", l.client, "addr", "add", "10.203.1.1/24", "dev", "tap0"},
		{"-n", l.client, "link", "set", "tap0", "up"},
		{"-n", l.client, "tuntap", "add", "dev", "tap1", "mode", "tap"},
		{"-n", l.client, "addr", "add", "10.203.2.1/24", "dev", "tap1"},
		{"-n", l.client, "link", "set", "tap1", "up"},
	}
	for _, args := range steps {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			l.close()
			return nil, fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return l, nil
}

// close deletes the namespaces, and with them the veth pair and the TAP
// devices.
func (l *tapLab) close() {
	exec.Command("ip", "netns", "del", l.client).Run()
	exec.Command("ip", "netns", "del", l.native).Run()
}

func (l *tapLab) in(ns string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
}

// targets are the servers measured on the lab: the native process behind
// the veth pair, the launcher (2 vCPUs, then 1: on a PVM host a second
// vCPU's wake-ups cost more than it gains) and QEMU on TAP devices (QEMU with KVM,
// since it boots here; without vhost-net, which this host lacks, QEMU
// moves packets in its own thread much as the launcher does).
func (l *tapLab) targets(s *benchSuite) []netTarget {
	inNS := []string{"ip", "netns", "exec", l.client}
	url := func(ip string) string { return "http://" + ip + ":8080" }
	launcher := func(smp string) *exec.Cmd {
		return l.in(l.client, s.self, "run", "-m", "256M", "-smp", smp, "-net", "tap=tap0",
			"-cmdline", strings.TrimSpace("unigo.ip="+labLauncher+"/24 unigo.gw=10.203.1.1 "+s.netCmdline), s.httpd)
	}
	ts := []netTarget{
		{name: "native", cmd: l.in(l.native, s.httpd, "-addr", labNative+":8080"), base: url(labNative)},
		{name: "launcher, 2 vCPUs", cmd: launcher("2"), base: url(labLauncher)},
		{name: "launcher, 1 vCPU", cmd: launcher("1"), base: url(labLauncher)},
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err == nil && s.qemu {
		q := qemuCommand(s.httpd, nil, []string{"unigo.ip=" + labQEMU + "/24", "unigo.gw=10.203.2.1"}, 2, "256M", qemuKVM,
			"-global", "virtio-mmio.force-legacy=false",
			"-netdev", "tap,id=n0,ifname=tap1,script=no,downscript=no,vhost=off",
			"-device", "virtio-net-device,netdev=n0")
		ts = append(ts, netTarget{name: "QEMU KVM, 2 vCPUs", cmd: l.in(l.client, q.Args...), base: url(labQEMU)})
	}
	for i := range ts {
		ts[i].setup, ts[i].dial, ts[i].inNS = "TAP", l.dial, inNS
		ts[i].quit = s.netCmdline != "" && strings.HasPrefix(ts[i].name, "launcher")
	}
	return ts
}

// dial connects from inside the client namespace: a socket belongs to
// the namespace of the thread that creates it, so the dialing goroutine
// locks its thread, enters the namespace, dials and comes back. If it
// cannot come back, it leaves the thread locked, and the runtime retires
// the thread with the goroutine.
func (l *tapLab) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	runtime.LockOSThread()
	home, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer home.Close()
	ns, err := os.Open("/run/netns/" + l.client)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer ns.Close()
	if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("setns %s: %v", l.client, err)
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if unix.Setns(int(home.Fd()), unix.CLONE_NEWNET) == nil {
		runtime.UnlockOSThread()
	}
	return c, err
}
