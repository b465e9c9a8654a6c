package abi

// The file channel ABI: how the kernel forwards file system calls on
// mounted trees to a server written in ordinary Go (package
// drivers/fsserve), which serves them from a storage driver (a 9P volume,
// a virtio-blk disk). The kernel's side is kernel/vfs/fschan.go.
//
// Mounts. The server calls SysFsAttach once; it returns the channel
// descriptor. SysFsMount(path, len, flags) makes an absolute guest path a
// mount point (the kernel creates it in memfs if missing: a directory, or
// an empty file for FsMountDevice) and returns the mount's number. From
// then on every path-based system call whose path, made absolute from the
// working directory or the dirfd and cleaned lexically ("." and ".."
// folded, slashes collapsed), lies at or under the mount point goes to
// the server as a request with the path relative to the mount ("" is its
// root); paths are cleaned lexically before the mount is looked up, so
// ".." leaves a mount by name, as if no symlink were involved. Symlinks
// inside a mount are the server's to resolve, within the tree: absolute
// targets from the mount's root, and ".." at the mount's root stays there
// (the volume is its own root, unlike Linux, where a symlink may leave the
// mount). A memfs symlink pointing into a mount is not followed into it.
//
// Requests. read(2) on the channel descriptor blocks until some request
// is queued and fills the buffer (at least FsMaxRecord bytes) with whole
// records: an FsRequest header, then PathLen bytes of Path, then Path2Len
// bytes of Path2, padded to 8 bytes (Size is the record's length). The
// calling thread stays blocked in the kernel until the server answers with
// SysFsReply(id, result, data, n, aux):
//   - result is what the system call returns: >= 0, or -errno;
//   - data/n is the reply's payload, copied by the kernel: for FsOpRead the
//     bytes read (copied into the caller's buffer, at most Len), for
//     FsOpReaddir linux_dirent64 records (at most Len bytes) with aux the
//     cookie to resume from, for FsOpReadlink the target, for FsOpOpen,
//     FsOpStat and FsOpFstat an FsAttr, for FsOpStatfs an FsStatfs;
//   - for FsOpWrite the server first copies the caller's bytes with
//     SysFsPull(id, buf, n, off) (off within the caller's Len bytes), and
//     with FsFlagAppend answers the file's new size in aux.
//
// The kernel copies in both directions (the caller's buffer is validated
// again on each copy), so the server never touches the program's memory
// and a server bug cannot corrupt it. Requests are independent: the server
// may answer them in any order and concurrently (fsserve runs one
// goroutine per request). Request ids carry a generation: a reply or pull
// for an unknown, stale or already answered id fails with EINVAL and
// changes nothing; lengths are clipped to what the request allows.
//
// Handles. FsOpOpen's result is the server's handle for the open file (a
// number >= 1); the kernel quotes it in FsRequest.Handle for the
// descriptor's reads, writes, fstat, fsync, getdents64, ftruncate and
// fchmod, and sends FsOpClose (which nobody waits for; the server still
// replies, to free the request) when the last descriptor is closed.
//
// Read-only mounts: the kernel refuses opens for writing and every call
// that changes the tree with EROFS before asking the server.
const (
	SysFsAttach = 0x1300 // () -> fd
	SysFsMount  = 0x1301 // (path, len, FsMount* flags) -> mount number
	SysFsReply  = 0x1302 // (id, result, data, n, aux) -> 0
	SysFsPull   = 0x1303 // (id, buf, n, off) -> bytes copied
)

// SysFsMount flags.
const (
	FsMountRO     = 1 // refuse writes with EROFS
	FsMountDevice = 2 // a single device file, not a directory
)

// Operations (FsRequest.Op). Paths are relative to the mount, cleaned.
const (
	FsOpOpen     = 1  // Path, Flags (open(2) flags), Mode -> handle; data FsAttr
	FsOpClose    = 2  // Handle
	FsOpRead     = 3  // Handle, Off, Len -> bytes; data the bytes
	FsOpWrite    = 4  // Handle, Off, Len, Flags FsFlagAppend -> bytes; SysFsPull the data
	FsOpStat     = 5  // Path, Flags FsFlagNofollow -> 0; data FsAttr
	FsOpFstat    = 6  // Handle -> 0; data FsAttr
	FsOpReaddir  = 7  // Handle, Off (cookie), Len -> bytes; data dirents, aux next cookie
	FsOpMkdir    = 8  // Path, Mode
	FsOpUnlink   = 9  // Path, Flags FsFlagDir
	FsOpRename   = 10 // Path -> Path2, Flags FsFlagNoReplace
	FsOpSymlink  = 11 // Path (the new link), Path2 (its target, verbatim)
	FsOpReadlink = 12 // Path -> bytes; data the target
	FsOpLink     = 13 // Path (existing) -> Path2 (new name), Flags FsFlagFollow
	FsOpSetattr  = 14 // Path or Handle (non-zero), Flags FsSet* (fsserve.Set*), Mode, Off (size), Atime, Mtime
	FsOpFsync    = 15 // Handle
	FsOpStatfs   = 16 // -> 0; data FsStatfs
)

// FsRequest.Flags bits for operations other than open.
const (
	FsFlagNofollow  = 1 // do not follow a final symlink
	FsFlagDir       = 2 // unlink a directory (rmdir)
	FsFlagNoReplace = 4 // rename: EEXIST if the target exists
	FsFlagFollow    = 8 // link: follow a final symlink in Path
	FsFlagAppend    = 16
)

// FsMaxRecord is the largest request record: header and two paths.
const FsMaxRecord = 80 + 2*4096

// FsRequest is the header of one request record.
type FsRequest struct {
	Size     uint32 // record length, header and paths, a multiple of 8
	Op       uint32
	ID       uint64
	Mount    uint32
	Flags    uint32
	Mode     uint32
	PathLen  uint16
	Path2Len uint16
	Handle   uint64
	Off      int64
	Len      uint64
	Atime    int64 // ns since the epoch, -1: leave
	Mtime    int64
	_        uint64
}

// FsAttr is a file's attributes as the server reports them (times in ns
// since the epoch; Blocks in 512-byte units).
type FsAttr struct {
	Mode   uint32
	_      uint32
	Ino    uint64
	Nlink  uint64
	UID    uint32
	GID    uint32
	Rdev   uint64
	Size   uint64
	Blocks uint64
	Atime  int64
	Mtime  int64
	Ctime  int64
}

// FsStatfs is statfs(2) of a mount.
type FsStatfs struct {
	Type    int64
	Bsize   int64
	Blocks  uint64
	Bfree   uint64
	Bavail  uint64
	Files   uint64
	Ffree   uint64
	NameLen int64
}
