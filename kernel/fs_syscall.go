package kernel

import (
	"github.com/unigo-os/unigo/rt"
)

// System call numbers served here that syscall.go does not name (an nr
// prefix keeps them apart from its sys* constants).
const (
	nrPoll           = 7
	nrSendfile       = 40
	nrFlock          = 73
	nrTruncate       = 76
	nrCreat          = 85
	nrLink           = 86
	nrSymlink        = 88
	nrChmod          = 90
	nrChown          = 92
	nrLchown         = 94
	nrSync           = 162
	nrEpollCreate    = 213
	nrFadvise64      = 221
	nrEpollWait      = 232
	nrSplice         = 275
	nrEventfd        = 284
	nrFallocate      = 285
	nrPreadv         = 295
	nrPwritev        = 296
	nrSyncfs         = 306
	nrCopyFileRange  = 326
	nrEpollPwait2    = 441
	nrCloseRange     = 436
	closeRangeUnshar = 2
)

// fileSyscall serves the file system calls; ok is false for calls it
// does not know.
func fileSyscall(f *rt.Frame) (int64, bool) {
	a0, a1, a2, a3 := uintptr(f.RDI), uintptr(f.RSI), uintptr(f.RDX), uintptr(f.R10)
	a4 := uintptr(f.R8)
	fd := int(int32(a0))
	switch f.RAX {
	case sysOpenat:
		return sysOpenatImpl(fd, a1, int(int32(a2)), uint32(a3)), true
	case sysOpen:
		return sysOpenatImpl(atFDCWD, a0, int(int32(a1)), uint32(a2)), true
	case nrCreat:
		return sysOpenatImpl(atFDCWD, a0, oCreat|oWronly|oTrunc, uint32(a1)), true
	case sysClose:
		return fdClose(fd), true
	case nrCloseRange:
		return sysCloseRangeImpl(uint32(a0), uint32(a1), int(a2)), true
	case sysFcntl:
		return sysFcntlImpl(fd, int(int32(a1)), a2), true
	case sysIoctl:
		return sysIoctlImpl(fd, uint32(a1), a2), true
	case sysDup:
		return fdDupMin(fd, 0, false), true
	case sysDup2:
		return fdDup2(fd, int(int32(a1)), false), true
	case sysDup3:
		if int32(a0) == int32(a1) || a2&^oCloexec != 0 {
			return -EINVAL, true
		}
		return fdDup2(fd, int(int32(a1)), a2&oCloexec != 0), true
	case sysLseek:
		return sysLseekImpl(fd, int64(a1), int(a2)), true
	case sysPread64:
		return fdPread(fd, a1, a2, int64(a3)), true
	case sysPwrite64:
		return fdPwrite(fd, a1, a2, int64(a3)), true
	case nrPreadv:
		if int64(a3) < 0 {
			return -EINVAL, true
		}
		return fdVec(fd, a1, int(a2), false, int64(a3)), true
	case nrPwritev:
		if int64(a3) < 0 {
			return -EINVAL, true
		}
		return fdVec(fd, a1, int(a2), true, int64(a3)), true
	case sysFstat:
		return sysFstatImpl(fd, a1), true
	case sysStat:
		return sysNewfstatatImpl(atFDCWD, a0, a1, 0), true
	case sysLstat:
		return sysNewfstatatImpl(atFDCWD, a0, a1, atSymlinkNofollow), true
	case sysNewfstatat:
		return sysNewfstatatImpl(fd, a1, a2, int(a3)), true
	case sysStatx:
		return sysStatxImpl(fd, a1, int(a2), uint32(a3), a4), true
	case sysGetdents64:
		return sysGetdents64Impl(fd, a1, a2), true
	case sysMkdir:
		return sysMkdiratImpl(atFDCWD, a0, uint32(a1)), true
	case sysMkdirat:
		return sysMkdiratImpl(fd, a1, uint32(a2)), true
	case sysUnlink:
		return sysUnlinkatImpl(atFDCWD, a0, 0), true
	case sysRmdir:
		return sysUnlinkatImpl(atFDCWD, a0, atRemovedir), true
	case sysUnlinkat:
		return sysUnlinkatImpl(fd, a1, int(a2)), true
	case sysRename:
		return sysRenameat2Impl(atFDCWD, a0, atFDCWD, a1, 0), true
	case sysRenameat:
		return sysRenameat2Impl(fd, a1, int(int32(a2)), a3, 0), true
	case sysRenameat2:
		return sysRenameat2Impl(fd, a1, int(int32(a2)), a3, int(a4)), true
	case nrLink:
		return sysLinkatImpl(atFDCWD, a0, atFDCWD, a1, 0), true
	case sysLinkat:
		return sysLinkatImpl(fd, a1, int(int32(a2)), a3, int(a4)), true
	case nrSymlink:
		return sysSymlinkatImpl(a0, atFDCWD, a1), true
	case sysSymlinkat:
		return sysSymlinkatImpl(a0, int(int32(a1)), a2), true
	case sysReadlink:
		return sysReadlinkatImpl(atFDCWD, a0, a1, int(int32(a2))), true
	case sysReadlinkat:
		return sysReadlinkatImpl(fd, a1, a2, int(int32(a3))), true
	case sysFtruncate:
		return sysFtruncateImpl(fd, int64(a1)), true
	case nrTruncate:
		return sysTruncateImpl(a0, int64(a1)), true
	case sysFsync, sysFdatasync, nrSyncfs:
		if fr := fget(fd); fr != 0 {
			fput(fr)
			return 0, true
		}
		return -EBADF, true
	case nrSync:
		return 0, true
	case nrFlock, nrFadvise64:
		if fr := fget(fd); fr != 0 {
			fput(fr)
			return 0, true
		}
		return -EBADF, true
	case sysGetcwd:
		return sysGetcwdImpl(a0, a1), true
	case sysChdir:
		return sysChdirImpl(a0), true
	case sysFchdir:
		return sysFchdirImpl(fd), true
	case sysAccess:
		return sysFaccessatImpl(atFDCWD, a0, int(a1), 0), true
	case sysFaccessat:
		return sysFaccessatImpl(fd, a1, int(a2), 0), true
	case sysFaccessat2:
		return sysFaccessatImpl(fd, a1, int(a2), int(a3)), true
	case sysFchmod:
		return sysFchmodImpl(fd, uint32(a1)), true
	case nrChmod:
		return sysFchmodatImpl(atFDCWD, a0, uint32(a1), 0), true
	case sysFchmodat:
		return sysFchmodatImpl(fd, a1, uint32(a2), int(a3)), true
	case sysFchown:
		if fr := fget(fd); fr != 0 {
			fput(fr)
			return 0, true
		}
		return -EBADF, true
	case nrChown:
		return chownAt(atFDCWD, a0, 0), true
	case nrLchown:
		return chownAt(atFDCWD, a0, atSymlinkNofollow), true
	case sysFchownat:
		return chownAt(fd, a1, int(a4)), true
	case sysUtimensat:
		return sysUtimensatImpl(fd, a1, a2, int(a3)), true
	case sysUmask:
		return sysUmaskImpl(uint32(a0)), true
	case sysStatfs:
		return sysStatfsImpl(a0, a1), true
	case sysFstatfs:
		return sysFstatfsImpl(fd, a1), true
	case sysPipe:
		return sysPipe2Impl(a0, 0), true
	case sysPipe2:
		return sysPipe2Impl(a0, int(a1)), true
	case nrEventfd:
		return sysEventfd2Impl(uint32(a0), 0), true
	case sysEventfd2:
		return sysEventfd2Impl(uint32(a0), int(a1)), true
	case nrEpollCreate:
		if int32(a0) <= 0 {
			return -EINVAL, true
		}
		return sysEpollCreate1Impl(0), true
	case sysEpollCreate1:
		return sysEpollCreate1Impl(int(a0)), true
	case sysEpollCtl:
		return sysEpollCtlImpl(fd, int(a1), int(int32(a2)), a3), true
	case nrEpollWait, sysEpollPwait:
		ms := int64(int32(a3))
		ns := int64(-1)
		if ms >= 0 {
			ns = ms * 1e6
		}
		return sysEpollPwaitImpl(fd, a1, int(int32(a2)), ns), true
	case nrEpollPwait2:
		ns := int64(-1)
		if a3 != 0 {
			if !userOK(a3, 16, false) {
				return -EFAULT, true
			}
			ts := *at[[2]int64](a3)
			if ts[0] < 0 || ts[1] < 0 || ts[1] >= 1e9 {
				return -EINVAL, true
			}
			ns = ts[0]*1e9 + ts[1]
		}
		return sysEpollPwaitImpl(fd, a1, int(int32(a2)), ns), true
	case nrSendfile, nrCopyFileRange:
		// Go falls back to read/write.
		return -ENOSYS, true
	case nrSplice:
		// Go's io.Copy between sockets tries splice(2) through a pipe
		// and falls back to read/write only on EINVAL (Linux's answer
		// for descriptors that do not support splicing); ENOSYS would
		// fail the copy.
		return -EINVAL, true
	case nrFallocate:
		return -EOPNOTSUPP, true
	}
	return 0, false
}

func sysCloseRangeImpl(first, last uint32, flags int) int64 {
	if flags&^(closeRangeUnshar|4) != 0 || first > last {
		return -EINVAL
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
