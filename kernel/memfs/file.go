package memfs

import (
	"unsafe"

	"github.com/unigo-os/unigo/kernel/kmem"
)

// File data lives in 4 KiB pages found through a radix tree of index pages,
// each holding 512 page addresses. A tree of height h covers 512^h pages:
// height 0 means inode.data is the single data page itself, so small files
// cost no index page. The tree grows at the top when a write lands beyond its
// reach and is trimmed by truncation. Missing entries are holes and read as
// zeros. Bytes of allocated pages beyond the file size read as zeros once
// the file grows over them (write past EOF, truncate up): pages wholly
// beyond it are freed by truncation, and the last page's tail, which a
// shared mapping may store into, is cleared when the file grows (zeroTail).

const (
	pageShift  = 12
	pageSize   = 1 << pageShift
	indexShift = 9 // 512 entries per index page
	indexMask  = 1<<indexShift - 1
	maxHeight  = 4

	// MaxFileSize is the largest file size: what a tree of maxHeight
	// covers (256 TiB). Writes and truncates beyond it fail with EFBIG.
	MaxFileSize = int64(1) << (pageShift + indexShift*maxHeight)
)

// capPages is how many pages a tree of height h covers.
func capPages(h uint32) uint64 { return uint64(1) << (indexShift * h) }

func slotAt(node uintptr, i uint64) *uintptr {
	return (*uintptr)(unsafe.Pointer(node + uintptr(i)*8))
}

// lookupPage returns the data page holding page index pg, or 0 for a hole.
func lookupPage(n *inode, pg uint64) uintptr {
	if n.data == 0 || pg >= capPages(n.height) {
		return 0
	}
	p := n.data
	for lvl := n.height; lvl > 0; lvl-- {
		p = *slotAt(p, (pg>>(indexShift*(lvl-1)))&indexMask)
		if p == 0 {
			return 0
		}
	}
	return p
}

// allocPage returns the data page for page index pg, allocating it and any
// missing index pages. On ENOSPC the tree is left consistent (possibly with
// new, empty index pages that truncation reclaims).
func allocPage(n *inode, pg uint64) (uintptr, Errno) {
	if n.data == 0 {
		n.height = 0
		for pg >= capPages(n.height) {
			n.height++
		}
	}
	for pg >= capPages(n.height) {
		idx := kmem.AllocPage()
		if idx == 0 {
			return 0, ENOSPC
		}
		fs.indexPages++
		*slotAt(idx, 0) = n.data
		n.data = idx
		n.height++
	}
	slot := &n.data
	for lvl := n.height; ; lvl-- {
		if *slot == 0 {
			p := kmem.AllocPage()
			if p == 0 {
				return 0, ENOSPC
			}
			if lvl == 0 {
				fs.dataPages++
				n.pages++
			} else {
				fs.indexPages++
			}
			*slot = p
		}
		if lvl == 0 {
			return *slot, 0
		}
		slot = slotAt(*slot, (pg>>(indexShift*(lvl-1)))&indexMask)
	}
}

// freeSubtree frees node (of the given level) and everything below it.
// Recursion is bounded by maxHeight.
func freeSubtree(n *inode, node uintptr, lvl uint32) {
	if lvl == 0 {
		kmem.FreePage(node)
		fs.dataPages--
		n.pages--
		return
	}
	for i := uint64(0); i <= indexMask; i++ {
		if c := *slotAt(node, i); c != 0 {
			freeSubtree(n, c, lvl-1)
		}
	}
	kmem.FreePage(node)
	fs.indexPages--
}

// freeFrom frees every page at or beyond page index first (relative to
// node, a level lvl >= 1 index page) and index pages left covering nothing.
func freeFrom(n *inode, node uintptr, lvl uint32, first uint64) {
	span := capPages(lvl - 1)
	for i := first / span; i <= indexMask; i++ {
		s := slotAt(node, i)
		if *s == 0 {
			continue
		}
		if start := i * span; start >= first {
			freeSubtree(n, *s, lvl-1)
			*s = 0
		} else {
			freeFrom(n, *s, lvl-1, first-start)
		}
	}
}

// truncatePages frees the pages wholly beyond size and zeroes the tail of
// the page that straddles it.
func truncatePages(n *inode, size int64) {
	if n.data == 0 {
		n.height = 0
		return
	}
	first := uint64(size+pageSize-1) >> pageShift
	switch {
	case first == 0:
		freeSubtree(n, n.data, n.height)
		n.data, n.height = 0, 0
		return
	case first < capPages(n.height):
		freeFrom(n, n.data, n.height, first)
	}
	if off := size & (pageSize - 1); off != 0 {
		if p := lookupPage(n, uint64(size)>>pageShift); p != 0 {
			clear(pageBytes(p)[off:])
		}
	}
}

// zeroTail clears the bytes beyond the end of file in its last page
// before the file grows over them: a shared mapping may have stored
// there, and growing must show zeros.
func zeroTail(n *inode) {
	if off := n.size & (pageSize - 1); off != 0 {
		if p := lookupPage(n, uint64(n.size)>>pageShift); p != 0 {
			clear(pageBytes(p)[off:])
		}
	}
}

func pageBytes(p uintptr) []byte { return unsafe.Slice((*byte)(unsafe.Pointer(p)), pageSize) }

// regularOnly is the error for reading, writing or truncating n unless it
// is a regular file: EISDIR for a directory, EINVAL for anything else.
func regularOnly(n *inode) Errno {
	switch n.mode & ModeType {
	case ModeRegular:
		return 0
	case ModeDir:
		return EISDIR
	}
	return EINVAL
}

