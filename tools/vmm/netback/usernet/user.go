package usernet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
	"github.com/unigo-os/unigo/tools/vmm/netback/seqpacket"
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
// one port is the device. The port is a SOCK_SEQPACKET socket (the
// library's "bess" protocol: one bare L2 frame per message), which the
// switch reads and writes itself: the launcher's socket in the network
// process (Serve), so a frame crosses no further hop there, or one end of
// a socketpair whose other end is ReadFrame/WriteFrame (NewUser). A
// socket keeps frame boundaries, buffers a burst in the kernel, blocks a
// writer when full, and its EOF makes the switch drop the port.
type User struct {
	vn       *virtualnetwork.VirtualNetwork
	services http.Handler
	dev      *os.File          // NewUser: our end of the socketpair
	forwards []netback.Forward // UDP forwards, the library's
	stack    *stack.Stack      // the gateway's
	tcpFwds  []*tcpForward     // TCP forwards, the launcher's own
	ctx      context.Context
	cancel   context.CancelFunc
	gate     *natGate
	restrict bool

	portMu sync.Mutex
	port   *port // the switch's port while Serve runs

	closeOnce sync.Once
}

// silenceLibraryLog routes the library's logrus logging (every dropped
// connection is an "error" to it) away from the guest's console.
var silenceLibraryLog sync.Once

// NewUser starts a user-mode network under policy p and the given port
// forwards, with its device in this process: ReadFrame and WriteFrame.
// A forward that cannot listen (port in use, no permission) fails it.
func NewUser(forwards []netback.Forward, p netback.UserPolicy) (*User, error) {
	u, err := New(forwards, p)
	if err != nil {
		return nil, err
	}
	dev, sw, err := seqpacket.Pair("user-net-device", "user-net-switch")
	if err != nil {
		u.Close()
		return nil, fmt.Errorf("user-mode network: %w", err)
	}
	// Room for a burst in each direction before a writer blocks.
	setBufs(dev, 4<<20)
	setBufs(sw, 4<<20)
	u.dev = dev
	pt, err := u.attach(sw)
	if err != nil {
		sw.Close()
		u.Close()
		return nil, err
	}
	go u.serve(pt)
	return u, nil
}

// setBufs sets socket f's send and receive buffers to n bytes, best
// effort (Control, not Fd, which would make f blocking).
func setBufs(f *os.File, n int) {
	if rc, err := f.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, n)
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, n)
		})
	}
}

// New starts a user-mode network under policy p and the given port
// forwards, with no device yet: Serve attaches one. A forward that cannot
// listen (port in use, no permission) fails it.
func New(forwards []netback.Forward, p netback.UserPolicy) (*User, error) {
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
	ctx, cancel := context.WithCancel(context.Background())
	u := &User{vn: vn, services: vn.ServicesMux(), ctx: ctx, cancel: cancel,
		stack: s, gate: gate, restrict: p.Restrict}
	for _, f := range forwards {
		if err := u.expose(f); err != nil {
			u.Close()
			return nil, err
		}
	}
	return u, nil
}

// Serve makes dev, a non-blocking SOCK_SEQPACKET socket with one frame
// per message, the device's port on the switch, and returns once the
// device's end is closed (EOF), after which the switch has closed dev.
// One device at a time: a second Serve fails.
func (u *User) Serve(dev *os.File) error {
	pt, err := u.attach(dev)
	if err != nil {
		return err
	}
	return u.serve(pt)
}

// attach wraps dev as the switch's port.
func (u *User) attach(dev *os.File) (*port, error) {
	pt, err := newPort(dev, u.restrict)
	if err != nil {
		return nil, fmt.Errorf("user-mode network: %w", err)
	}
	u.portMu.Lock()
	defer u.portMu.Unlock()
	if u.port != nil {
		return nil, errors.New("user-mode network: a device is already attached")
	}
	u.port = pt
	return pt, nil
}

// serve runs the switch on pt until the device's end is gone.
func (u *User) serve(pt *port) error {
	err := u.vn.AcceptBess(u.ctx, pt)
	if pt.eof() {
		return nil
	}
	return err
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

// errNoDevice is ReadFrame's and WriteFrame's error on a User whose
// device is a socket of Serve's.
var errNoDevice = errors.New("user-mode network: no in-process device (New, not NewUser)")

// ReadFrame implements virtio.NetBackend (NewUser).
func (u *User) ReadFrame(buf []byte) (int, error) {
	if u.dev == nil {
		return 0, errNoDevice
	}
	return u.dev.Read(buf)
}

// WriteFrame implements virtio.NetBackend (NewUser).
func (u *User) WriteFrame(frame []byte) error {
	if u.dev == nil {
		return errNoDevice
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
// the device from the switch (Serve returns). The library offers no way to stop its
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
		if u.dev != nil {
			u.dev.Close()
		}
		u.portMu.Lock()
		if u.port != nil {
			u.port.Close()
		}
		u.portMu.Unlock()
	})
	return nil
}
