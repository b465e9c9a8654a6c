// Package netproc runs the user-mode network (package usernet) in a
// process of its own, the command unigo-net, so that the launcher links
// none of its TCP/IP stack, NAT and their dependencies (gopacket's
// package initialisers and tables), and a guest's frames reach that stack
// outside the process that holds the VM.
//
// The two processes share a SOCK_SEQPACKET socketpair: one bare Ethernet
// frame per message in each direction, after one hello message from the
// network process (Hello, ParseHello): ready, or the one-line reason it
// could not start (a -p port in use). Start spawns the network process
// for the launcher and returns its end as a virtio.NetBackend (Remote);
// the jailer spawns it itself (Spawn) and hands the launcher only the
// socket, so that the jailed launcher can live in an empty network
// namespace. Serve is the network process's side: after the hello it
// hands the socket to the network (usernet.User.Serve), whose switch
// reads and writes it directly, and returns on the socket's EOF. Both
// ends read a burst of messages per system call, and the launcher sends
// a burst of the guest's frames in one (package seqpacket; Remote is a
// virtio.NetBatchBackend); the messages on the wire are the same.
//
// Each process dies with the other: the network process gets SIGKILL
// when its parent dies (PR_SET_PDEATHSIG) and exits on EOF of the
// socket, once its relays have handed the host what the guest sent last
// (usernet.User.Drain, bounded); the launcher sees EOF when the network process is gone
// (Remote.Done) and stops its guest.
package netproc
