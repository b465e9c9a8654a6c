package memfs

import (
	"encoding/binary"
	"unsafe"

	"github.com/unigo-os/unigo/kernel/kmem"
)

// Inode is a handle on a file, directory or symlink: the kmem address of its
// inode record. 0 is "no inode". A handle stays valid while the inode has a
// link or a reference (Ref); after the last Unref of an unlinked inode it
// dangles, exactly like a freed pointer.
type Inode uintptr

// File type and permission bits, as in Linux st_mode.
const (
	ModeType    = 0o170000
	ModeDir     = 0o040000
	ModeRegular = 0o100000
	ModeSymlink = 0o120000
	ModePerm    = 0o7777
)

// Limits, as Linux.
const (
	// NameMax is the longest directory entry name.
	NameMax = 255
	// PathMax is PATH_MAX: it counts the terminating NUL, so a path may
	// be at most PathMax-1 bytes long.
	PathMax = 4096
	// MaxSymlinks is how many symlinks one path walk may follow before it
	// fails with ELOOP.
	MaxSymlinks = 40
	// BlockSize is st_blksize.
	BlockSize = kmem.PageSize
	// Dev is the st_dev reported for every inode (anonymous device 0:21).
	Dev = 0x15
	// StatSize is sizeof(struct stat) on linux/amd64.
	StatSize = 144
	// bogoDirentSize is what tmpfs adds to a directory's st_size per entry.
	bogoDirentSize = 20
)

// inode flags.
const (
	flagStatic = 1 << iota // regular file whose data is a static byte range
)

// inode is the record behind an Inode handle. It lives in kmem memory, so it
// holds no Go pointers: links are uintptr addresses of other kmem blocks.
type inode struct {
	ino   uint64
	mode  uint32
	nlink uint32
	refs  uint32 // open references (file descriptors, cwd) held via Ref
	flags uint32
	size  int64 // bytes; for directories, tmpfs-style bogus size
	atime int64 // ns since the epoch
	mtime int64
	ctime int64

	// Regular files: root of the page tree (see file.go), its height, and
	// the number of data pages it holds. Static files: data is the address
	// of the static bytes. Symlinks: data is a kmem block of size bytes
	// holding the target.
	data   uintptr
	height uint32
	_      uint32
	pages  int64

	// Directories (see dir.go).
	parent     uintptr // containing directory; self for the root, 0 once removed
	dent       uintptr // our entry in parent, so Path can name us
	head, tail uintptr // entries in cookie order
	hint       uintptr // entry ReadDir stopped at, to resume in O(1)
	buckets    uintptr // hash table of entry chains
	nbuckets   uint32
	nents      uint32
	nextCookie uint64
}

const inodeSize = unsafe.Sizeof(inode{})

// fs is the whole filesystem's state. It holds no Go pointers, so storing
// into it needs no write barrier.
var fs struct {
	root       uintptr
	nextIno    uint64
	inodes     int64
	dataPages  int64 // file data pages
	indexPages int64 // page-tree index pages
	metaBytes  int64 // small kmem blocks: inodes, entries, tables, symlinks
}

//go:nosplit
func ip(i uintptr) *inode { return (*inode)(unsafe.Pointer(i)) }

// metaAlloc and metaFree wrap kmem.Alloc/Free and keep the statistics.
func metaAlloc(size uintptr) uintptr {
	p := kmem.Alloc(size)
	if p != 0 {
		fs.metaBytes += blockSize(size)
	}
	return p
}

func metaFree(p, size uintptr) {
	kmem.Free(p, size)
	fs.metaBytes -= blockSize(size)
}

// blockSize is how much kmem really hands out for a request: a power of
// two of at least 16 bytes, or whole pages above 2 KiB.
func blockSize(size uintptr) int64 {
	if size > 2048 {
		return int64((size + kmem.PageSize - 1) &^ (kmem.PageSize - 1))
	}
	b := uintptr(16)
	for b < size {
		b <<= 1
	}
	return int64(b)
}

// newInode allocates an inode of the given type and permissions with no
// links. Returns 0 when memory is exhausted.
func newInode(mode uint32, now int64) uintptr {
	p := metaAlloc(inodeSize)
	if p == 0 {
		return 0
	}
	n := ip(p)
	fs.nextIno++
	n.ino = fs.nextIno
	n.mode = mode
	n.atime, n.mtime, n.ctime = now, now, now
	if mode&ModeType == ModeDir {
		n.size = 2 * bogoDirentSize
		n.nextCookie = firstCookie
	}
	fs.inodes++
	return p
}

