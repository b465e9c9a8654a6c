package memfs

import "unsafe"

// walkResult is where a path walk ended. For a path whose last component
// exists, node is its inode and parent the directory holding it. For a
// missing last component node is 0 and parent/name say where it would be
// created. A path that names the root or ends in a symlink to "/" has a nil
// name and parent 0. name may be "." or "..", and points into the caller's
// path or a symlink target: valid until the tree changes.
type walkResult struct {
	parent uintptr
	node   uintptr
	// The name, as an address and a length rather than a []byte: the
	// caller's result lives behind a pointer, and storing a slice there
	// would compile to a GC write barrier, which kernel context cannot
	// run (it has no P). See name.
	nameAddr uintptr
	nameLen  int
	// slash is set when the last component was followed by a slash, which
	// demands a directory.
	slash bool
}

// name returns the last component's name (nil for none).
func (r *walkResult) name() []byte {
	if r.nameAddr == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(r.nameAddr)), r.nameLen)
}

func isDot(name []byte) bool    { return len(name) == 1 && name[0] == '.' }
func isDotDot(name []byte) bool { return len(name) == 2 && name[0] == '.' && name[1] == '.' }

func symlinkTarget(n *inode) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(n.data)), n.size)
}

func isType(p uintptr, t uint32) bool { return ip(p).mode&ModeType == t }

// walkMode says whether walk follows a symlink in the last component.
type walkMode int

const (
	// followEntry never follows it: for operations on the entry itself
	// (unlink, rmdir, rename, mkdir, symlink, link's new name), where
	// Linux does not follow even with a trailing slash ("link/" then fails
	// with ENOTDIR or EEXIST rather than acting on the target).
	followEntry walkMode = iota
	// followSlash follows it only when the path ends in a slash, which
	// demands a directory (lstat, O_NOFOLLOW, readlink).
	followSlash
	// followAlways always follows it (stat, open).
	followAlways
)

// walk resolves path relative to directory start (ignored for absolute
// paths). Symlinks in the middle of the path are always followed; the last
// component's symlink is followed as mode says. It fails with ENOENT or ENOTDIR for a missing or non-directory
// intermediate component, ENAMETOOLONG for a component over NameMax bytes
// or a path of PathMax bytes or more, and ELOOP past MaxSymlinks links.
//
// Symlink expansion is iterative: the unprocessed rest of the current path
// is pushed on a small stack while the target is walked, so the walk uses a
// fixed ~1 KiB frame however deep the links nest.
func walk(start Inode, path []byte, mode walkMode, r *walkResult) Errno {
	*r = walkResult{}
	if len(path) == 0 {
		return ENOENT
	}
	if len(path) >= PathMax {
		return ENAMETOOLONG
	}
	var stack [MaxSymlinks][]byte
	sp, links := 0, 0
	cur := uintptr(start)
	rest := path
	if rest[0] == '/' {
		cur = fs.root
	}
	if !isType(cur, ModeDir) {
		return ENOTDIR
	}
	for {
		i := 0
		for i < len(rest) && rest[i] == '/' {
			i++
		}
		rest = rest[i:]
		if len(rest) == 0 {
			if sp > 0 {
				sp--
				rest = stack[sp]
				continue
			}
			// The path (or the final symlink target) is all slashes.
			r.node = cur
			return 0
		}
		j := 0
		for j < len(rest) && rest[j] != '/' {
			j++
		}
		comp := rest[:j]
		if j > NameMax {
			return ENAMETOOLONG
		}
		hadSlash := j < len(rest)
		for j < len(rest) && rest[j] == '/' {
			j++
		}
		rest = rest[j:]
		last := len(rest) == 0 && sp == 0

		cd := ip(cur)
		var next uintptr
		switch {
		case isDot(comp):
			next = cur
		case isDotDot(comp):
			next = cd.parent
			if next == 0 {
				return ENOENT // cur was removed
			}
		default:
			if cd.nlink == 0 {
				return ENOENT
			}
			if e := dirLookup(cd, comp); e != 0 {
				next = dp(e).node
			}
		}

		if last {
			r.slash = r.slash || hadSlash
			if next != 0 && isType(next, ModeSymlink) && (mode == followAlways || mode == followSlash && r.slash) {
				links++
				if links > MaxSymlinks {
					return ELOOP
				}
				rest = symlinkTarget(ip(next))
				if rest[0] == '/' {
					cur = fs.root
				}
				continue
			}
			r.parent, r.node = cur, next
			r.nameAddr, r.nameLen = uintptr(unsafe.Pointer(unsafe.SliceData(comp))), len(comp)
			return 0
		}

		if next == 0 {
			return ENOENT
		}
		if isType(next, ModeSymlink) {
			links++
			if links > MaxSymlinks {
				return ELOOP
			}
			if len(rest) > 0 {
				stack[sp] = rest
				sp++
			}
			rest = symlinkTarget(ip(next))
			if rest[0] == '/' {
				cur = fs.root
			}
			continue
		}
		if !isType(next, ModeDir) {
			return ENOTDIR
		}
		cur = next
	}
}
