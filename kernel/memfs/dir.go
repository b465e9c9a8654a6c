package memfs

import (
	"bytes"
	"encoding/binary"
	"unsafe"
)

// A directory is a hash table of entries for lookup plus a doubly linked
// list of the same entries in insertion order. Every entry gets a cookie from
// a per-directory counter that only grows, so the list is sorted by cookie
// and "resume after cookie c" is well defined however the directory changes
// between two getdents64 calls: entries removed meanwhile are simply gone,
// entries added meanwhile come after every older one. Cookies 1 and 2 are
// "." and "..". ReadDir remembers the entry it stopped at (inode.hint) so a
// sequential scan costs O(1) per call to resume rather than O(entries).

const (
	cookieDot    = 1
	cookieDotDot = 2
	firstCookie  = 3

	minBuckets = 8
	// maxBuckets bounds the table at 64 KiB (kmem's largest block); beyond
	// it chains simply grow longer.
	maxBuckets = 8192
)

// dirent is a directory entry; its name follows the header in the same
// kmem block.
type dirent struct {
	hnext      uintptr // next entry in the hash chain
	next, prev uintptr // neighbours in cookie order
	node       uintptr // the inode
	cookie     uint64
	hash       uint32
	namelen    uint32
}

const direntSize = unsafe.Sizeof(dirent{})

//go:nosplit
func dp(p uintptr) *dirent { return (*dirent)(unsafe.Pointer(p)) }

func direntName(p uintptr) []byte {
	d := dp(p)
	return unsafe.Slice((*byte)(unsafe.Pointer(p+direntSize)), d.namelen)
}

