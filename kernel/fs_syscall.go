package kernel

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/rt"
)

const closeRangeUnshar = 2

// Handlers: files, directories, pipes, eventfd, epoll. Descriptor
// arguments are C ints: int(int32(reg)).

func fdArg(r uint64) int { return int(int32(r)) }

func sysRead(f *rt.Frame) int64 { return fdRead(int(f.RDI), uintptr(f.RSI), uintptr(f.RDX)) }
func sysWrite(f *rt.Frame) int64 {
	return fdWrite(int(f.RDI), uintptr(f.RSI), uintptr(f.RDX))
}
func sysReadv(f *rt.Frame) int64 { return fdReadv(int(f.RDI), uintptr(f.RSI), int(f.RDX)) }
func sysWritev(f *rt.Frame) int64 {
	return fdWritev(int(f.RDI), uintptr(f.RSI), int(f.RDX))
}

func sysOpenat(f *rt.Frame) int64 {
	return doOpenat(fdArg(f.RDI), uintptr(f.RSI), int(int32(f.RDX)), uint32(f.R10))
}
func sysOpen(f *rt.Frame) int64 {
	return doOpenat(atFDCWD, uintptr(f.RDI), int(int32(f.RSI)), uint32(f.RDX))
}
func sysCreat(f *rt.Frame) int64 {
	return doOpenat(atFDCWD, uintptr(f.RDI), oCreat|oWronly|oTrunc, uint32(f.RSI))
}
func sysClose(f *rt.Frame) int64 { return fdClose(fdArg(f.RDI)) }
func sysCloseRange(f *rt.Frame) int64 {
	return doCloseRange(uint32(f.RDI), uint32(f.RSI), int(f.RDX))
}
func sysFcntl(f *rt.Frame) int64 { return doFcntl(fdArg(f.RDI), int(int32(f.RSI)), uintptr(f.RDX)) }
func sysIoctl(f *rt.Frame) int64 { return doIoctl(fdArg(f.RDI), uint32(f.RSI), uintptr(f.RDX)) }
func sysDup(f *rt.Frame) int64   { return fdDupMin(fdArg(f.RDI), 0, false) }
func sysDup2(f *rt.Frame) int64  { return fdDup2(fdArg(f.RDI), fdArg(f.RSI), false) }

func sysDup3(f *rt.Frame) int64 {
	if int32(f.RDI) == int32(f.RSI) || f.RDX&^oCloexec != 0 {
		return -abi.EINVAL
	}
	return fdDup2(fdArg(f.RDI), fdArg(f.RSI), f.RDX&oCloexec != 0)
}

func sysLseek(f *rt.Frame) int64 { return doLseek(fdArg(f.RDI), int64(f.RSI), int(f.RDX)) }
func sysPread64(f *rt.Frame) int64 {
	return fdPread(fdArg(f.RDI), uintptr(f.RSI), uintptr(f.RDX), int64(f.R10))
}
func sysPwrite64(f *rt.Frame) int64 {
	return fdPwrite(fdArg(f.RDI), uintptr(f.RSI), uintptr(f.RDX), int64(f.R10))
}

func sysPreadv(f *rt.Frame) int64 {
	if int64(f.R10) < 0 {
		return -abi.EINVAL
	}
	return fdVec(fdArg(f.RDI), uintptr(f.RSI), int(f.RDX), false, int64(f.R10))
}

func sysPwritev(f *rt.Frame) int64 {
	if int64(f.R10) < 0 {
		return -abi.EINVAL
	}
	return fdVec(fdArg(f.RDI), uintptr(f.RSI), int(f.RDX), true, int64(f.R10))
}

