package usernet

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

	"github.com/unigo-os/unigo/tools/vmm/netback"
)

// userGatewayMAC is the gateway's MAC on the user-mode network.
const userGatewayMAC = "5a:94:ef:e4:0c:dd"

// Why gvisor-tap-vsock: user-mode networking needs a whole TCP/IP stack on
// the host side (to terminate the guest's TCP connections and replay them
// as host sockets), plus DHCP, DNS and port forwarding. gvisor-tap-vsock
// (the network of podman machine and CRC) is exactly that, built on the
// same gVisor tcpip stack, at the same version, that the guest netstack
// uses, so the project depends on one TCP/IP implementation, not two; it
// runs in-process and needs no root. The alternative, a gateway of our own
// on gVisor's tcpip, would re-implement its NAT forwarder, DNS and DHCP
// servers for no gain.

func protocol(f netback.Forward) types.TransportProtocol {
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
	dev      *os.File          // our end of the socketpair
	forwards []netback.Forward // UDP forwards, the library's
	stack    *stack.Stack      // the gateway's
	tcpFwds  []*tcpForward     // TCP forwards, the launcher's own
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
func NewUser(forwards []netback.Forward, p netback.UserPolicy) (*User, error) {
	silenceLibraryLog.Do(func() { logrus.SetOutput(io.Discard) })
	seen := map[string]bool{}
	for _, f := range forwards {
		k := f.Host + "/" + string(protocol(f))
		if seen[k] {
			return nil, fmt.Errorf("-p: host port %s forwarded twice", k)
		}
		seen[k] = true
	}
	vn, err := virtualnetwork.New(&types.Configuration{
		MTU:               netback.UserMTU,
		Subnet:            netback.UserSubnet,
		GatewayIP:         netback.UserGateway,
		GatewayMacAddress: userGatewayMAC,
		DHCPStaticLeases:  map[string]string{netback.UserGuestIP: netback.UserGuestMAC.String()},
		GatewayVirtualIPs: []string{netback.UserHostIP},
		DNS: []types.Zone{{
			Name: "unigo.internal.",
			Records: []types.Record{
				{Name: "gateway", IP: net.ParseIP(netback.UserGateway)},
				{Name: "host", IP: net.ParseIP(netback.UserHostIP)},
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

func (u *User) expose(f netback.Forward) error {
	if !f.UDP {
		return u.exposeTCP(f)
	}
	local := f.Host
	err := u.serviceCall("/services/forwarder/expose", types.ExposeRequest{
		Local:    local,
		Remote:   net.JoinHostPort(netback.UserGuestIP, strconv.Itoa(int(f.GuestPort))),
		Protocol: protocol(f),
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
func (u *User) exposeTCP(f netback.Forward) error {
	ln, err := net.Listen("tcp", f.Host)
	if err != nil {
		return fmt.Errorf("-p %s: %v", f, err)
	}
	guest := tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom4(netip.MustParseAddr(netback.UserGuestIP).As4()), Port: f.GuestPort}
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

// DrainLinger and DrainMax bound Drain: it gives up once the relays have
// written the host nothing of the guest's for DrainLinger (a host that
// stopped reading), and
// after DrainMax in any case (the guest's own exit waits as long).
const (
	DrainLinger = 2 * time.Second
	DrainMax    = 30 * time.Second
)

// Drain waits, after the guest has gone (Close), until the relays have
// delivered to the host what the gateway took from the guest, within
// DrainLinger and DrainMax, and returns how many connections it gave up
// on.
func (u *User) Drain() int { return drain(DrainLinger, DrainMax) }

// Close stops the port forwards (their host listeners close) and detaches
// the device from the switch. The library offers no way to stop its
// gateway stack itself; it idles until the process exits.
func (u *User) Close() error {
	u.closeOnce.Do(func() {
		for _, f := range u.forwards {
			u.serviceCall("/services/forwarder/unexpose", types.UnexposeRequest{Local: f.Host, Protocol: protocol(f)})
		}
		for _, fw := range u.tcpFwds {
			fw.close()
		}
		u.cancel()
		u.dev.Close()
	})
	return nil
}
