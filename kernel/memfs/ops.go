package memfs

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// link creates entry name in directory parent for a new inode of the given
// mode, or for an existing inode old (mode ignored) when old != 0. It is all
// or nothing: on ENOSPC nothing has changed.
func link(parent uintptr, name []byte, mode uint32, old uintptr, now int64) (uintptr, Errno) {
	pd := ip(parent)
	if pd.nlink == 0 {
		return 0, ENOENT // creating in a removed directory
	}
	node := old
	if node == 0 {
		node = newInode(mode, now)
		if node == 0 {
			return 0, ENOSPC
		}
	}
	e := newDirent(name, node)
	if e == 0 {
		maybeFree(node)
		return 0, ENOSPC
	}
	if err := dirInsert(pd, e); err != 0 {
		freeDirent(e)
		maybeFree(node)
		return 0, err
	}
	n := ip(node)
	if n.mode&ModeType == ModeDir {
		n.nlink = 2
		n.parent = parent
		n.dent = e
		pd.nlink++
	} else {
		n.nlink++
	}
	n.ctime = now
	pd.mtime, pd.ctime = now, now
	return node, 0
}

// unlinkEntry removes entry e (naming node) from directory parent and frees
// node if that was its last link and it is not open.
func unlinkEntry(parent uintptr, e uintptr, now int64) {
	pd, node := ip(parent), dp(e).node
	n := ip(node)
	dirRemove(pd, e)
	freeDirent(e)
	if n.mode&ModeType == ModeDir {
		n.nlink = 0
		n.parent, n.dent, n.hint = 0, 0, 0
		pd.nlink--
	} else {
		n.nlink--
	}
	n.ctime = now
	pd.mtime, pd.ctime = now, now
	maybeFree(node)
}

// entryOf returns the entry for the last component of a successful walk.
func entryOf(r *walkResult) uintptr { return dirLookup(ip(r.parent), r.name()) }

// Lookup resolves path relative to directory dir (absolute paths start at
// the root) and returns its inode without taking a reference. follow says
// whether a symlink in the last component is followed (a trailing slash
// always follows and demands a directory).
func Lookup(dir Inode, path []byte, follow bool) (Inode, Errno) {
	mode := followSlash
	if follow {
		mode = followAlways
	}
	var r walkResult
	if err := walk(dir, path, mode, &r); err != 0 {
		return 0, err
	}
	if r.node == 0 {
		return 0, ENOENT
	}
	if r.slash && !isType(r.node, ModeDir) {
		return 0, ENOTDIR
	}
	return Inode(r.node), 0
}

// Open resolves path relative to dir as openat(2) does with the Linux flags
// O_CREAT, O_EXCL, O_NOFOLLOW, O_DIRECTORY, O_TRUNC, O_PATH and the access
// mode, creating a regular file with permissions perm (umask already
// applied) when asked. It returns the inode with a reference taken: the
// caller's fd owns it and calls Unref on close. A dangling final symlink is
// followed to create its target, as on Linux.
func Open(dir Inode, path []byte, flags int, perm uint32, now int64) (Inode, Errno) {
	creat := flags&unix.O_CREAT != 0 && flags&unix.O_PATH == 0
	excl := creat && flags&unix.O_EXCL != 0
	mode := followAlways
	if flags&unix.O_NOFOLLOW != 0 || excl {
		mode = followSlash
	}
	write := flags&unix.O_ACCMODE != unix.O_RDONLY && flags&unix.O_PATH == 0
	var r walkResult
	if err := walk(dir, path, mode, &r); err != 0 {
		return 0, err
	}
	if r.node == 0 {
		if !creat {
			return 0, ENOENT
		}
		if r.slash {
			return 0, EISDIR
		}
		node, err := link(r.parent, r.name(), ModeRegular|perm&ModePerm, 0, now)
		if err != 0 {
			return 0, err
		}
		Ref(Inode(node))
		return Inode(node), 0
	}
	if excl {
		return 0, EEXIST
	}
	n := ip(r.node)
	typ := n.mode & ModeType
	switch {
	case r.slash && typ != ModeDir:
		return 0, ENOTDIR
	case flags&unix.O_PATH != 0:
		if flags&unix.O_DIRECTORY != 0 && typ != ModeDir {
			return 0, ENOTDIR
		}
	case typ == ModeSymlink:
		return 0, ELOOP // O_NOFOLLOW on a symlink
	case flags&unix.O_DIRECTORY != 0 && typ != ModeDir:
		return 0, ENOTDIR
	case typ == ModeDir && (write || creat):
		return 0, EISDIR
	case n.flags&flagStatic != 0 && (write || flags&unix.O_TRUNC != 0):
		return 0, EACCES
	case typ == ModeRegular && flags&unix.O_TRUNC != 0:
		if err := Truncate(Inode(r.node), 0, now); err != 0 {
			return 0, err
		}
	}
	Ref(Inode(r.node))
	return Inode(r.node), 0
}

