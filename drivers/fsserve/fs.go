package fsserve

import (
	"io"
	"syscall"

	"github.com/unigo-os/unigo/abi"
)

// FS is a file system served to the kernel: a tree reached from Root.
// Errors are syscall.Errno values (ENOENT, EROFS, ENOSPC, ...), which the
// kernel returns to the program unchanged; any other error becomes EIO.
//
// Confinement is the server's job, not the FS's: the server walks paths one
// component at a time from Root, never passes "." or ".." or a name with a
// '/' to Walk, resolves symlinks itself (a target is resolved inside the
// tree, an absolute one from Root: the tree is its own root), and so never
// asks the FS for anything outside the tree. An FS over a host directory
// must still refuse to escape it (its own check, since the host tree can
// change under it).
type FS interface {
	// Root returns the tree's root directory. Each call returns a new
	// Node, which the caller closes.
	Root() (Node, error)
	// Statfs describes the file system (statfs(2)).
	Statfs() (Statfs, error)
}

// Node is one file, directory, symlink or device in the tree, like a 9P
// fid: it names the object, not an open file. Every Node returned is owned
// by the caller, who closes it.
type Node interface {
	io.Closer
	// Walk returns the child called name of this directory (ENOTDIR if
	// this is not one); it does not follow a symlink.
	Walk(name string) (Node, error)
	// Attr returns the object's attributes.
	Attr() (Attr, error)
	// SetAttr changes the attributes named in valid (SetMode, SetSize,
	// SetUID, SetGID, SetAtime, SetMtime) to those in a.
	SetAttr(valid uint32, a Attr) error
	// Open opens the object with open(2) flags (O_ACCMODE, O_TRUNC,
	// O_APPEND, O_DIRECTORY; never O_CREAT).
	Open(flags int) (Handle, error)
	// Create makes and opens a regular file called name in this
	// directory (EEXIST if name exists).
	Create(name string, flags int, mode uint32) (Node, Handle, error)
	// Mkdir, Symlink and Mknod make an entry called name in this directory.
	Mkdir(name string, mode uint32) error
	Symlink(name, target string) error
	// Readlink returns a symlink's target.
	Readlink() (string, error)
	// Link makes name in this directory a hard link to target.
	Link(target Node, name string) error
	// Unlink removes name from this directory: a directory (which must be
	// empty) when dir is set, anything else otherwise.
	Unlink(name string, dir bool) error
	// Rename moves this directory's entry name to newName in newDir,
	// replacing what was there as rename(2) does.
	Rename(name string, newDir Node, newName string) error
}

// Handle is an open object.
type Handle interface {
	io.Closer
	io.ReaderAt
	io.WriterAt
	// Sync makes the object's data and attributes durable (fsync(2)); for
	// a host file or a block device it reaches the host's storage.
	Sync() error
	// Readdir returns the directory entries after cookie (0: from the
	// start), at most count of them; each carries the cookie to resume
	// after it. An empty result means the end.
	Readdir(cookie uint64, count int) ([]Dirent, error)
}

// Attr is a stat(2) view of a Node: Mode (type and permission bits, as
// st_mode), Ino, Nlink, UID, GID, Rdev, Size, Blocks (512-byte blocks) and
// Atime, Mtime, Ctime in nanoseconds since the epoch. It is the file
// channel's record itself, so the server passes it to the kernel as is.
type Attr = abi.FsAttr

// SetAttr valid bits.
const (
	SetMode = 1 << iota
	SetUID
	SetGID
	SetSize
	SetAtime
	SetMtime
)

// Dirent is one directory entry.
type Dirent struct {
	Name   string
	Ino    uint64
	Type   uint8 // DT_* as in linux_dirent64.d_type
	Cookie uint64
}

// Statfs is a statfs(2) view of an FS, the file channel's record.
type Statfs = abi.FsStatfs

// The errors an FS most often returns.
const (
	ENOENT  = syscall.ENOENT
	EROFS   = syscall.EROFS
	ENOTDIR = syscall.ENOTDIR
	EIO     = syscall.EIO
)
