// Package netback holds the host ends of the launcher's virtio-net device:
// the places guest Ethernet frames go to and come from. Each backend
// implements virtio.NetBackend (one frame per ReadFrame/WriteFrame) and
// io.Closer; TAP also implements virtio.NetOffloadBackend (frames carry the
// virtio-net header, so checksum and segmentation offloads reach the host
// kernel).
//
//   - usernet.User (subpackage usernet) is user-mode networking, the
//     default: a virtual switch and gateway (gvisor-tap-vsock on gVisor's
//     tcpip stack) that gives the guest DHCP, DNS and NAT to the host's
//     network, and forwards host ports to the guest, with no root and no
//     TAP device. It runs in a process of its own, unigo-net; the
//     launcher's backend is that process's socket (subpackage netproc).
//   - TAP is a Linux TAP device opened through /dev/net/tun with a vnet
//     header, for hosts that bridge or route the guest onto a real network.
//
// The package also owns the user-mode network's addressing plan
// (UserSubnet and friends), which the launcher passes to the guest as its
// static configuration, its policy (UserPolicy) and port forwards
// (Forward, the -p flag): what the command line needs, without the
// network itself, so that importing netback links no TCP/IP stack.
package netback
