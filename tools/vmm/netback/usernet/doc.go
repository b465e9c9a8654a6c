// Package usernet is the launcher's user-mode network, the default
// virtio-net backend: an in-process virtual switch and gateway
// (gvisor-tap-vsock on gVisor's tcpip stack) that gives the guest DHCP,
// DNS and NAT to the host's network under a policy (netback.UserPolicy),
// and forwards host ports to it (netback.Forward), with no root and no
// TAP device. The gateway acknowledges the guest's bytes before the host
// has them, so after the guest has gone, Drain lets the relays deliver
// them. It is a package of its own so that a launcher without
// networking links none of it: its dependencies' package initialisers
// (gopacket's tables among them) run in every process that imports it.
package usernet
