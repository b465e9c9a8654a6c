package netback

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// The user-mode network's addressing plan: gvisor-tap-vsock's defaults, as
// gvproxy (podman machine) uses them.
const (
	UserSubnet    = "192.168.127.0/24"
	UserPrefixLen = 24
	// UserGateway is the virtual gateway, DHCP and DNS server.
	UserGateway = "192.168.127.1"
	// UserGuestIP is the guest's address (static, and its DHCP lease).
	UserGuestIP = "192.168.127.2"
	// UserHostIP reaches the host's own loopback (127.0.0.1) from the
	// guest, with UserPolicy.HostLoopback only.
	UserHostIP = "192.168.127.254"
	// UserMTU is the link MTU of the user-mode network. Every frame
	// crosses two TCP/IP stacks and a socketpair, so per-frame cost
	// dominates: like slirp4netns, use (nearly) 64 KiB frames. Measured
	// with a gVisor stack as the guest (tools/vmm/virtio
	// TestUserNetStack*), guest-to-host throughput is about 3x that at
	// 1500.
	UserMTU = 65520
	// UserBurst and UserFrameMax size the buffers at both ends of the
	// socket between the launcher and unigo-net (netback/seqpacket): up
	// to UserBurst frames move per system call, each up to UserFrameMax
	// bytes, more than a frame of UserMTU.
	UserBurst    = 16
	UserFrameMax = 64 << 10
)

// UserGuestMAC is the MAC the device gets on the user-mode network; the
// DHCP server's static lease ties it to UserGuestIP.
var UserGuestMAC = net.HardwareAddr{0x5a, 0x94, 0xef, 0xe4, 0x0c, 0xee}

// Forward is one host-to-guest port forward (-p).
type Forward struct {
	// UDP selects UDP; otherwise TCP.
	UDP bool
	// Host is the host address to listen on, host:port.
	Host string
	// GuestPort is the port on UserGuestIP that connections go to.
	GuestPort uint16
}

// DefaultForwardHost is the host address -p listens on when the flag names
// none: loopback, so a guest service is not exposed to the network unless
// asked (-p 0.0.0.0:8080:80).
const DefaultForwardHost = "127.0.0.1"

// ParseForward parses [HOSTADDR:]HOSTPORT:GUESTPORT[/tcp|/udp].
func ParseForward(s string) (Forward, error) {
	bad := func(why string) (Forward, error) {
		return Forward{}, fmt.Errorf("-p %s: %s (want [HOSTADDR:]HOSTPORT:GUESTPORT[/udp])", s, why)
	}
	var f Forward
	spec := s
	if i := strings.LastIndexByte(spec, '/'); i >= 0 {
		switch spec[i+1:] {
		case "udp":
			f.UDP = true
		case "tcp":
		default:
			return bad(fmt.Sprintf("unknown protocol %q", spec[i+1:]))
		}
		spec = spec[:i]
	}
	i := strings.LastIndexByte(spec, ':')
	if i < 0 {
		return bad("missing GUESTPORT")
	}
	host, guest := spec[:i], spec[i+1:]
	gp, err := parsePort(guest)
	if err != nil {
		return bad("guest port: " + err.Error())
	}
	f.GuestPort = gp
	addr, port := DefaultForwardHost, host
	if strings.ContainsRune(host, ':') {
		if addr, port, err = net.SplitHostPort(host); err != nil {
			return bad(err.Error())
		}
		if net.ParseIP(addr) == nil {
			return bad(fmt.Sprintf("host address %q is not an IP address", addr))
		}
	}
	if _, err := parsePort(port); err != nil {
		return bad("host port: " + err.Error())
	}
	f.Host = net.JoinHostPort(addr, port)
	return f, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%q is not a port number (1-65535)", s)
	}
	return uint16(n), nil
}

func (f Forward) String() string {
	p := "tcp"
	if f.UDP {
		p = "udp"
	}
	return fmt.Sprintf("%s:%d/%s", f.Host, f.GuestPort, p)
}

// DefaultMaxConns caps the concurrent TCP connections one guest makes
// through the user-mode NAT (each holds a host socket).
const DefaultMaxConns = 1024

// UserPolicy is what a guest on the user-mode network may reach. The zero
// value is the default: the outside world, not the host itself.
type UserPolicy struct {
	// HostLoopback lets UserHostIP reach the host's 127.0.0.1.
	HostLoopback bool
	// Restrict forbids all outbound traffic (NAT and the gateway's DNS
	// forwarding); only -p forwards, DHCP and, with HostLoopback, the
	// host's loopback remain.
	Restrict bool
	// MaxConns caps concurrent outbound TCP connections (0: DefaultMaxConns);
	// a SYN beyond it is answered with a reset.
	MaxConns int
}