// hashName is FNV-1a.
func hashName(name []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range name {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}

func bucket(dir *inode, h uint32) *uintptr {
	return slotAt(dir.buckets, uint64(h&(dir.nbuckets-1)))
}

// dirLookup returns the entry called name in dir, or 0.
func dirLookup(dir *inode, name []byte) uintptr {
	if dir.nbuckets == 0 {
		return 0
	}
	h := hashName(name)
	for e := *bucket(dir, h); e != 0; e = dp(e).hnext {
		if dp(e).hash == h && bytes.Equal(direntName(e), name) {
			return e
		}
	}
	return 0
}

// newDirent allocates an unlinked entry for name pointing at node.
func newDirent(name []byte, node uintptr) uintptr {
	e := metaAlloc(direntSize + uintptr(len(name)))
	if e == 0 {
		return 0
	}
	d := dp(e)
	d.node = node
	d.hash = hashName(name)
	d.namelen = uint32(len(name))
	copy(unsafe.Slice((*byte)(unsafe.Pointer(e+direntSize)), len(name)), name)
	return e
}

// freeDirent frees an unlinked entry. The header is cleared first so that a
// stale reference (a bug) sees an empty entry rather than plausible links.
func freeDirent(e uintptr) {
	size := direntSize + uintptr(dp(e).namelen)
	*dp(e) = dirent{}
	metaFree(e, size)
}

// grow rehashes dir into a table twice as large, or creates the first one.
// Failing to allocate is fine for growth (chains get longer) but not for
// the first table, which dirInsert reports.
func grow(dir *inode) {
	nb := uint32(minBuckets)
	if dir.nbuckets != 0 {
		nb = dir.nbuckets * 2
	}
	t := metaAlloc(uintptr(nb) * 8)
	if t == 0 {
		return
	}
	old, oldn := dir.buckets, dir.nbuckets
	dir.buckets, dir.nbuckets = t, nb
	for e := dir.head; e != 0; e = dp(e).next {
		b := bucket(dir, dp(e).hash)
		dp(e).hnext = *b
		*b = e
	}
	if old != 0 {
		metaFree(old, uintptr(oldn)*8)
	}
}

// dirInsert links entry e into dir, giving it the next cookie. It fails only
// when dir has no hash table yet and none can be allocated.
func dirInsert(dir *inode, e uintptr) Errno {
	if dir.nbuckets == 0 || (dir.nents >= dir.nbuckets && dir.nbuckets < maxBuckets) {
		grow(dir)
		if dir.nbuckets == 0 {
			return ENOSPC
		}
	}
	d := dp(e)
	d.cookie = dir.nextCookie
	dir.nextCookie++
	b := bucket(dir, d.hash)
	d.hnext = *b
	*b = e
	d.prev, d.next = dir.tail, 0
	if dir.tail != 0 {
		dp(dir.tail).next = e
	} else {
		dir.head = e
	}
	dir.tail = e
	dir.nents++
	dir.size += bogoDirentSize
	return 0
}

// dirRemove unlinks entry e from dir without freeing it.
func dirRemove(dir *inode, e uintptr) {
	d := dp(e)
	for b := bucket(dir, d.hash); *b != 0; b = &dp(*b).hnext {
		if *b == e {
			*b = d.hnext
			break
		}
	}
	if d.prev != 0 {
		dp(d.prev).next = d.next
	} else {
		dir.head = d.next
	}
	if d.next != 0 {
		dp(d.next).prev = d.prev
	} else {
		dir.tail = d.prev
	}
	if dir.hint == e {
		dir.hint = d.prev
	}
	d.hnext, d.next, d.prev = 0, 0, 0
	dir.nents--
	dir.size -= bogoDirentSize
}

// Linux d_type values.
const (
	dtDir = 4
	dtReg = 8
	dtLnk = 10
)

func dtype(mode uint32) byte {
	switch mode & ModeType {
	case ModeDir:
		return dtDir
	case ModeSymlink:
		return dtLnk
	}
	return dtReg
}

// direntRecLen is the size of a linux_dirent64 record for a name.
func direntRecLen(namelen int) int { return (19 + namelen + 1 + 7) &^ 7 }

// putDirent64 encodes one linux_dirent64 record at the start of buf and
// returns its length, or 0 if it does not fit.
func putDirent64(buf []byte, ino uint64, off uint64, typ byte, name []byte) int {
	rl := direntRecLen(len(name))
	if rl > len(buf) {
		return 0
	}
	le := binary.LittleEndian
	le.PutUint64(buf[0:], ino)
	le.PutUint64(buf[8:], off)
	le.PutUint16(buf[16:], uint16(rl))
	buf[18] = typ
	copy(buf[19:], name)
	clear(buf[19+len(name) : rl])
	return rl
}

var (
	dotName    = [1]byte{'.'}
	dotDotName = [2]byte{'.', '.'}
)

// ReadDir encodes the entries of dir that come after cookie as
// linux_dirent64 records into buf (getdents64). Cookie 0 starts at the
// beginning; pass back the returned next cookie to continue. It returns the
// number of bytes written (0 at the end), EINVAL if buf cannot hold even the
// next record, ENOTDIR for a non-directory and ENOENT for a removed one.
// Each record's d_off is the cookie that resumes after it, so lseek to a
// d_off value also works.
func ReadDir(ino Inode, cookie uint64, buf []byte) (int, uint64, Errno) {
	dir := ip(uintptr(ino))
	if dir.mode&ModeType != ModeDir {
		return 0, cookie, ENOTDIR
	}
	if dir.nlink == 0 {
		return 0, cookie, ENOENT
	}
	n := 0
	if cookie < cookieDot {
		rl := putDirent64(buf[n:], dir.ino, cookieDot, dtDir, dotName[:])
		if rl == 0 {
			return 0, cookie, EINVAL
		}
		n += rl
		cookie = cookieDot
	}
	if cookie < cookieDotDot {
		rl := putDirent64(buf[n:], ip(dir.parent).ino, cookieDotDot, dtDir, dotDotName[:])
		if rl == 0 {
			return tooSmall(n, cookie)
		}
		n += rl
		cookie = cookieDotDot
	}
	// Find the first entry after cookie, from the hint when it helps.
	e := dir.head
	if h := dir.hint; h != 0 && dp(h).cookie <= cookie {
		e = h
	}
	for e != 0 && dp(e).cookie <= cookie {
		e = dp(e).next
	}
	for ; e != 0; e = dp(e).next {
		d := dp(e)
		rl := putDirent64(buf[n:], ip(d.node).ino, d.cookie, dtype(ip(d.node).mode), direntName(e))
		if rl == 0 {
			return tooSmall(n, cookie)
		}
		n += rl
		cookie = d.cookie
		dir.hint = e
	}
	return n, cookie, 0
}

func tooSmall(n int, cookie uint64) (int, uint64, Errno) {
	if n == 0 {
		return 0, cookie, EINVAL
	}
	return n, cookie, 0
}
