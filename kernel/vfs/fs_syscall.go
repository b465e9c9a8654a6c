package vfs

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/rt"
)

const closeRangeUnshar = 2

// Handlers: files, directories, pipes, eventfd, epoll. Descriptor
// arguments are C ints: int(int32(reg)).

func FdArg(r uint64) int { return int(int32(r)) }

func SysRead(f *rt.Frame) int64 { return fdRead(int(f.RDI), uintptr(f.RSI), uintptr(f.RDX)) }
func SysWrite(f *rt.Frame) int64 {
	return fdWrite(int(f.RDI), uintptr(f.RSI), uintptr(f.RDX))
}
func SysReadv(f *rt.Frame) int64 { return fdReadv(int(f.RDI), uintptr(f.RSI), int(f.RDX)) }
func SysWritev(f *rt.Frame) int64 {
	return fdWritev(int(f.RDI), uintptr(f.RSI), int(f.RDX))
}

func SysOpenat(f *rt.Frame) int64 {
	return doOpenat(FdArg(f.RDI), uintptr(f.RSI), int(int32(f.RDX)), uint32(f.R10))
}
func SysOpen(f *rt.Frame) int64 {
	return doOpenat(AtFDCWD, uintptr(f.RDI), int(int32(f.RSI)), uint32(f.RDX))
}
func SysCreat(f *rt.Frame) int64 {
	return doOpenat(AtFDCWD, uintptr(f.RDI), oCreat|OWronly|oTrunc, uint32(f.RSI))
}
func SysClose(f *rt.Frame) int64 { return FdClose(FdArg(f.RDI)) }
func SysCloseRange(f *rt.Frame) int64 {
	return doCloseRange(uint32(f.RDI), uint32(f.RSI), int(f.RDX))
}
func SysFcntl(f *rt.Frame) int64 { return doFcntl(FdArg(f.RDI), int(int32(f.RSI)), uintptr(f.RDX)) }
func SysIoctl(f *rt.Frame) int64 { return doIoctl(FdArg(f.RDI), uint32(f.RSI), uintptr(f.RDX)) }
func SysDup(f *rt.Frame) int64   { return fdDupMin(FdArg(f.RDI), 0, false) }
func SysDup2(f *rt.Frame) int64  { return fdDup2(FdArg(f.RDI), FdArg(f.RSI), false) }

func SysDup3(f *rt.Frame) int64 {
	if int32(f.RDI) == int32(f.RSI) || f.RDX&^OCloexec != 0 {
		return -abi.EINVAL
	}
	return fdDup2(FdArg(f.RDI), FdArg(f.RSI), f.RDX&OCloexec != 0)
}

func SysLseek(f *rt.Frame) int64 { return doLseek(FdArg(f.RDI), int64(f.RSI), int(f.RDX)) }
func SysPread64(f *rt.Frame) int64 {
	return fdPread(FdArg(f.RDI), uintptr(f.RSI), uintptr(f.RDX), int64(f.R10))
}
func SysPwrite64(f *rt.Frame) int64 {
	return fdPwrite(FdArg(f.RDI), uintptr(f.RSI), uintptr(f.RDX), int64(f.R10))
}

func SysPreadv(f *rt.Frame) int64 {
	if int64(f.R10) < 0 {
		return -abi.EINVAL
	}
	return fdVec(FdArg(f.RDI), uintptr(f.RSI), int(f.RDX), false, int64(f.R10))
}

func SysPwritev(f *rt.Frame) int64 {
	if int64(f.R10) < 0 {
		return -abi.EINVAL
	}
	return fdVec(FdArg(f.RDI), uintptr(f.RSI), int(f.RDX), true, int64(f.R10))
}

