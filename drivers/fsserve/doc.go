// Package fsserve serves Go file systems to the unigo kernel: a tree
// mounted at a guest path (a 9P volume, say) or a single device file (a
// block device at /dev/vda). The kernel forwards the program's system calls
// on paths beneath a mount, and on descriptors opened there, to a server
// goroutine of this package through the private system calls of the file
// channel (abi); the server walks the tree through the FS interface
// (fs.go), which the storage drivers implement.
package fsserve
