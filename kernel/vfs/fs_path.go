package vfs

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/kmem"
	"github.com/unigo-os/unigo/kernel/memfs"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/kernel/platform"
)

// Path-based system calls over memfs. Path strings are copied from user
// memory into two static buffers guarded by FSLock (a PATH_MAX buffer is
// too big for a kernel stack frame), so every function here runs under
// FSLock from the copy to the end of the memfs call.

// *at flags.
const (
	AtFDCWD           = -100
	atSymlinkNofollow = 0x100
	atRemovedir       = 0x200
	atSymlinkFollow   = 0x400
	atNoAutomount     = 0x800
	atEmptyPath       = 0x1000
	atEaccess         = 0x200
	atStatxSyncMask   = 0x6000
)

var pathBufs [2][memfs.PathMax]byte

// userReadable reports whether [addr, addr+n) may be read (faulting it in).
func userReadable(addr, n uintptr) bool { return mm.UserOK(addr, n, false) }

// copyCString copies the NUL-terminated string at user address addr into
// dst, checking each page with ok before viewing it with view, and returns
// its length (without the NUL). A string that does not end within
// len(dst) bytes fails with ENAMETOOLONG, an unreadable one with EFAULT.
func copyCString(dst []byte, addr uintptr, ok func(uintptr, uintptr) bool, view func(uintptr, int) []byte) (int, int64) {
	n := 0
	for n < len(dst) {
		a := addr + uintptr(n)
		chunk := int(mm.PageSize - a&(mm.PageSize-1))
		if chunk > len(dst)-n {
			chunk = len(dst) - n
		}
		if a < addr || a+uintptr(chunk) < a || !ok(a, uintptr(chunk)) {
			return 0, -abi.EFAULT
		}
		src := view(a, chunk)
		for i, c := range src {
			if c == 0 {
				copy(dst[n:], src[:i])
				return n + i, 0
			}
		}
		copy(dst[n:], src)
		n += chunk
	}
	return 0, -abi.ENAMETOOLONG
}

// userPath copies a path argument into pathBufs[which]. Empty paths fail
// with ENOENT unless emptyOK. Caller holds FSLock.
func userPath(addr uintptr, which int, emptyOK bool) ([]byte, int64) {
	if addr == 0 {
		if emptyOK {
			return pathBufs[which][:0], 0
		}
		return nil, -abi.EFAULT
	}
	n, err := copyCString(pathBufs[which][:], addr, userReadable, kctx.BytesAt)
	if err != 0 {
		return nil, err
	}
	if n == 0 && !emptyOK {
		return nil, -abi.ENOENT
	}
	refreshFdDirFor(pathBufs[which][:n])
	return pathBufs[which][:n], 0
}

// startDir returns the directory a path is resolved from: the root for
// absolute paths, the working directory for AT_FDCWD, else directory fd
// dirfd. Caller holds FSLock.
func startDir(dirfd int, path []byte) (memfs.Inode, int64) {
	if len(path) > 0 && path[0] == '/' {
		return memfs.Root(), 0
	}
	if dirfd == AtFDCWD {
		return cwd, 0
	}
	if dirfd < 0 || dirfd >= MaxFDs || fds[dirfd].File == 0 {
		return 0, -abi.EBADF
	}
	o := Of(fds[dirfd].File)
	if o.Kind != fdDir {
		return 0, -abi.ENOTDIR
	}
	return memfs.Inode(o.Obj), 0
}

// pathAt copies the non-empty path argument addr into path buffer which
// and returns the directory it starts from (the root, the working
// directory, or dirfd's) with the path. Caller holds FSLock.
func pathAt(dirfd int, addr uintptr, which int) (memfs.Inode, []byte, int64) {
	path, err := userPath(addr, which, false)
	if err != 0 {
		return 0, nil, err
	}
	dir, err := startDir(dirfd, path)
	if err != 0 {
		return 0, nil, err
	}
	return dir, path, 0
}

