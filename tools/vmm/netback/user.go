package netback

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containers/gvisor-tap-vsock/pkg/types"
	"github.com/containers/gvisor-tap-vsock/pkg/virtualnetwork"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// Why gvisor-tap-vsock: user-mode networking needs a whole TCP/IP stack on
// the host side (to terminate the guest's TCP connections and replay them
// as host sockets), plus DHCP, DNS and port forwarding. gvisor-tap-vsock
// (the network of podman machine and CRC) is exactly that, built on the
// same gVisor tcpip stack, at the same version, that the guest netstack
// uses, so the project depends on one TCP/IP implementation, not two; it
// runs in-process and needs no root. The alternative, a gateway of our own
// on gVisor's tcpip, would re-implement its NAT forwarder, DNS and DHCP
// servers for no gain.

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

	userGatewayMAC = "5a:94:ef:e4:0c:dd"
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

func (f Forward) protocol() types.TransportProtocol {
	if f.UDP {
		return types.UDP
	}
	return types.TCP
}

// User is the user-mode network: a gvisor-tap-vsock virtual network whose
// one port is the device, joined to it over a SOCK_SEQPACKET socketpair
// (its "bess" protocol: one bare L2 frame per message). The socketpair is
// the cleanest in-process hook the library offers: it keeps frame
// boundaries, buffers a burst in the kernel, and closing our end makes the
// switch drop the port.
type User struct {
	vn       *virtualnetwork.VirtualNetwork
	services http.Handler
	dev      *os.File      // our end of the socketpair
	forwards []Forward     // UDP forwards, the library's
	stack    *stack.Stack  // the gateway's
	tcpFwds  []*tcpForward // TCP forwards, the launcher's own
	cancel   context.CancelFunc
	gate     *natGate
	restrict bool

	closeOnce sync.Once
}

// silenceLibraryLog routes the library's logrus logging (every dropped
// connection is an "error" to it) away from the guest's console.
var silenceLibraryLog sync.Once

// NewUser starts a user-mode network under policy p and the given port
// forwards. A forward that cannot listen (port in use, no permission)
// fails it.
func NewUser(forwards []Forward, p UserPolicy) (*User, error) {
	silenceLibraryLog.Do(func() { logrus.SetOutput(io.Discard) })
	seen := map[string]bool{}
	for _, f := range forwards {
		k := f.Host + "/" + string(f.protocol())
		if seen[k] {
			return nil, fmt.Errorf("-p: host port %s forwarded twice", k)
		}
		seen[k] = true
	}
	vn, err := virtualnetwork.New(&types.Configuration{
		MTU:               UserMTU,
		Subnet:            UserSubnet,
		GatewayIP:         UserGateway,
		GatewayMacAddress: userGatewayMAC,
		DHCPStaticLeases:  map[string]string{UserGuestIP: UserGuestMAC.String()},
		GatewayVirtualIPs: []string{UserHostIP},
		DNS: []types.Zone{{
			Name: "unigo.internal.",
			Records: []types.Record{
				{Name: "gateway", IP: net.ParseIP(UserGateway)},
				{Name: "host", IP: net.ParseIP(UserHostIP)},
			},
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("user-mode network: %w", err)
	}
	s, err := vnStack(vn)
	if err != nil {
		return nil, fmt.Errorf("user-mode network: %w", err)
	}
	gate := newNATGate(p)
	if err := installNAT(vn, gate); err != nil {
		return nil, fmt.Errorf("user-mode network: %w", err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("user-mode network: socketpair: %w", err)
	}
	// Room for a burst in each direction before a writer blocks.
	for _, fd := range fds {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	}
	swFile := os.NewFile(uintptr(fds[1]), "user-net-switch")
	swConn, err := net.FileConn(swFile)
	swFile.Close() // FileConn dup'ed it
	if err != nil {
		unix.Close(fds[0])
		return nil, fmt.Errorf("user-mode network: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	u := &User{vn: vn, services: vn.ServicesMux(), dev: os.NewFile(uintptr(fds[0]), "user-net-device"), cancel: cancel,
		stack: s, gate: gate, restrict: p.Restrict}
	go vn.AcceptBess(ctx, swConn)
	for _, f := range forwards {
		if err := u.expose(f); err != nil {
			u.Close()
			return nil, err
		}
	}
	return u, nil
}

// serviceCall makes a request to the library's control API in-process (it
// offers port forwarding only as HTTP handlers) and turns a failure into an
// error carrying the library's message.
func (u *User) serviceCall(path string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(b))
	rec := httptest.NewRecorder()
	u.services.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return fmt.Errorf("%s", strings.TrimSpace(rec.Body.String()))
	}
	return nil
}

// forwardDialTimeout bounds how long a TCP forward waits for the guest to
// accept a connection. The library's forwards give up after tcpproxy's
// 10 s and close the host's connection, which a client sees as EOF: a
// guest answering 1,000 connections at once on a busy host takes longer
// (SYN retransmits: 1, 2, 4, 8 s...). 60 s is about what a Linux client's
// own SYN retries allow.
const forwardDialTimeout = 60 * time.Second

func (u *User) expose(f Forward) error {
	if !f.UDP {
		return u.exposeTCP(f)
	}
	local := f.Host
	err := u.serviceCall("/services/forwarder/expose", types.ExposeRequest{
		Local:    local,
		Remote:   net.JoinHostPort(UserGuestIP, strconv.Itoa(int(f.GuestPort))),
		Protocol: f.protocol(),
	})
	if err != nil {
		return fmt.Errorf("-p %s: %v", f, err)
	}
	u.forwards = append(u.forwards, f)
	return nil
}

// exposeTCP forwards f with a relay of the launcher's own (forward.go),
// which dials the guest through the gateway's stack, as the library's
// forwards would, but waits forwardDialTimeout and holds no copy buffers
// for idle connections.
func (u *User) exposeTCP(f Forward) error {
	ln, err := net.Listen("tcp", f.Host)
	if err != nil {
		return fmt.Errorf("-p %s: %v", f, err)
	}
	guest := tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom4(netip.MustParseAddr(UserGuestIP).As4()), Port: f.GuestPort}
	fw := &tcpForward{ln: ln, dial: func(ctx context.Context) (*guestConn, error) { return dialGuest(ctx, u.stack, guest) }}
	fw.wg.Add(1)
	go fw.serve()
	u.tcpFwds = append(u.tcpFwds, fw)
	return nil
}

// ReadFrame implements virtio.NetBackend.
func (u *User) ReadFrame(buf []byte) (int, error) { return u.dev.Read(buf) }

// WriteFrame implements virtio.NetBackend.
func (u *User) WriteFrame(frame []byte) error {
	if u.restrict && restrictedFrame(frame) {
		return nil
	}
	_, err := u.dev.Write(frame)
	return err
}

// NATConns is the number of outbound TCP connections the NAT holds.
func (u *User) NATConns() int { return u.gate.Conns() }

// Close stops the port forwards (their host listeners close) and detaches
// the device from the switch. The library offers no way to stop its
// gateway stack itself; it idles until the process exits.
func (u *User) Close() error {
	u.closeOnce.Do(func() {
		for _, f := range u.forwards {
			u.serviceCall("/services/forwarder/unexpose", types.UnexposeRequest{Local: f.Host, Protocol: f.protocol()})
		}
		for _, fw := range u.tcpFwds {
			fw.close()
		}
		u.cancel()
		u.dev.Close()
	})
	return nil
}