// Mkdir creates directory path (mkdirat) with permissions perm.
func Mkdir(dir Inode, path []byte, perm uint32, now int64) Errno {
	var r walkResult
	if err := walk(dir, path, followEntry, &r); err != 0 {
		return err
	}
	if r.node != 0 {
		return EEXIST
	}
	_, err := link(r.parent, r.name(), ModeDir|perm&ModePerm, 0, now)
	return err
}

// walkNewName walks to path, the name a new non-directory (symlink, hard
// link) is to take, into r: EEXIST if the name is taken, ENOENT if the
// path ends in a slash (only a directory may be named so).
func walkNewName(dir Inode, path []byte, r *walkResult) Errno {
	if err := walk(dir, path, followEntry, r); err != 0 {
		return err
	}
	if r.node != 0 {
		return EEXIST
	}
	if r.slash {
		return ENOENT
	}
	return 0
}

// Symlink creates symlink path (symlinkat) pointing at target.
func Symlink(target []byte, dir Inode, path []byte, now int64) Errno {
	if len(target) == 0 {
		return ENOENT
	}
	if len(target) >= PathMax {
		return ENAMETOOLONG
	}
	var r walkResult
	if err := walkNewName(dir, path, &r); err != 0 {
		return err
	}
	t := metaAlloc(uintptr(len(target)))
	if t == 0 {
		return ENOSPC
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(t)), len(target)), target)
	node := newInode(ModeSymlink|0o777, now)
	if node == 0 {
		metaFree(t, uintptr(len(target)))
		return ENOSPC
	}
	// Make it a complete symlink before link, which frees it on failure.
	ip(node).data = t
	ip(node).size = int64(len(target))
	_, err := link(r.parent, r.name(), 0, node, now)
	return err
}

// Link creates a new name newpath for the file at oldpath (linkat);
// follow says whether a symlink at oldpath is followed (AT_SYMLINK_FOLLOW).
// Directories cannot be hard-linked (EPERM).
func Link(olddir Inode, oldpath []byte, newdir Inode, newpath []byte, follow bool, now int64) Errno {
	old, err := Lookup(olddir, oldpath, follow)
	if err != 0 {
		return err
	}
	if IsDir(old) {
		return EPERM
	}
	var r walkResult
	if err := walkNewName(newdir, newpath, &r); err != 0 {
		return err
	}
	if ip(uintptr(old)).nlink == 0 {
		return ENOENT // linking an unlinked file back in (Linux without O_TMPFILE)
	}
	_, err = link(r.parent, r.name(), 0, uintptr(old), now)
	return err
}

// Unlink removes the name path (unlinkat without AT_REMOVEDIR). The file's
// data lives on while references remain (see Ref).
func Unlink(dir Inode, path []byte, now int64) Errno {
	var r walkResult
	if err := walk(dir, path, followEntry, &r); err != 0 {
		return err
	}
	switch {
	case r.node == 0:
		return ENOENT
	case isType(r.node, ModeDir):
		return EISDIR
	case r.slash:
		return ENOTDIR
	}
	unlinkEntry(r.parent, entryOf(&r), now)
	return 0
}

// Rmdir removes the empty directory path (unlinkat with AT_REMOVEDIR).
func Rmdir(dir Inode, path []byte, now int64) Errno {
	var r walkResult
	if err := walk(dir, path, followEntry, &r); err != 0 {
		return err
	}
	switch {
	case r.name() == nil:
		return EBUSY
	case isDot(r.name()):
		return EINVAL
	case isDotDot(r.name()):
		return ENOTEMPTY
	case r.node == 0:
		return ENOENT
	case !isType(r.node, ModeDir):
		return ENOTDIR
	case r.node == fs.root:
		return EBUSY
	case ip(r.node).nents != 0:
		return ENOTEMPTY
	}
	unlinkEntry(r.parent, entryOf(&r), now)
	return 0
}

// RenameNoReplace is RENAME_NOREPLACE: fail with EEXIST instead of
// replacing an existing target.
const RenameNoReplace = unix.RENAME_NOREPLACE

