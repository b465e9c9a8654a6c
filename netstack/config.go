package netstack

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/drivers/virtio/virtionet"
)

// firstDeviceNIC is the NIC id of the first virtio-net device.
const firstDeviceNIC tcpip.NICID = 2

// netConfig is an interface's configuration: from the command line, or
// from a DHCP lease (with any unigo.gw/unigo.dns on the command line
// taking precedence over the lease's).
type netConfig struct {
	addr       netip.Prefix  // unigo.ip
	gw         netip.Addr    // unigo.gw
	dns        netip.Addr    // unigo.dns
	dhcp       bool          // unigo.ip=dhcp: configure by DHCP even if the launcher passed an address
	hostname   string        // the DHCP server's name for this host ("" keeps the default)
	statsEvery time.Duration // unigo.netstats: print loss counters this often (0: never)
}

// parseConfig reads the unigo.ip/gw/dns kernel parameters from the
// command line (as /proc/cmdline shows it).
func parseConfig(cmdline string) (netConfig, error) {
	var c netConfig
	_, kparams, _, err := abi.Parse(cmdline)
	if err != nil {
		return c, fmt.Errorf("command line: %v", err)
	}
	for _, kv := range kparams {
		key, val, _ := strings.Cut(kv, "=")
		var err error
		switch key {
		case abi.ParamIP:
			if val == abi.IPByDHCP {
				c.addr, c.dhcp = netip.Prefix{}, true
				continue
			}
			c.addr, c.dhcp = netip.Prefix{}, false
			c.addr, err = netip.ParsePrefix(val)
		case abi.ParamGateway:
			c.gw, err = netip.ParseAddr(val)
		case abi.ParamDNS:
			c.dns, err = netip.ParseAddr(val)
		case abi.ParamNetStats:
			if c.statsEvery, err = time.ParseDuration(val); err == nil && c.statsEvery <= 0 {
				err = fmt.Errorf("not a positive duration")
			}
		}
		if err != nil {
			return c, fmt.Errorf("%s: %v", kv, err)
		}
	}
	return c, nil
}

// configureDevices attaches every virtio-net device the VM has and gives
// the first the configured address, default route and name server: the
// static ones from the command line, else (no unigo.ip, or
// unigo.ip=dhcp) those of a DHCP lease, which a goroutine obtains and
// renews (startDHCP waits for it only briefly).
func configureDevices(s *stack.Stack) {
	cmdline, _ := os.ReadFile("/proc/cmdline")
	cfg, err := parseConfig(strings.TrimSpace(string(cmdline)))
	if err != nil {
		fmt.Fprintf(os.Stderr, "unigo: netstack: %v\n", err)
	}
	// Edge-triggered lines (the driver's default): see
	// virtionet.Options.LevelIRQ.
	devs, err := virtionet.Probe()
	if err != nil {
		fmt.Fprintf(os.Stderr, "unigo: netstack: virtio-net: %v\n", err)
	}
	for i, dev := range devs {
		nic := firstDeviceNIC + tcpip.NICID(i)
		l := newLink(dev)
		if err := s.CreateNIC(nic, l); err != nil {
			fmt.Fprintf(os.Stderr, "unigo: netstack: NIC %d: %v\n", nic, err)
			continue
		}
		if i != 0 {
			continue
		}
		if cfg.addr.IsValid() {
			if err := applyConfig(s, nic, cfg); err != nil {
				fmt.Fprintf(os.Stderr, "unigo: netstack: %v\n", err)
			}
			writeHostIdentity(cfg)
		} else {
			startDHCP(s, nic, l.LinkAddress(), cfg, dhcpInitialWait)
		}
	}
	if cfg.addr.IsValid() || len(devs) == 0 {
		writeResolvConf(cfg)
	}
	if cfg.statsEvery > 0 {
		go printLossCounters(s, devs, cfg.statsEvery)
	}
}

func applyConfig(s *stack.Stack, nic tcpip.NICID, cfg netConfig) error {
	a := cfg.addr.Addr()
	proto := ipv4.ProtocolNumber
	if a.Is6() {
		proto = ipv6.ProtocolNumber
	}
	pa := tcpip.ProtocolAddress{
		Protocol:          proto,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFromSlice(a.AsSlice()), PrefixLen: cfg.addr.Bits()},
	}
	if err := s.AddProtocolAddress(nic, pa, stack.AddressProperties{}); err != nil {
		return fmt.Errorf("address %v: %v", cfg.addr, err)
	}
	routes := s.GetRouteTable()
	routes = append(routes, tcpip.Route{Destination: pa.AddressWithPrefix.Subnet(), NIC: nic})
	if cfg.gw.IsValid() {
		gw := tcpip.AddrFromSlice(cfg.gw.AsSlice())
		if cfg.gw.Is4() {
			routes = append(routes, tcpip.Route{Destination: header.IPv4EmptySubnet, Gateway: gw, NIC: nic})
		} else {
			routes = append(routes, tcpip.Route{Destination: header.IPv6EmptySubnet, Gateway: gw, NIC: nic})
		}
	}
	s.SetRouteTable(routes)
	return nil
}

// removeConfig undoes applyConfig (a DHCP lease that expired or changed):
// the address and every IPv4 route through the NIC.
func removeConfig(s *stack.Stack, nic tcpip.NICID, cfg netConfig) {
	if !cfg.addr.IsValid() {
		return
	}
	s.RemoveAddress(nic, tcpip.AddrFromSlice(cfg.addr.Addr().AsSlice()))
	s.RemoveRoutes(func(r tcpip.Route) bool {
		return r.NIC == nic && r.Destination.ID().BitLen() == cfg.addr.Addr().BitLen()
	})
}

// writeResolvConf points the resolver at the configured name server.
func writeResolvConf(cfg netConfig) {
	if !cfg.dns.IsValid() {
		return
	}
	source := "unigo.dns"
	if cfg.dhcp {
		source = "DHCP"
	}
	writeEtc("/etc/resolv.conf", "# written by unigo's netstack from "+source+"\nnameserver "+cfg.dns.String()+"\n")
}

// defaultHostname is the kernel's name for the machine (uname's nodename,
// kernel/vfs/fs_init.go's /etc/hostname).
const defaultHostname = "unigo"

// writeHostIdentity makes /etc/hosts map the interface's address to the
// host name and, when a DHCP server named the host, makes that the host
// name: the kernel's (sethostname, for uname), /etc/hostname and
// /proc/sys/kernel/hostname (where os.Hostname reads it).
func writeHostIdentity(cfg netConfig) {
	name := defaultHostname
	if cfg.hostname != "" {
		name = cfg.hostname
		if err := syscall.Sethostname([]byte(name)); err != nil {
			fmt.Fprintf(os.Stderr, "unigo: netstack: sethostname %q: %v\n", name, err)
		}
		writeEtc("/etc/hostname", name+"\n")
		writeEtc("/proc/sys/kernel/hostname", name+"\n")
	}
	hosts := "127.0.0.1\tlocalhost " + name + "\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	if cfg.addr.IsValid() {
		hosts += cfg.addr.Addr().String() + "\t" + name + "\n"
	}
	writeEtc("/etc/hosts", hosts)
}

// writeEtc replaces a configuration file (removed first: the kernel's
// initial files are read-only images).
func writeEtc(path, content string) {
	os.Remove(path)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "unigo: netstack: %s: %v\n", path, err)
	}
}
