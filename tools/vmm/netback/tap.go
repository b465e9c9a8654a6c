package netback

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TAP is a Linux TAP device. It is opened with IFF_TAP|IFF_NO_PI and
// without IFF_VNET_HDR: each read and write is one bare Ethernet frame, the
// kernel completes checksums of frames it hands us, and the virtio-net
// device completes those the guest leaves partial, so no offload state
// crosses the file descriptor.
type TAP struct {
	f    *os.File
	name string
}

// OpenTAP attaches to the existing TAP interface name (typically made
// persistent with `ip tuntap add NAME mode tap user USER`, then bridged or
// addressed by the host's administrator). It does not create one: a TAP
// that nobody configured would leave the guest on a dead link, so a
// missing interface is an error.
func OpenTAP(name string) (*TAP, error) {
	if name == "" || len(name) >= unix.IFNAMSIZ || strings.ContainsAny(name, "/ \t\n") {
		return nil, fmt.Errorf("-net tap=%q: want an interface name of 1 to %d bytes", name, unix.IFNAMSIZ-1)
	}
	if _, err := os.Stat("/sys/class/net/" + name); err != nil {
		return nil, fmt.Errorf("-net tap=%s: no such network interface (create it with: ip tuntap add %s mode tap user $USER)", name, name)
	}
	if _, err := os.Stat("/sys/class/net/" + name + "/tun_flags"); err != nil {
		return nil, fmt.Errorf("-net tap=%s: not a TAP interface", name)
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("-net tap=%s: /dev/net/tun: %w", name, err)
	}
	var req [unix.IFNAMSIZ + 24]byte // struct ifreq: name, then flags
	copy(req[:], name)
	*(*uint16)(unsafe.Pointer(&req[unix.IFNAMSIZ])) = unix.IFF_TAP | unix.IFF_NO_PI
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETIFF, uintptr(unsafe.Pointer(&req[0]))); errno != 0 {
		unix.Close(fd)
		if errors.Is(errno, unix.EPERM) {
			return nil, fmt.Errorf("-net tap=%s: TAP interface not owned by this user (%v)", name, errno)
		}
		if errors.Is(errno, unix.EBUSY) {
			return nil, fmt.Errorf("-net tap=%s: TAP interface in use by another process", name)
		}
		return nil, fmt.Errorf("-net tap=%s: %v", name, errno)
	}
	// Non-blocking: os.File then waits in the runtime poller, so Close
	// wakes a blocked ReadFrame.
	return &TAP{f: os.NewFile(uintptr(fd), "tap:"+name), name: name}, nil
}

// Name is the interface name.
func (t *TAP) Name() string { return t.name }

// ReadFrame implements virtio.NetBackend.
func (t *TAP) ReadFrame(buf []byte) (int, error) { return t.f.Read(buf) }

// WriteFrame implements virtio.NetBackend.
func (t *TAP) WriteFrame(frame []byte) error {
	_, err := t.f.Write(frame)
	return err
}

// Close detaches from the device (a non-persistent one disappears).
func (t *TAP) Close() error { return t.f.Close() }
