package netback

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TAP is a Linux TAP device opened with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR and a
// 12-byte vnet header (TUNSETVNETHDRSZ): each read and write is a
// virtio_net_hdr_v1 followed by one Ethernet frame, the very header the
// guest's virtio-net driver reads and writes. The device passes it through
// (virtio.NetOffloadBackend), so the host kernel completes the guest's
// partial checksums and segments its TSO super-frames, and, as far as
// SetOffloads allows, hands the guest partially checksummed and
// unsegmented frames.
type TAP struct {
	f    *os.File
	name string
	mtu  uint16 // 0: ask the host by name
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
	// Ask the kernel (netlink), not /sys: sysfs shows the namespace it
	// was mounted in, which need not be the launcher's (unshare -n).
	if _, err := net.InterfaceByName(name); err != nil {
		return nil, fmt.Errorf("-net tap=%s: no such network interface (create it with: ip tuntap add %s mode tap user $USER)", name, name)
	}
	if _, err := os.Stat("/sys/class/net/" + name + "/ifindex"); err == nil {
		// sysfs is this namespace's (or shows the same name): it can
		// tell a TAP from other interfaces.
		if _, err := os.Stat("/sys/class/net/" + name + "/tun_flags"); err != nil {
			return nil, fmt.Errorf("-net tap=%s: not a TAP interface", name)
		}
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("-net tap=%s: /dev/net/tun: %w", name, err)
	}
	var req [unix.IFNAMSIZ + 24]byte // struct ifreq: name, then flags
	copy(req[:], name)
	*(*uint16)(unsafe.Pointer(&req[unix.IFNAMSIZ])) = unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR
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
	hdrSize := int32(tapVnetHdrSize)
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETVNETHDRSZ, uintptr(unsafe.Pointer(&hdrSize))); errno != 0 {
		unix.Close(fd)
		return nil, fmt.Errorf("-net tap=%s: TUNSETVNETHDRSZ: %v", name, errno)
	}
	// Until a driver negotiates offloads, the kernel hands over only
	// complete, checksummed frames.
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETOFFLOAD, 0); errno != 0 {
		unix.Close(fd)
		return nil, fmt.Errorf("-net tap=%s: TUNSETOFFLOAD: %v", name, errno)
	}
	// Non-blocking: os.File then waits in the runtime poller, so Close
	// wakes a blocked ReadFrame.
	return &TAP{f: os.NewFile(uintptr(fd), "tap:"+name), name: name}, nil
}

// tapVnetHdrSize is the size of struct virtio_net_hdr_v1 (virtio.NetHdrSize;
// this package does not import the device model).
const tapVnetHdrSize = 12

// TUN_F_* offload flags of TUNSETOFFLOAD (linux/if_tun.h).
const (
	tunFCSUM   = 0x01
	tunFTSO4   = 0x02
	tunFTSO6   = 0x04
	tunFTSOECN = 0x08
)

// SetOffloads implements virtio.NetOffloadBackend: it tells the kernel which
// offloads frames toward the guest may use.
func (t *TAP) SetOffloads(csum, tso4, tso6, ecn bool) error {
	var flags uintptr
	if csum {
		flags |= tunFCSUM
		// Segmentation offloads need checksum offload (virtio spec 5.1.3.1).
		if tso4 {
			flags |= tunFTSO4
		}
		if tso6 {
			flags |= tunFTSO6
		}
		if ecn && (tso4 || tso6) {
			flags |= tunFTSOECN
		}
	}
	raw, err := t.f.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	if err := raw.Control(func(fd uintptr) {
		_, _, errno = unix.Syscall(unix.SYS_IOCTL, fd, unix.TUNSETOFFLOAD, flags)
	}); err != nil {
		return err
	}
	if errno != 0 {
		return fmt.Errorf("TUNSETOFFLOAD %#x: %v", flags, errno)
	}
	return nil
}

// TAPFromFile is a TAP that another process (the jailer) opened with
// OpenTAP and passed down as f, with its interface's MTU: the interface
// may not be visible from here (a fresh network namespace).
func TAPFromFile(f *os.File, name string, mtu uint16) *TAP {
	return &TAP{f: f, name: name, mtu: mtu}
}

// File is the TAP's open descriptor, to pass to another process.
func (t *TAP) File() *os.File { return t.f }

// MTU is the interface's MTU as the host configured it (1500 if unknown),
// which the device announces to the guest.
func (t *TAP) MTU() uint16 {
	if t.mtu != 0 {
		return t.mtu
	}
	ifc, err := net.InterfaceByName(t.name)
	if err != nil || ifc.MTU < 68 || ifc.MTU > 65535 {
		return 1500
	}
	return uint16(ifc.MTU)
}

// Name is the interface name.
func (t *TAP) Name() string { return t.name }

// ReadFrame implements virtio.NetBackend: buf gets the vnet header and
// the frame.
func (t *TAP) ReadFrame(buf []byte) (int, error) { return t.f.Read(buf) }

// WriteFrame implements virtio.NetBackend: frame starts with the vnet
// header. The kernel checks the header and fails the write (EINVAL) if it
// is inconsistent with the frame.
func (t *TAP) WriteFrame(frame []byte) error {
	_, err := t.f.Write(frame)
	return err
}

// Close detaches from the device (a non-persistent one disappears).
func (t *TAP) Close() error { return t.f.Close() }