func SysFstat(f *rt.Frame) int64 { return doFstat(FdArg(f.RDI), uintptr(f.RSI)) }
func SysStat(f *rt.Frame) int64  { return doNewfstatat(AtFDCWD, uintptr(f.RDI), uintptr(f.RSI), 0) }
func SysLstat(f *rt.Frame) int64 {
	return doNewfstatat(AtFDCWD, uintptr(f.RDI), uintptr(f.RSI), atSymlinkNofollow)
}
func SysNewfstatat(f *rt.Frame) int64 {
	return doNewfstatat(FdArg(f.RDI), uintptr(f.RSI), uintptr(f.RDX), int(f.R10))
}
func SysStatx(f *rt.Frame) int64 {
	return doStatx(FdArg(f.RDI), uintptr(f.RSI), int(f.RDX), uint32(f.R10), uintptr(f.R8))
}
func SysGetdents64(f *rt.Frame) int64 {
	return doGetdents64(FdArg(f.RDI), uintptr(f.RSI), uintptr(f.RDX))
}
func SysMkdir(f *rt.Frame) int64 { return doMkdirat(AtFDCWD, uintptr(f.RDI), uint32(f.RSI)) }
func SysMkdirat(f *rt.Frame) int64 {
	return doMkdirat(FdArg(f.RDI), uintptr(f.RSI), uint32(f.RDX))
}
func SysUnlink(f *rt.Frame) int64 { return doUnlinkat(AtFDCWD, uintptr(f.RDI), 0) }
func SysRmdir(f *rt.Frame) int64  { return doUnlinkat(AtFDCWD, uintptr(f.RDI), atRemovedir) }
func SysUnlinkat(f *rt.Frame) int64 {
	return doUnlinkat(FdArg(f.RDI), uintptr(f.RSI), int(f.RDX))
}
func SysRename(f *rt.Frame) int64 {
	return doRenameat2(AtFDCWD, uintptr(f.RDI), AtFDCWD, uintptr(f.RSI), 0)
}
func SysRenameat(f *rt.Frame) int64 {
	return doRenameat2(FdArg(f.RDI), uintptr(f.RSI), FdArg(f.RDX), uintptr(f.R10), 0)
}
func SysRenameat2(f *rt.Frame) int64 {
	return doRenameat2(FdArg(f.RDI), uintptr(f.RSI), FdArg(f.RDX), uintptr(f.R10), int(f.R8))
}
func SysLink(f *rt.Frame) int64 {
	return doLinkat(AtFDCWD, uintptr(f.RDI), AtFDCWD, uintptr(f.RSI), 0)
}
func SysLinkat(f *rt.Frame) int64 {
	return doLinkat(FdArg(f.RDI), uintptr(f.RSI), FdArg(f.RDX), uintptr(f.R10), int(f.R8))
}
func SysSymlink(f *rt.Frame) int64 { return doSymlinkat(uintptr(f.RDI), AtFDCWD, uintptr(f.RSI)) }
func SysSymlinkat(f *rt.Frame) int64 {
	return doSymlinkat(uintptr(f.RDI), FdArg(f.RSI), uintptr(f.RDX))
}
func SysReadlink(f *rt.Frame) int64 {
	return doReadlinkat(AtFDCWD, uintptr(f.RDI), uintptr(f.RSI), int(int32(f.RDX)))
}
func SysReadlinkat(f *rt.Frame) int64 {
	return doReadlinkat(FdArg(f.RDI), uintptr(f.RSI), uintptr(f.RDX), int(int32(f.R10)))
}
func SysFtruncate(f *rt.Frame) int64 { return doFtruncate(FdArg(f.RDI), int64(f.RSI)) }
func SysTruncate(f *rt.Frame) int64  { return doTruncate(uintptr(f.RDI), int64(f.RSI)) }
func SysFallocate(f *rt.Frame) int64 {
	return doFallocate(FdArg(f.RDI), int(int32(f.RSI)), int64(f.RDX), int64(f.R10))
}

// fdCheck returns 0 if fd is open, else -EBADF: the whole of the calls
// that have nothing to do on this kernel (fsync, flock, fadvise64, ...).
func fdCheck(fd int) int64 {
	if fr := Fget(fd); fr != 0 {
		Fput(fr)
		return 0
	}
	return -abi.EBADF
}

func SysFsync(f *rt.Frame) int64     { return fdSync(FdArg(f.RDI)) }
func SysFdatasync(f *rt.Frame) int64 { return fdSync(FdArg(f.RDI)) }

// fdSync: a file under a mount is synced by its server; memfs has
// nothing to flush.
func fdSync(fd int) int64 {
	if r, ok := fsFdOp(fd, abi.FsOpFsync, 0, 0, 0); ok {
		return r
	}
	return fdCheck(fd)
}
func SysSyncfs(f *rt.Frame) int64    { return fdCheck(FdArg(f.RDI)) }
func SysSync(f *rt.Frame) int64      { return 0 }
func SysFlock(f *rt.Frame) int64     { return sysFlockOp(FdArg(f.RDI), int(f.RSI)) }
func SysFadvise64(f *rt.Frame) int64 { return fdCheck(FdArg(f.RDI)) }
func SysGetcwd(f *rt.Frame) int64    { return doGetcwd(uintptr(f.RDI), uintptr(f.RSI)) }
func SysChdir(f *rt.Frame) int64     { return doChdir(uintptr(f.RDI)) }
func SysFchdir(f *rt.Frame) int64    { return doFchdir(FdArg(f.RDI)) }
func SysAccess(f *rt.Frame) int64    { return doFaccessat(AtFDCWD, uintptr(f.RDI), int(f.RSI), 0) }
func SysFaccessat(f *rt.Frame) int64 {
	return doFaccessat(FdArg(f.RDI), uintptr(f.RSI), int(f.RDX), 0)
}
func SysFaccessat2(f *rt.Frame) int64 {
	return doFaccessat(FdArg(f.RDI), uintptr(f.RSI), int(f.RDX), int(f.R10))
}
func SysFchmod(f *rt.Frame) int64 { return doFchmod(FdArg(f.RDI), uint32(f.RSI)) }
func SysChmod(f *rt.Frame) int64 {
	return doFchmodat(AtFDCWD, uintptr(f.RDI), uint32(f.RSI), 0)
}