// maybeFree releases an inode that has neither links nor references.
func maybeFree(p uintptr) {
	n := ip(p)
	if n.nlink != 0 || n.refs != 0 || p == fs.root {
		return
	}
	switch n.mode & ModeType {
	case ModeRegular:
		if n.flags&flagStatic == 0 {
			truncatePages(n, 0)
		}
	case ModeSymlink:
		metaFree(n.data, uintptr(n.size))
	case ModeDir:
		// Only empty directories lose their last link.
		if n.buckets != 0 {
			metaFree(n.buckets, uintptr(n.nbuckets)*8)
		}
	}
	fs.inodes--
	metaFree(p, inodeSize)
}

// Ref takes a reference on ino (an open file descriptor, a working
// directory): the inode and its data survive unlinking until the matching
// Unref.
func Ref(ino Inode) {
	ip(uintptr(ino)).refs++
}

// Unref drops a reference taken by Ref or returned by Open. An inode that
// has been unlinked is freed with its last reference.
func Unref(ino Inode) {
	n := ip(uintptr(ino))
	if n.refs == 0 {
		return
	}
	n.refs--
	maybeFree(uintptr(ino))
}

// Mode returns the inode's type and permission bits (st_mode).
func Mode(ino Inode) uint32 { return ip(uintptr(ino)).mode }

// IsDir reports whether ino is a directory.
func IsDir(ino Inode) bool { return ip(uintptr(ino)).mode&ModeType == ModeDir }

// Size returns st_size: the byte length of a file or symlink target.
func Size(ino Inode) int64 { return ip(uintptr(ino)).size }

// Number returns the inode number (st_ino).
func Number(ino Inode) uint64 { return ip(uintptr(ino)).ino }

// Nlink returns the link count (st_nlink).
func Nlink(ino Inode) uint32 { return ip(uintptr(ino)).nlink }

// Chmod replaces the permission bits of ino (fchmodat).
func Chmod(ino Inode, perm uint32, now int64) {
	n := ip(uintptr(ino))
	n.mode = n.mode&ModeType | perm&ModePerm
	n.ctime = now
}

// SetTimes sets the access and modification times of ino (utimensat);
// a negative value leaves that time unchanged. The change time becomes now.
func SetTimes(ino Inode, atime, mtime, now int64) {
	n := ip(uintptr(ino))
	if atime >= 0 {
		n.atime = atime
	}
	if mtime >= 0 {
		n.mtime = mtime
	}
	n.ctime = now
}

// Stat encodes ino as a linux/amd64 struct stat into out, which must hold
// StatSize bytes (EINVAL otherwise).
func Stat(ino Inode, out []byte) Errno {
	if len(out) < StatSize {
		return EINVAL
	}
	n := ip(uintptr(ino))
	le := binary.LittleEndian
	le.PutUint64(out[0:], Dev)
	le.PutUint64(out[8:], n.ino)
	le.PutUint64(out[16:], uint64(n.nlink))
	le.PutUint32(out[24:], n.mode)
	le.PutUint32(out[28:], 0) // uid
	le.PutUint32(out[32:], 0) // gid
	le.PutUint32(out[36:], 0) // pad
	le.PutUint64(out[40:], 0) // rdev
	le.PutUint64(out[48:], uint64(n.size))
	le.PutUint64(out[56:], BlockSize)
	blocks := int64(0)
	if n.mode&ModeType == ModeRegular {
		if n.flags&flagStatic != 0 {
			blocks = (n.size + BlockSize - 1) / BlockSize * (BlockSize / 512)
		} else {
			blocks = n.pages * (BlockSize / 512)
		}
	}
	le.PutUint64(out[64:], uint64(blocks))
	putTimespec(out[72:], n.atime)
	putTimespec(out[88:], n.mtime)
	putTimespec(out[104:], n.ctime)
	clear(out[120:StatSize])
	return 0
}

func putTimespec(b []byte, ns int64) {
	sec, nsec := ns/1e9, ns%1e9
	if nsec < 0 {
		sec--
		nsec += 1e9
	}
	binary.LittleEndian.PutUint64(b[0:], uint64(sec))
	binary.LittleEndian.PutUint64(b[8:], uint64(nsec))
}

// Stats is the filesystem's memory and inode usage, for statfs.
type Stats struct {
	Inodes     int64
	DataPages  int64 // 4 KiB pages of file data
	IndexPages int64 // 4 KiB pages of file page tables
	MetaBytes  int64 // inodes, directory entries, hash tables, symlinks
}

// Pages is the total memory in use, in 4 KiB pages (metadata rounded up).
func (s Stats) Pages() int64 {
	return s.DataPages + s.IndexPages + (s.MetaBytes+BlockSize-1)/BlockSize
}

// Usage returns the current statistics.
func Usage() Stats {
	return Stats{Inodes: fs.inodes, DataPages: fs.dataPages, IndexPages: fs.indexPages, MetaBytes: fs.metaBytes}
}