func sysFstat(f *rt.Frame) int64 { return doFstat(fdArg(f.RDI), uintptr(f.RSI)) }
func sysStat(f *rt.Frame) int64  { return doNewfstatat(atFDCWD, uintptr(f.RDI), uintptr(f.RSI), 0) }
func sysLstat(f *rt.Frame) int64 {
	return doNewfstatat(atFDCWD, uintptr(f.RDI), uintptr(f.RSI), atSymlinkNofollow)
}
func sysNewfstatat(f *rt.Frame) int64 {
	return doNewfstatat(fdArg(f.RDI), uintptr(f.RSI), uintptr(f.RDX), int(f.R10))
}
func sysStatx(f *rt.Frame) int64 {
	return doStatx(fdArg(f.RDI), uintptr(f.RSI), int(f.RDX), uint32(f.R10), uintptr(f.R8))
}
func sysGetdents64(f *rt.Frame) int64 {
	return doGetdents64(fdArg(f.RDI), uintptr(f.RSI), uintptr(f.RDX))
}
func sysMkdir(f *rt.Frame) int64 { return doMkdirat(atFDCWD, uintptr(f.RDI), uint32(f.RSI)) }
func sysMkdirat(f *rt.Frame) int64 {
	return doMkdirat(fdArg(f.RDI), uintptr(f.RSI), uint32(f.RDX))
}
func sysUnlink(f *rt.Frame) int64 { return doUnlinkat(atFDCWD, uintptr(f.RDI), 0) }
func sysRmdir(f *rt.Frame) int64  { return doUnlinkat(atFDCWD, uintptr(f.RDI), atRemovedir) }
func sysUnlinkat(f *rt.Frame) int64 {
	return doUnlinkat(fdArg(f.RDI), uintptr(f.RSI), int(f.RDX))
}
func sysRename(f *rt.Frame) int64 {
	return doRenameat2(atFDCWD, uintptr(f.RDI), atFDCWD, uintptr(f.RSI), 0)
}
func sysRenameat(f *rt.Frame) int64 {
	return doRenameat2(fdArg(f.RDI), uintptr(f.RSI), fdArg(f.RDX), uintptr(f.R10), 0)
}
func sysRenameat2(f *rt.Frame) int64 {
	return doRenameat2(fdArg(f.RDI), uintptr(f.RSI), fdArg(f.RDX), uintptr(f.R10), int(f.R8))
}
func sysLink(f *rt.Frame) int64 {
	return doLinkat(atFDCWD, uintptr(f.RDI), atFDCWD, uintptr(f.RSI), 0)
}
func sysLinkat(f *rt.Frame) int64 {
	return doLinkat(fdArg(f.RDI), uintptr(f.RSI), fdArg(f.RDX), uintptr(f.R10), int(f.R8))
}
func sysSymlink(f *rt.Frame) int64 { return doSymlinkat(uintptr(f.RDI), atFDCWD, uintptr(f.RSI)) }
func sysSymlinkat(f *rt.Frame) int64 {
	return doSymlinkat(uintptr(f.RDI), fdArg(f.RSI), uintptr(f.RDX))
}
func sysReadlink(f *rt.Frame) int64 {
	return doReadlinkat(atFDCWD, uintptr(f.RDI), uintptr(f.RSI), int(int32(f.RDX)))
}
func sysReadlinkat(f *rt.Frame) int64 {
	return doReadlinkat(fdArg(f.RDI), uintptr(f.RSI), uintptr(f.RDX), int(int32(f.R10)))
}
func sysFtruncate(f *rt.Frame) int64 { return doFtruncate(fdArg(f.RDI), int64(f.RSI)) }
func sysTruncate(f *rt.Frame) int64  { return doTruncate(uintptr(f.RDI), int64(f.RSI)) }
func sysFallocate(f *rt.Frame) int64 {
	return doFallocate(fdArg(f.RDI), int(int32(f.RSI)), int64(f.RDX), int64(f.R10))
}

// fdCheck returns 0 if fd is open, else -EBADF: the whole of the calls
// that have nothing to do on this kernel (fsync, flock, fadvise64, ...).
func fdCheck(fd int) int64 {
	if fr := fget(fd); fr != 0 {
		fput(fr)
		return 0
	}
	return -abi.EBADF
}

func sysFsync(f *rt.Frame) int64     { return fdSync(fdArg(f.RDI)) }
func sysFdatasync(f *rt.Frame) int64 { return fdSync(fdArg(f.RDI)) }

// fdSync: a file under a mount is synced by its server; memfs has
// nothing to flush.
func fdSync(fd int) int64 {
	if r, ok := fsFdOp(fd, abi.FsOpFsync, 0, 0, 0); ok {
		return r
	}
	return fdCheck(fd)
}
func sysSyncfs(f *rt.Frame) int64    { return fdCheck(fdArg(f.RDI)) }
func sysSync(f *rt.Frame) int64      { return 0 }
func sysFlock(f *rt.Frame) int64     { return sysFlockOp(fdArg(f.RDI), int(f.RSI)) }
func sysFadvise64(f *rt.Frame) int64 { return fdCheck(fdArg(f.RDI)) }
func sysGetcwd(f *rt.Frame) int64    { return doGetcwd(uintptr(f.RDI), uintptr(f.RSI)) }
func sysChdir(f *rt.Frame) int64     { return doChdir(uintptr(f.RDI)) }
func sysFchdir(f *rt.Frame) int64    { return doFchdir(fdArg(f.RDI)) }
func sysAccess(f *rt.Frame) int64    { return doFaccessat(atFDCWD, uintptr(f.RDI), int(f.RSI), 0) }
func sysFaccessat(f *rt.Frame) int64 {
	return doFaccessat(fdArg(f.RDI), uintptr(f.RSI), int(f.RDX), 0)
}
func sysFaccessat2(f *rt.Frame) int64 {
	return doFaccessat(fdArg(f.RDI), uintptr(f.RSI), int(f.RDX), int(f.R10))
}
func sysFchmod(f *rt.Frame) int64 { return doFchmod(fdArg(f.RDI), uint32(f.RSI)) }
func sysChmod(f *rt.Frame) int64 {
	return doFchmodat(atFDCWD, uintptr(f.RDI), uint32(f.RSI), 0)
}

