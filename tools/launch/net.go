package launch

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/tools/vmm/netback"
	"github.com/unigo-os/unigo/tools/vmm/netback/netproc"
	"github.com/unigo-os/unigo/tools/vmm/virtio"
)

// netstackSymbolPrefix marks an image that links the guest network stack:
// such an image gets a network device even without -p or -net.
const netstackSymbolPrefix = "github.com/unigo-os/unigo/netstack."

// netOptions are the networking flags of `unigo run`.
type netOptions struct {
	mode     string // "" (not given), "user", "none" or "tap"
	tap      string // interface name for mode "tap"
	forwards []netback.Forward
	policy   netback.UserPolicy // mode "user"
	opened   *netback.TAP       // mode "tap": opened by the jailer
}

// parseNetMode parses -net user[,OPTION...]|none|tap=NAME, OPTION one of
// hostloopback, restrict, maxconns=N.
func (n *netOptions) parseNetMode(s string) error {
	switch {
	case s == "user" || strings.HasPrefix(s, "user,"):
		n.mode, n.tap, n.policy = "user", "", netback.UserPolicy{}
		opts := strings.Split(s, ",")[1:]
		for _, o := range opts {
			switch k, v, _ := strings.Cut(o, "="); {
			case o == "hostloopback":
				n.policy.HostLoopback = true
			case o == "restrict":
				n.policy.Restrict = true
			case k == "maxconns":
				m, err := strconv.Atoi(v)
				if err != nil || m < 1 || m > 1<<20 {
					return fmt.Errorf("-net user,maxconns=N: want N in 1..1048576, got %q", v)
				}
				n.policy.MaxConns = m
			default:
				return fmt.Errorf("-net user: unknown option %q (want hostloopback, restrict or maxconns=N)", o)
			}
		}
	case s == "none":
		n.mode, n.tap = s, ""
	case strings.HasPrefix(s, "tap="):
		n.mode, n.tap = "tap", strings.TrimPrefix(s, "tap=")
		if n.tap == "" {
			return fmt.Errorf("want -net tap=NAME, got %q", s)
		}
	default:
		return fmt.Errorf("want user[,hostloopback][,restrict][,maxconns=N], none or tap=NAME, got %q", s)
	}
	return nil
}

// check rejects flag combinations that cannot work.
func (n *netOptions) check() error {
	if len(n.forwards) > 0 && (n.mode == "none" || n.mode == "tap") {
		return fmt.Errorf("-p forwards ports of the user-mode network; it cannot be combined with -net %s", n.mode)
	}
	return nil
}

// enabled decides whether the guest gets a network device: when asked for
// with -net or -p, else when the image links the guest netstack.
func (n *netOptions) enabled(image []byte) bool {
	switch {
	case n.mode == "none":
		return false
	case n.mode != "" || len(n.forwards) > 0:
		return true
	}
	return linksNetstack(image)
}

// linksNetstack reports whether the image's symbol table has a symbol of the
// guest netstack package. A non-ELF image is left to the loader to reject.
// It looks for the name in the symbol string table in place rather than
// decoding every symbol (thousands of allocations on each launch); the Go
// linker writes only symbol names there.
func linksNetstack(image []byte) bool {
	f, err := elf.NewFile(bytes.NewReader(image))
	if err != nil {
		return false
	}
	s := f.Section(".strtab")
	if s == nil || s.Type != elf.SHT_STRTAB || s.Offset > uint64(len(image)) || s.Size > uint64(len(image))-s.Offset {
		return false
	}
	return bytes.Contains(image[s.Offset:s.Offset+s.Size], []byte("\x00"+netstackSymbolPrefix))
}

// guestNet is the network device of one run and what to close after it.
type guestNet struct {
	dev     *virtio.Net
	backend io.Closer
	// params is the guest's static configuration (abi.ParamIP, ...) for
	// the user-mode network; none for TAP, whose addressing the launcher
	// does not know (the guest uses DHCP unless -cmdline sets them).
	params []string
	// ready waits for the user-mode network's process to serve (nil: in
	// this process, ready); gone is closed if that process dies first.
	ready func() error
	gone  <-chan struct{}
	pid   int // the network process's, when this launcher started it
}

