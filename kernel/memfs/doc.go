// Package memfs is the kernel's root filesystem: an in-memory tree of
// directories, regular files and symlinks with Linux tmpfs semantics. The
// syscall layer (openat, read, write, pread64, pwrite64, lseek, fstat,
// newfstatat, getdents64, mkdirat, unlinkat, renameat2, linkat, symlinkat,
// readlinkat, ftruncate, getcwd, chdir) calls it; it knows nothing of file
// descriptors, offsets or processes.
//
// # API
//
// Inodes are handles (type Inode). Path-level calls mirror the *at system
// calls and resolve paths relative to a directory Inode (the cwd or a
// directory fd; absolute paths start at Root()): Lookup, Open, Mkdir,
// Symlink, Link, Unlink, Rmdir, Rename, Readlink, Chdir, Path (getcwd),
// MkdirAll. Inode-level
// calls serve open files: Read, Write, Truncate, Stat (encodes struct stat),
// ReadDir (encodes linux_dirent64 records and returns a resume cookie),
// Chmod, SetTimes, ReadlinkInode. Errors are Linux errno values (Errno,
// an alias of unix.Errno); 0 is success. Init builds the standard tree,
// AddStatic adds read-only files whose content is a static byte range
// (AddDefaultFiles: /etc/hostname, hosts, passwd, group and the huge page
// size the Go runtime reads from /sys), and
// Usage reports memory and inode counts for statfs.
//
// Memory mappings: PageAt hands out a regular file's own data page
// (allocating a hole), which the kernel maps into the program, so that
// reads, writes and mappings share the bytes; Mappable says which inodes
// allow it. Truncate calls the shrink hook (SetShrinkHook) before it frees
// pages, so the kernel can unmap them first.
//
// Lifetime: an inode lives while it has a directory link or a reference.
// Open returns an inode with a reference that the caller's file descriptor
// owns; Ref/Unref manage others (a working directory, dup'd descriptors may
// share one). So an unlinked file keeps its data until its last Unref, and
// a removed directory stays valid but empty and refuses new entries.
//
// Times are passed in by the caller as nanoseconds since the epoch (now);
// the package reads no clock. Reads do not update atime (noatime).
//
// # Locking
//
// The package has no lock of its own: the caller must serialise every call
// (the kernel holds one filesystem lock around each filesystem syscall).
// Slices returned or filled are the caller's; names inside the tree are
// never handed out.
//
// # Memory rules
//
// This code runs inside syscall handlers on a kernel stack, where the Go
// runtime cannot be used. So nothing here allocates from the Go heap
// (tests check every operation with testing.AllocsPerRun), takes a Go
// lock, panics in normal operation, or stores a Go pointer in kernel memory.
// All state lives in kmem blocks linked by uintptr fields: inodes and
// directory entries are small kmem blocks, directory hash tables grow by
// doubling up to 64 KiB, symlink targets are copied into kmem, and file data
// sits in 4 KiB kmem pages under a radix tree of index pages (file.go), so
// sparse files cost only what they touch. The one package-level struct holds
// integers only. Running out of memory returns ENOSPC and leaves the tree
// consistent; multi-step operations (create, rename) allocate before they
// change anything. Stack frames stay small (the path walk, the largest, uses
// about 1 KiB for its symlink stack) and recursion is bounded by the page
// tree height (4).
package memfs
