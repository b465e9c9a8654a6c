package abi

// Kernel parameters of the guest's static network configuration. The
// launcher puts them on the command line when it gives the guest a
// virtio-net device it knows the addressing of (user-mode networking); the
// guest netstack configures its interface from them and falls back to DHCP
// when unigo.ip is absent (e.g. -net tap, unless -cmdline sets them).
// Their keys contain a dot, so abi.Parse classifies them as kernel
// parameters, not environment variables.
const (
	// ParamIP is the interface address in CIDR form: unigo.ip=192.168.127.2/24.
	ParamIP = "unigo.ip"
	// ParamGateway is the default router: unigo.gw=192.168.127.1.
	ParamGateway = "unigo.gw"
	// ParamDNS is the DNS server (one address): unigo.dns=192.168.127.1.
	ParamDNS = "unigo.dns"
)
