package tests

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// DHCP: a guest booted without a static address gets one from the DHCP
// server of its runner's user-mode network (the launcher's
// gvisor-tap-vsock gateway with -cmdline unigo.ip=dhcp overriding the
// launcher's static unigo.ip; QEMU's slirp with no unigo.ip at all), and
// with it a default route to the host, a name server in /etc/resolv.conf,
// its address in /etc/hosts and, from slirp, a host name.

const dhcpcheckPkg = "./tests/guests/dhcpcheck"

// dhcpSetups are what each runner's DHCP server hands out.
var dhcpSetups = map[string]struct {
	hostIP, guestIP, dns string
	hostname             string // the server's name for the guest, or the default
	kparams              []string
	qemuArgs             []string
	launcherArgs         []string
}{
	"launcher": {hostIP: "192.168.127.254", guestIP: "192.168.127.2", dns: "192.168.127.1",
		hostname: "unigo", kparams: []string{"unigo.ip=dhcp"},
		launcherArgs: []string{"-net", "user,hostloopback"}},
	"qemu": {hostIP: "10.0.2.2", guestIP: "10.0.2.15", dns: "10.0.2.3",
		hostname: "dhcpguest",
		qemuArgs: qemuVirtio("-netdev", "user,id=n0,hostname=dhcpguest", "-device", "virtio-net-device,netdev=n0")},
}

func TestDHCP(t *testing.T) {
	forNetRunners(t, func(t *testing.T, r runner, _ netSetup) {
		setup, ok := dhcpSetups[r.name]
		if !ok {
			t.Skipf("no user-mode network with DHCP for the %s runner", r.name)
		}
		echoPort := startEchoServer(t)
		vm := startVM(t, r, runSpec{
			image:        images[dhcpcheckPkg],
			args:         []string{setup.hostIP, strconv.Itoa(echoPort)},
			memory:       "128M",
			cpus:         1,
			timeout:      2 * time.Minute,
			kparams:      setup.kparams,
			qemuArgs:     setup.qemuArgs,
			launcherArgs: setup.launcherArgs,
		})
		vm.waitExit(t, r, 2*time.Minute)
		o := vm.out.String()
		require.Contains(t, o, "dhcpcheck: done")
		assert.Contains(t, o, "dhcpcheck: address "+setup.guestIP+"\n")
		assert.Contains(t, o, `dhcpcheck: echo "ping from `+setup.guestIP+`"`)
		assert.Contains(t, o, "dhcpcheck: # written by unigo's netstack from DHCP\n")
		assert.Contains(t, o, "dhcpcheck: nameserver "+setup.dns+"\n")
		assert.Contains(t, o, "dhcpcheck: hosts "+setup.guestIP+" "+setup.hostname+"\n")
		assert.Contains(t, o, "dhcpcheck: hostname "+setup.hostname+"\n")
		assert.Contains(t, o, "dhcpcheck: nodename "+setup.hostname+"\n")
		assert.NotContains(t, o+vm.diag.String(), "DHCP on NIC")
	})
}
