// Package vfs is the kernel's files: the descriptor table and open file
// descriptions, and the kinds of file beneath them.
//
//   - file.go: descriptors (fds), open file descriptions (OFile, in kmem
//     memory, reference-counted), FSLock, and the operations table: one
//     static row (FileOps) per kind of open file, declared next to the
//     kind's implementation, through which read, write, lseek, FIONREAD,
//     fstat, epoll readiness and the last close dispatch (OpsOf);
//   - the kinds: memfs files, directories and the /dev stand-ins
//     (fs_file.go), the console (fs_console.go: input from the UART, the
//     launcher's input port or kernel/vcon), pipes and eventfd
//     (fs_pipe.go, with ringwrite.go's write loop, which stream sockets
//     share), epoll (fs_epoll.go), files under a mount served over the file
//     channel (fschan.go, fschan_path.go); ChanRead (chanread.go), the
//     read(2) of a channel descriptor, shared with the netstack channel;
//   - paths and the file system calls: fs_path.go walks paths into
//     kernel/memfs, fs_syscall.go decodes the registers, flock.go, and the
//     files the kernel provides at boot (fs_init.go: /etc, /proc via
//     procfs.go).
//
// Kinds implemented above this package (sockets, the netstack channel)
// have their rows installed at boot with RegisterOps, held by address:
// an OFile lives in kmem and the rows are static data, so neither holds
// nor stores a Go pointer (no write barriers in kernel context). What
// files need from above (routing the console's interrupt) comes through
// SetHooks.
//
// Naming: a system call's handler is SysX, which takes the trap frame and
// decodes the registers (the system-call table names it); the work is in
// the unexported doX beside the kind or path code it belongs to.
//
// Everything here runs in kernel context (see package kctx). Lock order:
// FSLock, then kctx.SchedLock (file.go).
package vfs