// UserNetwork is a running user-mode network: the launcher's end of the
// network process (netproc.Remote), or usernet.User in this process
// (tests).
type UserNetwork interface {
	virtio.NetBackend
	io.Closer
}

// UserNetFunc starts a user-mode network in this process (usernet.NewUser).
type UserNetFunc func(forwards []netback.Forward, p netback.UserPolicy) (UserNetwork, error)

// remoteNet is the part of netproc.Remote beyond UserNetwork.
type remoteNet interface {
	Ready() error
	Done() <-chan struct{}
	Pid() int
}

// Config is the network process's configuration for this run's
// user-mode network: its forwards and policy; jail: it confines itself.
func (o *runOptions) UserNetConfig(jail bool) netproc.Config {
	return netproc.Config{Forwards: o.net.forwards, Policy: o.net.policy, Jail: jail}
}

// setupNet opens the backend and creates the virtio-net device. The
// user-mode network is the network process whose socket the jailer passed
// (sock), else one in this process when userNet is set (tests), else a
// network process this launcher starts (netproc.Start; jail: it confines
// itself).
func setupNet(n *netOptions, userNet UserNetFunc, sock *os.File, jail bool) (*guestNet, error) {
	if n.mode == "tap" {
		tap := n.opened
		if tap == nil {
			var err error
			if tap, err = netback.OpenTAP(n.tap); err != nil {
				return nil, err
			}
		}
		// A random locally administered MAC, so guests on one bridge differ.
		dev, err := virtio.NewNet(tap, randomMAC(), tap.MTU())
		if err != nil {
			tap.Close()
			return nil, err
		}
		return &guestNet{dev: dev, backend: tap}, nil
	}
	var user UserNetwork
	var err error
	switch {
	case sock != nil:
		user = netproc.NewRemote(sock, nil)
	case userNet != nil:
		user, err = userNet(n.forwards, n.policy)
	default:
		user, err = netproc.Start(netproc.Config{Forwards: n.forwards, Policy: n.policy, Jail: jail})
	}
	if err != nil {
		return nil, err
	}
	dev, err := virtio.NewNet(user, netback.UserGuestMAC, netback.UserMTU)
	if err != nil {
		user.Close()
		return nil, err
	}
	// The gateway computes every checksum it sends.
	dev.ChecksumsValid = true
	g := &guestNet{dev: dev, backend: user, params: []string{
		fmt.Sprintf("%s=%s/%d", abi.ParamIP, netback.UserGuestIP, netback.UserPrefixLen),
		abi.ParamGateway + "=" + netback.UserGateway,
		abi.ParamDNS + "=" + netback.UserGateway,
	}}
	if r, ok := user.(remoteNet); ok {
		g.ready, g.gone, g.pid = r.Ready, r.Done(), r.Pid()
	}
	return g, nil
}

// addParams appends the network parameters to params, except those the
// user already set with -cmdline, and none when -cmdline sets unigo.ip
// (an address of the user's, or unigo.ip=dhcp): the launcher's gateway
// and name server belong to its address.
func (g *guestNet) addParams(params []string) []string {
	for _, q := range params {
		if strings.HasPrefix(q, abi.ParamIP+"=") {
			return params
		}
	}
	for _, p := range g.params {
		key, _, _ := strings.Cut(p, "=")
		set := false
		for _, q := range params {
			if strings.HasPrefix(q, key+"=") {
				set = true
			}
		}
		if !set {
			params = append(params, p)
		}
	}
	return params
}

// randomMAC is a random locally administered unicast address. getrandom
// rather than crypto/rand: the address needs no more, and crypto/rand
// links the FIPS module's DRBG (AES, SHA-2/3) into the launcher binary,
// whose every page counts in its RSS.
func randomMAC() net.HardwareAddr {
	mac := make(net.HardwareAddr, 6)
	unix.Getrandom(mac, 0)
	mac[0] = mac[0]&^1 | 2 // unicast, locally administered
	return mac
}

// report tells what the network device saw: a driver error always (a
// guest bug worth a line), the frame counters with -v.
func (g *guestNet) report(w io.Writer, verbose bool) {
	if err := g.dev.Err(); err != nil {
		fmt.Fprintf(w, "unigo run: virtio-net: guest driver error, device disabled: %v\n", err)
	}
	if verbose {
		fmt.Fprintf(w, "unigo run: virtio-net: %v\n", g.dev)
	}
}