// Read copies up to len(buf) bytes of ino starting at off into buf and
// returns how many it copied: 0 at or beyond end of file. Holes read as
// zeros. Access times are not updated (the filesystem behaves as noatime).
func Read(ino Inode, buf []byte, off int64) (int, Errno) {
	n := ip(uintptr(ino))
	if e := regularOnly(n); e != 0 {
		return 0, e
	}
	if off < 0 {
		return 0, EINVAL
	}
	if off >= n.size {
		return 0, 0
	}
	count := int64(len(buf))
	if count > n.size-off {
		count = n.size - off
	}
	if n.flags&flagStatic != 0 {
		src := unsafe.Slice((*byte)(unsafe.Pointer(n.data)), n.size)
		return copy(buf, src[off:off+count]), 0
	}
	done := int64(0)
	for done < count {
		pos := off + done
		in := pos & (pageSize - 1)
		chunk := pageSize - in
		if chunk > count-done {
			chunk = count - done
		}
		dst := buf[done : done+chunk]
		if p := lookupPage(n, uint64(pos)>>pageShift); p != 0 {
			copy(dst, pageBytes(p)[in:])
		} else {
			clear(dst)
		}
		done += chunk
	}
	return int(done), 0
}

// Write copies buf into ino at off, extending the file as needed, and
// returns how many bytes it wrote. When memory runs out part-way it returns
// the partial count, or ENOSPC if nothing was written. A write that would
// end beyond MaxFileSize is cut short there (EFBIG if off is at or beyond
// it). O_APPEND is the caller's business: pass off = Size(ino).
func Write(ino Inode, buf []byte, off int64, now int64) (int, Errno) {
	n := ip(uintptr(ino))
	if e := regularOnly(n); e != 0 {
		return 0, e
	}
	if n.flags&flagStatic != 0 {
		return 0, EACCES
	}
	if off < 0 {
		return 0, EINVAL
	}
	if len(buf) == 0 {
		return 0, 0
	}
	if off >= MaxFileSize {
		return 0, EFBIG
	}
	count := int64(len(buf))
	if count > MaxFileSize-off {
		count = MaxFileSize - off
	}
	if off > n.size {
		zeroTail(n)
	}
	done := int64(0)
	var err Errno
	for done < count {
		pos := off + done
		in := pos & (pageSize - 1)
		chunk := pageSize - in
		if chunk > count-done {
			chunk = count - done
		}
		p, e := allocPage(n, uint64(pos)>>pageShift)
		if e != 0 {
			err = e
			break
		}
		copy(pageBytes(p)[in:], buf[done:done+chunk])
		done += chunk
	}
	if done == 0 {
		return 0, err
	}
	if off+done > n.size {
		n.size = off + done
	}
	n.mtime, n.ctime = now, now
	return int(done), 0
}

// Truncate sets the size of regular file ino (ftruncate, O_TRUNC).
// Shrinking frees the pages beyond the new size; growing leaves a hole.
func Truncate(ino Inode, size int64, now int64) Errno {
	n := ip(uintptr(ino))
	if e := regularOnly(n); e != 0 {
		return e
	}
	if n.flags&flagStatic != 0 {
		return EACCES
	}
	if size < 0 {
		return EINVAL
	}
	if size > MaxFileSize {
		return EFBIG
	}
	if size == n.size {
		return 0
	}
	if size < n.size {
		callShrinkHook(ino, size)
		truncatePages(n, size)
	} else {
		zeroTail(n)
	}
	n.size = size
	n.mtime, n.ctime = now, now
	return 0
}

// Mappable reports whether ino can be memory-mapped: a regular file whose
// data lives in the page tree (not a static file).
func Mappable(ino Inode) bool {
	n := ip(uintptr(ino))
	return n.mode&ModeType == ModeRegular && n.flags&flagStatic == 0
}

// PageAt returns the data page holding page index pg of regular file ino,
// allocating it (zeroed) if it is a hole: mmap maps the file's own pages,
// so that reads, writes and mappings see the same bytes. The page stays
// the file's until truncation frees it (see SetShrinkHook). The caller
// checks pg against the size; ENOSPC when memory is exhausted.
func PageAt(ino Inode, pg uint64) (uintptr, Errno) {
	n := ip(uintptr(ino))
	if !Mappable(ino) {
		return 0, ENODEV
	}
	if pg >= uint64(MaxFileSize>>pageShift) {
		return 0, EFBIG
	}
	if p := lookupPage(n, pg); p != 0 {
		return p, 0
	}
	return allocPage(n, pg)
}

// shrinkHook holds the func value (its funcval address, a static function:
// storing a func value would need a write barrier) that Truncate calls
// before it frees pages.
var shrinkHook uintptr

// SetShrinkHook installs f, a top-level function, as what Truncate calls
// before a file shrinks to size: its pages from PageRound(size) on are
// about to be freed and the tail of the page holding size zeroed. The
// kernel unmaps them from every mapping of the file there, so that no
// freed page stays mapped. nil removes it.
func SetShrinkHook(f func(ino Inode, size int64)) {
	if f == nil {
		shrinkHook = 0
		return
	}
	shrinkHook = *(*uintptr)(unsafe.Pointer(&f))
}

func callShrinkHook(ino Inode, size int64) {
	if h := shrinkHook; h != 0 {
		(*(*func(Inode, int64))(unsafe.Pointer(&h)))(ino, size)
	}
}