// Rename moves oldpath to newpath (renameat2), atomically replacing an
// existing newpath under the POSIX rules: a directory may replace only an
// empty directory (ENOTEMPTY, ENOTDIR), a non-directory only a
// non-directory (EISDIR); a directory cannot move into its own subtree
// (EINVAL); renaming a file onto another link of itself does nothing.
// flags may be 0 or RenameNoReplace (EINVAL otherwise).
func Rename(olddir Inode, oldpath []byte, newdir Inode, newpath []byte, flags int, now int64) Errno {
	if flags&^RenameNoReplace != 0 {
		return EINVAL
	}
	var ro, rn walkResult
	if err := walk(olddir, oldpath, followEntry, &ro); err != 0 {
		return err
	}
	if ro.node == 0 {
		return ENOENT
	}
	if ro.name() == nil || isDot(ro.name()) || isDotDot(ro.name()) {
		return EBUSY
	}
	if err := walk(newdir, newpath, followEntry, &rn); err != 0 {
		return err
	}
	if rn.name() == nil || isDot(rn.name()) || isDotDot(rn.name()) {
		return EBUSY
	}
	src, dst := ro.node, rn.node
	srcDir := isType(src, ModeDir)
	if (ro.slash || rn.slash) && !srcDir {
		return ENOTDIR
	}
	if dst != 0 && flags&RenameNoReplace != 0 {
		return EEXIST
	}
	if srcDir {
		// newpath's directory must not be src or below it.
		for p := rn.parent; ; p = ip(p).parent {
			if p == src {
				return EINVAL
			}
			if p == fs.root || p == 0 {
				break
			}
		}
	}
	if dst == src {
		return 0
	}
	if dst != 0 {
		switch {
		case srcDir && !isType(dst, ModeDir):
			return ENOTDIR
		case !srcDir && isType(dst, ModeDir):
			return EISDIR
		case srcDir && ip(dst).nents != 0:
			return ENOTEMPTY
		}
	}
	np := ip(rn.parent)
	if np.nlink == 0 {
		return ENOENT
	}
	// Allocate the new entry first so that running out of memory changes
	// nothing. A directory that already has a hash table never needs one
	// to insert, so the insert below cannot fail when np is non-empty.
	ne := newDirent(rn.name(), src)
	if ne == 0 {
		return ENOSPC
	}
	if np.nbuckets == 0 {
		grow(np)
		if np.nbuckets == 0 {
			freeDirent(ne)
			return ENOSPC
		}
	}
	oldEntry := entryOf(&ro)
	if dst != 0 {
		unlinkEntry(rn.parent, entryOf(&rn), now)
	}
	op := ip(ro.parent)
	dirRemove(op, oldEntry)
	freeDirent(oldEntry)
	dirInsert(np, ne) // cannot fail: np has a table
	s := ip(src)
	if srcDir {
		s.parent, s.dent = rn.parent, ne
		op.nlink--
		np.nlink++
	}
	s.ctime = now
	op.mtime, op.ctime = now, now
	np.mtime, np.ctime = now, now
	return 0
}

// Chdir resolves path relative to cwd for chdir(2): it must be a directory
// (ENOTDIR). The result carries a reference, so the caller swaps it in as
// the new working directory and Unrefs the old one.
func Chdir(cwd Inode, path []byte) (Inode, Errno) {
	ino, err := Lookup(cwd, path, true)
	if err != 0 {
		return 0, err
	}
	if !IsDir(ino) {
		return 0, ENOTDIR
	}
	Ref(ino)
	return ino, 0
}

// Readlink copies the target of the symlink at path (readlinkat) into buf,
// truncating silently like readlink(2), and returns the byte count. EINVAL
// if path is not a symlink.
func Readlink(dir Inode, path []byte, buf []byte) (int, Errno) {
	ino, err := Lookup(dir, path, false)
	if err != 0 {
		return 0, err
	}
	return ReadlinkInode(ino, buf)
}

// ReadlinkInode is Readlink for an inode already in hand (O_PATH fds,
// readlinkat with an empty path).
func ReadlinkInode(ino Inode, buf []byte) (int, Errno) {
	n := ip(uintptr(ino))
	if n.mode&ModeType != ModeSymlink {
		return 0, EINVAL
	}
	return copy(buf, symlinkTarget(n)), 0
}

// Path writes the absolute path of directory ino into buf (getcwd) and
// returns its length, without a terminating NUL. ERANGE if buf is too
// small, ENOENT if the directory has been removed.
func Path(ino Inode, buf []byte) (int, Errno) {
	p := uintptr(ino)
	if !isType(p, ModeDir) {
		return 0, ENOTDIR
	}
	if p == fs.root {
		if len(buf) < 1 {
			return 0, ERANGE
		}
		buf[0] = '/'
		return 1, 0
	}
	// Build the path right to left at the end of buf, then slide it down.
	end := len(buf)
	pos := end
	for p != fs.root {
		n := ip(p)
		if n.nlink == 0 || n.dent == 0 {
			return 0, ENOENT
		}
		name := direntName(n.dent)
		if pos < len(name)+1 {
			return 0, ERANGE
		}
		pos -= len(name)
		copy(buf[pos:], name)
		pos--
		buf[pos] = '/'
		p = n.parent
	}
	return copy(buf, buf[pos:end]), 0
}