// resolve copies path argument addr and looks it up relative to dirfd.
// With AT_EMPTY_PATH an empty path names dirfd itself: then the returned
// inode is 0 and the ofile is returned instead. Caller holds FSLock.
func resolve(dirfd int, addr uintptr, flags int, follow bool) (memfs.Inode, uintptr, int64) {
	path, err := userPath(addr, 0, flags&atEmptyPath != 0)
	if err != 0 {
		return 0, 0, err
	}
	if len(path) == 0 {
		if dirfd == AtFDCWD {
			return cwd, 0, 0
		}
		if dirfd < 0 || dirfd >= MaxFDs || fds[dirfd].File == 0 {
			return 0, 0, -abi.EBADF
		}
		f := fds[dirfd].File
		if OpsOf(Of(f).Kind).Inode {
			return memfs.Inode(Of(f).Obj), 0, 0
		}
		return 0, f, 0
	}
	dir, err := startDir(dirfd, path)
	if err != 0 {
		return 0, 0, err
	}
	ino, e := memfs.Lookup(dir, path, follow)
	if e != 0 {
		return 0, 0, -int64(e)
	}
	return ino, 0, 0
}

func doOpenat(dirfd int, pathAddr uintptr, flags int, mode uint32) int64 {
	if r, ok := fsOpenat(dirfd, pathAddr, flags, mode); ok {
		return r
	}
	FSLock.Lock()
	defer FSLock.Unlock()
	dir, path, err := pathAt(dirfd, pathAddr, 0)
	if err != 0 {
		return err
	}
	if flags&OPath != 0 {
		flags &= OPath | oDirectory | oNofollow | OCloexec
	}
	ino, e := memfs.Open(dir, path, flags, mode&^umask, platform.Walltime())
	if e != 0 {
		return -int64(e)
	}
	refreshProcFile(ino)
	kind := deviceKind(ino)
	if flags&OPath != 0 && kind != fdDir {
		kind = FdFile
	}
	st := uint32(flags) &^ (oCreat | oExcl | oNoctty | oTrunc | OCloexec | oLargefile)
	f := NewOFile(kind, st, uintptr(ino))
	if f == 0 {
		memfs.Unref(ino)
		return -abi.ENFILE
	}
	r := fdAllocLocked(f, 0, flags&OCloexec != 0)
	if r < 0 {
		filePutLocked(f)
	}
	return r
}

// Stat encoding.

// statOfile encodes fstat(2) of an ofile that is not backed by memfs.
func statOfile(f uintptr, out []byte) {
	clear(out[:memfs.StatSize])
	o := Of(f)
	ops := OpsOf(o.Kind)
	PutLE64(out[0:], ops.Dev)
	PutLE64(out[8:], uint64(o.Obj)>>4)
	PutLE64(out[16:], 1)
	PutLE32(out[24:], ops.Mode)
	PutLE64(out[40:], ops.rdev)
	PutLE64(out[56:], mm.PageSize)
}

// statInode encodes a memfs inode, fixing up device stand-ins.
func statInode(ino memfs.Inode, out []byte) {
	memfs.Stat(ino, out)
	if mode, rdev := deviceMode(ino); mode != 0 {
		PutLE32(out[24:], mode)
		PutLE64(out[40:], rdev)
		PutLE64(out[48:], 0)
		PutLE64(out[64:], 0)
	}
}