// SysFchmodat: Linux's fchmodat has three arguments (no flags: the C
// library handles AT_SYMLINK_NOFOLLOW); fchmodat2 adds the flags.
func SysFchmodat(f *rt.Frame) int64 {
	return doFchmodat(FdArg(f.RDI), uintptr(f.RSI), uint32(f.RDX), 0)
}
func SysFchmodat2(f *rt.Frame) int64 {
	return doFchmodat(FdArg(f.RDI), uintptr(f.RSI), uint32(f.RDX), int(f.R10))
}
func SysFchown(f *rt.Frame) int64 { return fdCheck(FdArg(f.RDI)) }
func SysChown(f *rt.Frame) int64  { return chownAt(AtFDCWD, uintptr(f.RDI), 0) }
func SysLchown(f *rt.Frame) int64 { return chownAt(AtFDCWD, uintptr(f.RDI), atSymlinkNofollow) }
func SysFchownat(f *rt.Frame) int64 {
	return chownAt(FdArg(f.RDI), uintptr(f.RSI), int(f.R8))
}
func SysUtimensat(f *rt.Frame) int64 {
	return doUtimensat(FdArg(f.RDI), uintptr(f.RSI), uintptr(f.RDX), int(f.R10))
}
func SysUmask(f *rt.Frame) int64   { return doUmask(uint32(f.RDI)) }
func SysStatfs(f *rt.Frame) int64  { return doStatfs(uintptr(f.RDI), uintptr(f.RSI)) }
func SysFstatfs(f *rt.Frame) int64 { return doFstatfs(FdArg(f.RDI), uintptr(f.RSI)) }
func SysPipe(f *rt.Frame) int64    { return doPipe2(uintptr(f.RDI), 0) }
func SysPipe2(f *rt.Frame) int64   { return doPipe2(uintptr(f.RDI), int(f.RSI)) }
func SysEventfd(f *rt.Frame) int64 { return doEventfd2(uint32(f.RDI), 0) }
func SysEventfd2(f *rt.Frame) int64 {
	return doEventfd2(uint32(f.RDI), int(f.RSI))
}

func SysEpollCreate(f *rt.Frame) int64 {
	if int32(f.RDI) <= 0 {
		return -abi.EINVAL
	}
	return doEpollCreate1(0)
}

func SysEpollCreate1(f *rt.Frame) int64 { return doEpollCreate1(int(f.RDI)) }
func SysEpollCtl(f *rt.Frame) int64 {
	return doEpollCtl(FdArg(f.RDI), int(f.RSI), FdArg(f.RDX), uintptr(f.R10))
}

// SysEpollWait also serves epoll_pwait (the signal mask is ignored).
func SysEpollWait(f *rt.Frame) int64 {
	ms := int64(int32(f.R10))
	ns := int64(-1)
	if ms >= 0 {
		ns = ms * 1e6
	}
	return doEpollPwait(FdArg(f.RDI), uintptr(f.RSI), int(int32(f.RDX)), ns)
}

func SysEpollPwait(f *rt.Frame) int64 { return SysEpollWait(f) }

func SysEpollPwait2(f *rt.Frame) int64 {
	ns := int64(-1)
	if p := uintptr(f.R10); p != 0 {
		if !mm.UserOK(p, 16, false) {
			return -abi.EFAULT
		}
		ts := *kctx.At[[2]int64](p)
		if ts[0] < 0 || ts[1] < 0 || ts[1] >= 1e9 {
			return -abi.EINVAL
		}
		ns = ts[0]*1e9 + ts[1]
	}
	return doEpollPwait(FdArg(f.RDI), uintptr(f.RSI), int(int32(f.RDX)), ns)
}

func doCloseRange(first, last uint32, flags int) int64 {
	if flags&^(closeRangeUnshar|4) != 0 || first > last {
		return -abi.EINVAL
	}
	for fd := uint64(first); fd <= uint64(last) && fd < MaxFDs; fd++ {
		if flags&4 != 0 { // CLOSE_RANGE_CLOEXEC
			FSLock.Lock()
			if fds[fd].File != 0 {
				fds[fd].cloexec = true
			}
			FSLock.Unlock()
			continue
		}
		FdClose(int(fd))
	}
	return 0
}