// sysFchmodat: Linux's fchmodat has three arguments (no flags: the C
// library handles AT_SYMLINK_NOFOLLOW); fchmodat2 adds the flags.
func sysFchmodat(f *rt.Frame) int64 {
	return doFchmodat(fdArg(f.RDI), uintptr(f.RSI), uint32(f.RDX), 0)
}
func sysFchmodat2(f *rt.Frame) int64 {
	return doFchmodat(fdArg(f.RDI), uintptr(f.RSI), uint32(f.RDX), int(f.R10))
}
func sysFchown(f *rt.Frame) int64 { return fdCheck(fdArg(f.RDI)) }
func sysChown(f *rt.Frame) int64  { return chownAt(atFDCWD, uintptr(f.RDI), 0) }
func sysLchown(f *rt.Frame) int64 { return chownAt(atFDCWD, uintptr(f.RDI), atSymlinkNofollow) }
func sysFchownat(f *rt.Frame) int64 {
	return chownAt(fdArg(f.RDI), uintptr(f.RSI), int(f.R8))
}
func sysUtimensat(f *rt.Frame) int64 {
	return doUtimensat(fdArg(f.RDI), uintptr(f.RSI), uintptr(f.RDX), int(f.R10))
}
func sysUmask(f *rt.Frame) int64   { return doUmask(uint32(f.RDI)) }
func sysStatfs(f *rt.Frame) int64  { return doStatfs(uintptr(f.RDI), uintptr(f.RSI)) }
func sysFstatfs(f *rt.Frame) int64 { return doFstatfs(fdArg(f.RDI), uintptr(f.RSI)) }
func sysPipe(f *rt.Frame) int64    { return doPipe2(uintptr(f.RDI), 0) }
func sysPipe2(f *rt.Frame) int64   { return doPipe2(uintptr(f.RDI), int(f.RSI)) }
func sysEventfd(f *rt.Frame) int64 { return doEventfd2(uint32(f.RDI), 0) }
func sysEventfd2(f *rt.Frame) int64 {
	return doEventfd2(uint32(f.RDI), int(f.RSI))
}

func sysEpollCreate(f *rt.Frame) int64 {
	if int32(f.RDI) <= 0 {
		return -abi.EINVAL
	}
	return doEpollCreate1(0)
}

func sysEpollCreate1(f *rt.Frame) int64 { return doEpollCreate1(int(f.RDI)) }
func sysEpollCtl(f *rt.Frame) int64 {
	return doEpollCtl(fdArg(f.RDI), int(f.RSI), fdArg(f.RDX), uintptr(f.R10))
}

// sysEpollWait also serves epoll_pwait (the signal mask is ignored).
func sysEpollWait(f *rt.Frame) int64 {
	ms := int64(int32(f.R10))
	ns := int64(-1)
	if ms >= 0 {
		ns = ms * 1e6
	}
	return doEpollPwait(fdArg(f.RDI), uintptr(f.RSI), int(int32(f.RDX)), ns)
}

func sysEpollPwait(f *rt.Frame) int64 { return sysEpollWait(f) }

func sysEpollPwait2(f *rt.Frame) int64 {
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
	return doEpollPwait(fdArg(f.RDI), uintptr(f.RSI), int(int32(f.RDX)), ns)
}

func doCloseRange(first, last uint32, flags int) int64 {
	if flags&^(closeRangeUnshar|4) != 0 || first > last {
		return -abi.EINVAL
	}
	for fd := uint64(first); fd <= uint64(last) && fd < maxFDs; fd++ {
		if flags&4 != 0 { // CLOSE_RANGE_CLOEXEC
			fsLock.Lock()
			if fds[fd].file != 0 {
				fds[fd].cloexec = true
			}
			fsLock.Unlock()
			continue
		}
		fdClose(int(fd))
	}
	return 0
}
