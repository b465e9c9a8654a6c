package netstack

import (
	"fmt"
	"net/netip"
	"os"
	"strings"

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

// netConfig is the static configuration from the command line.
type netConfig struct {
	addr netip.Prefix // unigo.ip
	gw   netip.Addr   // unigo.gw
	dns  netip.Addr   // unigo.dns
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
			c.addr, err = netip.ParsePrefix(val)
		case abi.ParamGateway:
			c.gw, err = netip.ParseAddr(val)
		case abi.ParamDNS:
			c.dns, err = netip.ParseAddr(val)
		}
		if err != nil {
			return c, fmt.Errorf("%s: %v", kv, err)
		}
	}
	return c, nil
}

// configureDevices attaches every virtio-net device the VM has and gives
// the first the configured address, default route and name server.
func configureDevices(s *stack.Stack) {
	cmdline, _ := os.ReadFile("/proc/cmdline")
	cfg, err := parseConfig(strings.TrimSpace(string(cmdline)))
	if err != nil {
		fmt.Fprintf(os.Stderr, "unigo: netstack: %v\n", err)
	}
	devs, err := virtionet.ProbeWith(virtionet.Options{LevelIRQ: true})
	if err != nil {
		fmt.Fprintf(os.Stderr, "unigo: netstack: virtio-net: %v\n", err)
	}
	for i, dev := range devs {
		nic := firstDeviceNIC + tcpip.NICID(i)
		if err := s.CreateNIC(nic, newLink(dev)); err != nil {
			fmt.Fprintf(os.Stderr, "unigo: netstack: NIC %d: %v\n", nic, err)
			continue
		}
		if i == 0 && cfg.addr.IsValid() {
			if err := applyConfig(s, nic, cfg); err != nil {
				fmt.Fprintf(os.Stderr, "unigo: netstack: %v\n", err)
			}
		}
	}
	writeResolvConf(cfg)
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

// writeResolvConf points the resolver at the configured name server.
func writeResolvConf(cfg netConfig) {
	if !cfg.dns.IsValid() {
		return
	}
	content := "# written by unigo's netstack from unigo.dns\nnameserver " + cfg.dns.String() + "\n"
	os.Remove("/etc/resolv.conf")
	if err := os.WriteFile("/etc/resolv.conf", []byte(content), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "unigo: netstack: /etc/resolv.conf: %v\n", err)
	}
}
