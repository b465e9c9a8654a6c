// Package netstack gives a unigo program TCP/IP: gVisor's pkg/tcpip (IPv4,
// IPv6, ARP, ICMP, TCP with SACK and window scaling, UDP) on a loopback
// interface and on the virtio-net devices the program's image brings,
// behind the kernel's AF_INET and AF_INET6 sockets, so that the standard
// net package works unchanged.
//
// A program gets it by importing it (unigo build adds the import when the
// program uses net). Its init attaches to the kernel's netstack channel
// (abi/netchan.go): the kernel keeps each socket's buffers,
// addresses and options and serves the program's system calls; this
// package runs as ordinary goroutines beside the program and moves data
// between those sockets and gVisor endpoints. Run natively (as a Linux
// process) the attach fails and the package does nothing: the program
// uses Linux's network.
//
// Configuration: the first device takes its address, default route and
// name server from the command line (unigo.ip/gw/dns, config.go), else
// from a DHCPv4 lease (dhcp.go: no unigo.ip, or unigo.ip=dhcp), which a
// goroutine obtains, renews and, if lost, seeks again; init waits for it
// at most dhcpInitialWait, so a network without a server delays the
// program's start by that much and no more. /etc/resolv.conf, /etc/hosts
// and the host name (sethostname, from a server that names the host)
// follow the configuration in force.
//
// The link (link.go) is gVisor's link endpoint over a virtio-net device:
// transmit offloads (offload.go), frames held while the device's queues
// are full, and bare ACKs held briefly so the response carries them
// (ackhold.go: gVisor has no delayed ACK).
//
// Ownership: all work on a socket's endpoint (requests, sends, receives,
// accepts, close) is done by its step, which a pool of GOMAXPROCS worker
// goroutines runs when the kernel's events or the endpoint's waiter queue
// post to it (workers.go); a socket is queued at most once and stepped by
// one worker at a time, and the dispatcher goroutine only routes events.
// So an endpoint is never used from two goroutines at once, gVisor's
// callbacks, which run under its locks, only post, and an idle connection
// costs no goroutine. A step never blocks: the wait for a closed stream's
// last acknowledgement runs in a goroutine of its own.
package netstack
