// Package socket is the kernel's sockets: kernel objects (sock, in kmem)
// behind open files of kind vfs.FdSocket.
//
//   - socket.go: the sock, its rings and datagram queues, and the socket
//     system calls' work (bind, listen, connect, accept, send, receive,
//     shutdown, names); SocketOps is the kind's row of the vfs operations
//     table;
//   - socket_unix.go: AF_UNIX, served entirely here (names, pairs,
//     connection queues, datagrams);
//   - netchan.go: AF_INET and AF_INET6 are served by the netstack, which
//     runs as ordinary goroutines; this is the kernel's side of the channel
//     between them (abi/netchan.go), with its descriptor's row NetchanOps
//     and the flush of inet sockets at exit (NetFlushAtExit);
//   - sockopt.go: setsockopt and getsockopt;
//   - socket_syscall.go: the handlers the system-call table names, SysX
//     taking the trap frame (the work is in the unexported doX).
//
// The two rows are installed in kernel/vfs at boot (vfs.RegisterOps), and
// what sockets need from above (the launcher's readiness when a socket
// listens) through SetHooks, as addresses of static data: no pointer is
// stored in kernel context.
//
// Everything here runs in kernel context (see package kctx); socket state
// is guarded by kctx.SchedLock, like pipes'.
package socket