func PutLE64(b []byte, v uint64) {
	PutLE32(b, uint32(v))
	PutLE32(b[4:], uint32(v>>32))
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func le64(b []byte) uint64 { return uint64(le32(b)) | uint64(le32(b[4:]))<<32 }

// statAt fills out with the stat of (dirfd, path, flags). Caller holds
// FSLock.
func statAt(dirfd int, pathAddr uintptr, flags int, out []byte) int64 {
	if flags&^(atSymlinkNofollow|atEmptyPath|atNoAutomount|atStatxSyncMask) != 0 {
		return -abi.EINVAL
	}
	ino, f, err := resolve(dirfd, pathAddr, flags, flags&atSymlinkNofollow == 0)
	if err != 0 {
		return err
	}
	if f != 0 {
		statOfile(f, out)
	} else {
		statInode(ino, out)
	}
	return 0
}

func doNewfstatat(dirfd int, pathAddr, buf uintptr, flags int) int64 {
	if !mm.UserOK(buf, memfs.StatSize, true) {
		return -abi.EFAULT
	}
	if r, ok := fsStatAt(dirfd, pathAddr, flags, kctx.BytesAt(buf, memfs.StatSize)); ok {
		return r
	}
	FSLock.Lock()
	defer FSLock.Unlock()
	return statAt(dirfd, pathAddr, flags, kctx.BytesAt(buf, memfs.StatSize))
}

func doFstat(fd int, buf uintptr) int64 {
	if !mm.UserOK(buf, memfs.StatSize, true) {
		return -abi.EFAULT
	}
	if r, ok := fsFstatFd(fd, kctx.BytesAt(buf, memfs.StatSize)); ok {
		return r
	}
	FSLock.Lock()
	defer FSLock.Unlock()
	if fd < 0 || fd >= MaxFDs || fds[fd].File == 0 {
		return -abi.EBADF
	}
	f := fds[fd].File
	out := kctx.BytesAt(buf, memfs.StatSize)
	if OpsOf(Of(f).Kind).Inode {
		statInode(memfs.Inode(Of(f).Obj), out)
	} else {
		statOfile(f, out)
	}
	return 0
}

const statxSize = 256

func doStatx(dirfd int, pathAddr uintptr, flags int, mask uint32, buf uintptr) int64 {
	if !mm.UserOK(buf, statxSize, true) {
		return -abi.EFAULT
	}
	var st [memfs.StatSize]byte
	err, ok := fsStatAt(dirfd, pathAddr, flags, st[:])
	if !ok {
		FSLock.Lock()
		err = statAt(dirfd, pathAddr, flags, st[:])
		FSLock.Unlock()
	}
	if err != 0 {
		return err
	}
	out := kctx.BytesAt(buf, statxSize)
	clear(out)
	PutLE32(out[0:], 0x7ff) // STATX_BASIC_STATS
	PutLE32(out[4:], uint32(le64(st[56:])))
	PutLE32(out[16:], uint32(le64(st[16:])))
	PutLE32(out[20:], le32(st[28:]))
	PutLE32(out[24:], le32(st[32:]))
	mode := le32(st[24:])
	out[28], out[29] = byte(mode), byte(mode>>8)
	copy(out[32:40], st[8:16])  // ino
	copy(out[40:48], st[48:56]) // size
	copy(out[48:56], st[64:72]) // blocks
	statxTime(out[64:], st[72:])
	statxTime(out[80:], st[104:]) // btime: ctime is the best we have
	statxTime(out[96:], st[104:])
	statxTime(out[112:], st[88:])
	rdev, dev := le64(st[40:]), le64(st[0:])
	PutLE32(out[128:], uint32(rdev>>8&0xfff))
	PutLE32(out[132:], uint32(rdev&0xff))
	PutLE32(out[136:], uint32(dev>>8&0xfff))
	PutLE32(out[140:], uint32(dev&0xff))
	return 0
}

func statxTime(dst, ts []byte) {
	copy(dst[0:8], ts[0:8])
	copy(dst[8:12], ts[8:12])
}

// Directory and name operations.

func doMkdirat(dirfd int, pathAddr uintptr, mode uint32) int64 {
	if r, ok := fsMkdirat(dirfd, pathAddr, mode); ok {
		return r
	}
	FSLock.Lock()
	defer FSLock.Unlock()
	dir, path, err := pathAt(dirfd, pathAddr, 0)
	if err != 0 {
		return err
	}
	return -int64(memfs.Mkdir(dir, path, mode&^umask&0o7777, platform.Walltime()))
}

func doUnlinkat(dirfd int, pathAddr uintptr, flags int) int64 {
	if flags&^atRemovedir != 0 {
		return -abi.EINVAL
	}
	if r, ok := fsUnlinkat(dirfd, pathAddr, flags); ok {
		return r
	}
	FSLock.Lock()
	defer FSLock.Unlock()
	dir, path, err := pathAt(dirfd, pathAddr, 0)
	if err != 0 {
		return err
	}
	if flags&atRemovedir != 0 {
		return -int64(memfs.Rmdir(dir, path, platform.Walltime()))
	}
	return -int64(memfs.Unlink(dir, path, platform.Walltime()))
}

// twoPaths copies and resolves the start directories of a two-path call.
func twoPaths(olddirfd int, oldAddr uintptr, newdirfd int, newAddr uintptr) (memfs.Inode, []byte, memfs.Inode, []byte, int64) {
	oldp, err := userPath(oldAddr, 0, false)
	if err != 0 {
		return 0, nil, 0, nil, err
	}
	newp, err := userPath(newAddr, 1, false)
	if err != 0 {
		return 0, nil, 0, nil, err
	}
	// Both paths are copied before either is resolved: a bad pointer is
	// EFAULT even with a bad dirfd, as on Linux.
	od, err := startDir(olddirfd, oldp)
	if err != 0 {
		return 0, nil, 0, nil, err
	}
	nd, err := startDir(newdirfd, newp)
	if err != 0 {
		return 0, nil, 0, nil, err
	}
	return od, oldp, nd, newp, 0
}

func doRenameat2(olddirfd int, oldAddr uintptr, newdirfd int, newAddr uintptr, flags int) int64 {
	if flags&^memfs.RenameNoReplace != 0 {
		return -abi.EINVAL // RENAME_EXCHANGE, RENAME_WHITEOUT
	}
	if r, ok := fsRenameat2(olddirfd, oldAddr, newdirfd, newAddr, flags); ok {
		return r
	}
	FSLock.Lock()
	defer FSLock.Unlock()
	od, oldp, nd, newp, err := twoPaths(olddirfd, oldAddr, newdirfd, newAddr)
	if err != 0 {
		return err
	}
	return -int64(memfs.Rename(od, oldp, nd, newp, flags, platform.Walltime()))
}

func doLinkat(olddirfd int, oldAddr uintptr, newdirfd int, newAddr uintptr, flags int) int64 {
	if flags&^(atSymlinkFollow|atEmptyPath) != 0 {
		return -abi.EINVAL
	}
	if r, ok := fsLinkat(olddirfd, oldAddr, newdirfd, newAddr, flags); ok {
		return r
	}
	FSLock.Lock()
	defer FSLock.Unlock()
	od, oldp, nd, newp, err := twoPaths(olddirfd, oldAddr, newdirfd, newAddr)
	if err != 0 {
		return err
	}
	return -int64(memfs.Link(od, oldp, nd, newp, flags&atSymlinkFollow != 0, platform.Walltime()))
}

func doSymlinkat(targetAddr uintptr, newdirfd int, linkAddr uintptr) int64 {
	if r, ok := fsSymlinkat(targetAddr, newdirfd, linkAddr); ok {
		return r
	}
	FSLock.Lock()
	defer FSLock.Unlock()
	target, err := userPath(targetAddr, 1, false)
	if err != 0 {
		return err
	}
	dir, path, err := pathAt(newdirfd, linkAddr, 0)
	if err != 0 {
		return err
	}
	return -int64(memfs.Symlink(target, dir, path, platform.Walltime()))
}

func doReadlinkat(dirfd int, pathAddr, buf uintptr, size int) int64 {
	if size <= 0 {
		return -abi.EINVAL
	}
	if !mm.UserOK(buf, uintptr(size), true) {
		return -abi.EFAULT
	}
	if r, ok := fsReadlinkat(dirfd, pathAddr, buf, size); ok {
		return r
	}
	FSLock.Lock()
	defer FSLock.Unlock()
	ino, f, err := resolve(dirfd, pathAddr, atEmptyPath, false)
	if err != 0 {
		return err
	}
	if f != 0 {
		return -abi.EINVAL
	}
	n, e := memfs.ReadlinkInode(ino, kctx.BytesAt(buf, size))
	if e != 0 {
		return -int64(e)
	}
	return int64(n)
}

// Working directory.

func doGetcwd(buf uintptr, size uintptr) int64 {
	FSLock.Lock()
	defer FSLock.Unlock()
	n, e := memfs.Path(cwd, pathBufs[0][:])
	if c := fsGetcwdLocked(); c != nil {
		n, e = copy(pathBufs[0][:], c), 0
	}
	if e != 0 {
		return -int64(e)
	}
	if uintptr(n)+1 > size {
		return -abi.ERANGE
	}
	if !mm.UserOK(buf, uintptr(n)+1, true) {
		return -abi.EFAULT
	}
	b := kctx.BytesAt(buf, n+1)
	copy(b, pathBufs[0][:n])
	b[n] = 0
	return int64(n + 1)
}

func doChdir(pathAddr uintptr) int64 {
	if r, ok := fsChdir(pathAddr); ok {
		return r
	}
	FSLock.Lock()
	defer FSLock.Unlock()
	path, err := userPath(pathAddr, 0, false)
	if err != 0 {
		return err
	}
	ino, e := memfs.Chdir(cwd, path)
	if e != 0 {
		return -int64(e)
	}
	memfs.Unref(cwd)
	cwd = ino
	fsCwdLen = 0
	return 0
}

func doFchdir(fd int) int64 {
	if r, ok := fsFchdir(fd); ok {
		return r
	}
	FSLock.Lock()
	defer FSLock.Unlock()
	if fd < 0 || fd >= MaxFDs || fds[fd].File == 0 {
		return -abi.EBADF
	}
	o := Of(fds[fd].File)
	if o.Kind != fdDir {
		return -abi.ENOTDIR
	}
	memfs.Ref(memfs.Inode(o.Obj))
	memfs.Unref(cwd)
	cwd = memfs.Inode(o.Obj)
	fsCwdLen = 0
	return 0
}

// Permissions and times. The program runs as root: access checks pass
// except X_OK on a file with no execute bit.

func doFaccessat(dirfd int, pathAddr uintptr, mode, flags int) int64 {
	if mode&^7 != 0 || flags&^(atSymlinkNofollow|atEaccess|atEmptyPath) != 0 {
		return -abi.EINVAL
	}
	if r, ok := fsAccess(dirfd, pathAddr, mode, flags); ok {
		return r
	}
	FSLock.Lock()
	defer FSLock.Unlock()
	ino, f, err := resolve(dirfd, pathAddr, flags, flags&atSymlinkNofollow == 0)
	if err != 0 || f != 0 {
		return err
	}
	m := memfs.Mode(ino)
	if mode&1 != 0 && !memfs.IsDir(ino) && m&0o111 == 0 {
		return -abi.EACCES
	}
	return 0
}

func doFchmodat(dirfd int, pathAddr uintptr, mode uint32, flags int) int64 {
	if flags&^(atSymlinkNofollow|atEmptyPath) != 0 {
		return -abi.EINVAL
	}
	if r, ok := fsSetattr(dirfd, pathAddr, flags, fsSetMode, mode&0o7777, 0, -1, -1); ok {
		return r
	}
	FSLock.Lock()
	defer FSLock.Unlock()
	ino, f, err := resolve(dirfd, pathAddr, flags, flags&atSymlinkNofollow == 0)
	if err != 0 || f != 0 {
		return err
	}
	if flags&atSymlinkNofollow != 0 && memfs.Mode(ino)&memfs.ModeType == memfs.ModeSymlink {
		return -abi.EOPNOTSUPP
	}
	memfs.Chmod(ino, mode, platform.Walltime())
	return 0
}

func doFchmod(fd int, mode uint32) int64 {
	if r, ok := fsFdOp(fd, abi.FsOpSetattr, fsSetMode, mode&0o7777, 0); ok {
		return r
	}
	FSLock.Lock()
	defer FSLock.Unlock()
	if fd < 0 || fd >= MaxFDs || fds[fd].File == 0 {
		return -abi.EBADF
	}
	o := Of(fds[fd].File)
	if OpsOf(o.Kind).Inode {
		memfs.Chmod(memfs.Inode(o.Obj), mode, platform.Walltime())
	}
	return 0
}

// chownAt checks the file exists; ownership is always root's.
func chownAt(dirfd int, pathAddr uintptr, flags int) int64 {
	if r, ok := fsAccess(dirfd, pathAddr, 0, flags); ok {
		return r
	}
	FSLock.Lock()
	defer FSLock.Unlock()
	_, _, err := resolve(dirfd, pathAddr, flags, flags&atSymlinkNofollow == 0)
	return err
}

const (
	utimeNow  = 1<<30 - 1
	utimeOmit = 1<<30 - 2
)

func doUtimensat(dirfd int, pathAddr, times uintptr, flags int) int64 {
	if flags&^(atSymlinkNofollow|atEmptyPath) != 0 {
		return -abi.EINVAL
	}
	now := platform.Walltime()
	at0, mt := now, now
	if times != 0 {
		if !mm.UserOK(times, 32, false) {
			return -abi.EFAULT
		}
		ts := *kctx.At[[4]int64](times)
		at0 = utimeValue(ts[0], ts[1], now)
		mt = utimeValue(ts[2], ts[3], now)
		if at0 == -2 || mt == -2 {
			return -abi.EINVAL
		}
	}
	if r, ok := fsSetattr(dirfd, pathAddr, flags, fsUtimeValid(at0, mt), 0, 0, at0, mt); ok {
		return r
	}
	FSLock.Lock()
	defer FSLock.Unlock()
	if pathAddr == 0 {
		flags |= atEmptyPath // futimens
	}
	ino, f, err := resolve(dirfd, pathAddr, flags, flags&atSymlinkNofollow == 0)
	if err != 0 || f != 0 {
		return err
	}
	memfs.SetTimes(ino, at0, mt, now)
	return 0
}

// utimeValue converts a timespec of utimensat into ns since the epoch:
// -1 for UTIME_OMIT, -2 for an invalid one.
func utimeValue(sec, nsec, now int64) int64 {
	switch nsec {
	case utimeNow:
		return now
	case utimeOmit:
		return -1
	}
	if nsec < 0 || nsec >= 1e9 || sec < 0 {
		return -2
	}
	return sec*1e9 + nsec
}

func doUmask(mask uint32) int64 {
	FSLock.Lock()
	defer FSLock.Unlock()
	old := umask
	umask = mask & 0o777
	return int64(old)
}

func doTruncate(pathAddr uintptr, size int64) int64 {
	if size < 0 {
		return -abi.EINVAL
	}
	if r, ok := fsSetattr(AtFDCWD, pathAddr, 0, fsSetSize, 0, size, -1, -1); ok {
		return r
	}
	FSLock.Lock()
	defer FSLock.Unlock()
	ino, _, err := resolve(AtFDCWD, pathAddr, 0, true)
	if err != 0 {
		return err
	}
	if memfs.IsDir(ino) {
		return -abi.EISDIR
	}
	return -int64(memfs.Truncate(ino, size, platform.Walltime()))
}

// statfs: a tmpfs whose size is all of kernel memory.
const statfsSize = 120

func writeStatfs(buf uintptr) int64 {
	if !mm.UserOK(buf, statfsSize, true) {
		return -abi.EFAULT
	}
	b := kctx.BytesAt(buf, statfsSize)
	clear(b)
	total := uint64(kmem.TotalBytes()) / mm.PageSize
	free := uint64(kmem.FreeBytes()) / mm.PageSize
	u := memfs.Usage()
	PutLE64(b[0:], 0x01021994) // TMPFS_MAGIC
	PutLE64(b[8:], mm.PageSize)
	PutLE64(b[16:], total)
	PutLE64(b[24:], free)
	PutLE64(b[32:], free)
	PutLE64(b[40:], uint64(u.Inodes)+free)
	PutLE64(b[48:], free)
	PutLE64(b[64:], memfs.NameMax)
	PutLE64(b[72:], mm.PageSize)
	PutLE64(b[80:], 0x20) // ST_VALID: f_flags is meaningful (no mount flags)
	return 0
}

func doStatfs(pathAddr, buf uintptr) int64 {
	if r, ok := fsStatfs(pathAddr, 0, buf); ok {
		return r
	}
	FSLock.Lock()
	_, _, err := resolve(AtFDCWD, pathAddr, 0, true)
	FSLock.Unlock()
	if err != 0 {
		return err
	}
	return writeStatfs(buf)
}

func doFstatfs(fd int, buf uintptr) int64 {
	if r, ok := fsStatfs(0, fd, buf); ok {
		return r
	}
	f := Fget(fd)
	if f == 0 {
		return -abi.EBADF
	}
	Fput(f)
	return writeStatfs(buf)
}
