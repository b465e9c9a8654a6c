// Package fsserve serves Go file systems to the unigo kernel: a tree
// mounted at a guest path (Mount: a 9P volume, say) or a single block
// device file (ServeDevice: a disk at /dev/vda). The kernel forwards the
// program's system calls on paths beneath a mount, and on descriptors
// opened there, to this package through the private system calls of the
// file channel (abi/fschan.go); a reader goroutine takes the requests and
// serves each on a goroutine of its own (server.go), walking the tree
// through the FS interface (fs.go), which the storage drivers implement,
// one component at a time and resolving symlinks inside the tree
// (walk.go). MemFS is a small in-memory FS for scratch mounts and tests.
// As a Linux process (no unigo kernel) Mount and ServeDevice return
// ErrNotUnigo.
package fsserve
