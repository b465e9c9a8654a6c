package abi

// Kernel parameters of the guest's static network configuration. The
// launcher puts them on the command line when it gives the guest a
// virtio-net device it knows the addressing of (user-mode networking); the
// guest netstack configures its interface from them and falls back to DHCP
// when unigo.ip is absent or is "dhcp" (e.g. -net tap, unless -cmdline
// sets them; unigo.ip=dhcp on -cmdline makes a user-mode guest use the
// gateway's DHCP server instead).
// Their keys contain a dot, so abi.Parse classifies them as kernel
// parameters, not environment variables.
const (
	// ParamIP is the interface address in CIDR form: unigo.ip=192.168.127.2/24.
	ParamIP = "unigo.ip"
	// IPByDHCP as the value of unigo.ip asks for DHCP: unigo.ip=dhcp.
	IPByDHCP = "dhcp"
	// ParamGateway is the default router: unigo.gw=192.168.127.1.
	ParamGateway = "unigo.gw"
	// ParamDNS is the DNS server (one address): unigo.dns=192.168.127.1.
	ParamDNS = "unigo.dns"
	// ParamNetStats makes the netstack print its loss counters (TCP
	// retransmissions, drops, full queues) to stderr at this interval, a
	// Go duration: unigo.netstats=5s. A diagnostic; absent, nothing.
	ParamNetStats = "unigo.netstats"
)
