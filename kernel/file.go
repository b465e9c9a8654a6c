package kernel

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/kmem"
	"github.com/unigo-os/unigo/kernel/memfs"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/kernel/platform"
	"github.com/unigo-os/unigo/kernel/spinlock"
	"github.com/unigo-os/unigo/kernel/task"
)

// File descriptors.
//
// As in Linux there are two levels: the descriptor table (fds, one process)
// maps a number to an open file description (ofile, a kmem block) plus the
// close-on-exec bit; the ofile holds the kind of object, the status flags
// and the offset, and is shared by dup'd descriptors. An ofile is
// reference-counted: every descriptor naming it holds one reference, and so
// does every system call using it, so that a thread blocked in read(2) on a
// pipe keeps the pipe alive when another thread closes the descriptor.
//
// Locking: fsLock guards the descriptor table, ofile reference counts and
// offsets, the working directory, umask and all of memfs (which has no
// lock of its own). The state of pipes, eventfds, epoll instances and the
// console input ring is guarded by SchedLock, because waking a blocked
// thread needs it anyway. Order: fsLock, then SchedLock (then mm.VMLock via
// mm.UserOK, or one run-queue lock: kernel/task/runq.go). Nothing blocks while
// holding fsLock.
const maxFDs = task.MaxFDs

// ofile kinds.
const (
	fdFree = iota
	fdConsole
	fdFile    // memfs regular file, symlink (O_PATH) or device stand-in
	fdDir     // memfs directory
	fdPipeR   // read end of a pipe
	fdPipeW   // write end of a pipe
	fdEventfd // eventfd counter
	fdEpoll   // epoll instance
	fdDevNull // /dev/null
	fdDevZero // /dev/zero
	fdDevRand // /dev/random, /dev/urandom
	fdSocket  // socket (sock)
	fdNetchan // the netstack channel (netchan.go)
	fdFs      // a file under a mount, served over the file channel (fschan.go)
	fdFschan  // the file channel (fschan.go)
	nKinds
)

// fileOps is what one kind of ofile does: kindOps[kind] is its row, and
// the file holding the kind's implementation declares the row (consoleOps,
// memfileOps, pipeReaderOps, socketOps, ...). The rows are static data:
// top-level functions, nothing allocated, no init work. A nil operation
// is one the kind lacks: read and write fail with EINVAL, seek with
// ESPIPE (and pread/pwrite with it), fionread with ENOTTY, and a kind
// without poll cannot be watched by epoll (EPERM).
type fileOps struct {
	// read and write move n bytes (n <= maxRW, user memory validated)
	// at the file offset (pos < 0) or at pos.
	read, write func(f uintptr, o *ofile, buf, n uintptr, pos int64) int64
	// readLimit clips a read of n bytes at pos (< 0: the offset) to what
	// the object holds, before the buffer is validated.
	readLimit func(o *ofile, n uintptr, pos int64) uintptr
	// release frees the object with the ofile's last reference. Caller
	// holds fsLock.
	release func(o *ofile)
	// poll is the object's epoll readiness. Caller holds SchedLock.
	poll func(obj uintptr) uint32
	// watch runs when epoll starts watching an ofile of the kind.
	watch func()
	// fionread counts the bytes ready to read (FIONREAD).
	fionread func(o *ofile) int64
	// seek serves lseek. Caller holds fsLock.
	seek func(o *ofile, off int64, whence int) int64
	// inode: obj is a memfs.Inode, which fstat encodes and the last
	// reference drops. Otherwise fstat reports mode, dev and rdev.
	inode     bool
	mode      uint32
	dev, rdev uint64
	// anyAccess: read and write whatever the access mode (the console).
	anyAccess bool
}

// kindOps is the operations table. fdFree's row is empty.
var kindOps = [nKinds]*fileOps{
	fdFree:    &freeOps,
	fdConsole: &consoleOps,
	fdFile:    &memfileOps,
	fdDir:     &dirOps,
	fdPipeR:   &pipeReaderOps,
	fdPipeW:   &pipeWriterOps,
	fdEventfd: &eventfdOps,
	fdEpoll:   &epollOps,
	fdDevNull: &devNullOps,
	fdDevZero: &devZeroOps,
	fdDevRand: &devRandOps,
	fdSocket:  &socketOps,
	fdNetchan: &netchanOps,
	fdFs:      &fsfileOps,
	fdFschan:  &fschanOps,
}

var freeOps fileOps

// opsOf returns kind's row. It reads kindOps through an interface so that
// the table's initialiser does not depend on itself (the rows hold
// functions that, through wake-ups and epoll, reach opsOf; Go rejects such
// an initialisation cycle but does not follow calls through interfaces).
// Static data either way.
func opsOf(kind uint32) *fileOps { return kindTable.row(kind) }

var kindTable opsTable = kindRows{}

type opsTable interface{ row(kind uint32) *fileOps }

type kindRows struct{}

func (kindRows) row(kind uint32) *fileOps { return kindOps[kind] }

// Linux open(2) flags used here.
const (
	oAccMode   = 0o3
	oRdonly    = 0o0
	oWronly    = 0o1
	oRdwr      = 0o2
	oCreat     = 0o100
	oExcl      = 0o200
	oNoctty    = 0o400
	oTrunc     = 0o1000
	oAppend    = 0o2000
	oNonblock  = 0o4000
	oDsync     = 0o10000
	oAsync     = 0o20000
	oDirect    = 0o40000
	oLargefile = 0o100000
	oDirectory = 0o200000
	oNofollow  = 0o400000
	oNoatime   = 0o1000000
	oCloexec   = 0o2000000
	oPath      = 0o10000000

	// oSetflMask is what F_SETFL may change.
	oSetflMask = oAppend | oNonblock | oAsync | oDirect | oNoatime
)

// ofile is an open file description, in kmem memory.
type ofile struct {
	refs  int32
	kind  uint32
	flags uint32 // access mode and status flags (O_APPEND, O_NONBLOCK, ...)
	_     uint32
	off   int64   // file offset; for directories the ReadDir cookie
	obj   uintptr // memfs.Inode, pipe, eventfd or epoll address
}

type fdSlot struct {
	file    uintptr // *ofile, 0 if free
	cloexec bool
}

var (
	fsLock  spinlock.Lock
	fds     [maxFDs]fdSlot
	cwd     memfs.Inode // holds a reference
	umask   uint32      = 0o022
	fsReady bool        // memfs initialised
)

func of(p uintptr) *ofile { return kctx.At[ofile](p) }

// fdInit sets up the filesystem and descriptors 0, 1 and 2 (the console).
// It runs once at boot, after time and memory are up.
func fdInit() {
	fsLock.Lock()
	defer fsLock.Unlock()
	if fsReady {
		return
	}
	fsReady = true
	fsSetup()
	con := newOfile(fdConsole, oRdwr, conObj)
	if con == 0 {
		kctx.Panic("no memory for the console")
	}
	of(con).refs = 3
	for i := 0; i < 3; i++ {
		fds[i].file = con
	}
}

// newOfile allocates an ofile with one reference, or returns 0.
func newOfile(kind, flags uint32, obj uintptr) uintptr {
	p := kmem.Alloc(task.UintptrSize(ofile{}))
	if p == 0 {
		return 0
	}
	f := of(p)
	f.refs = 1
	f.kind = kind
	f.flags = flags
	f.obj = obj
	return p
}

// fdAllocLocked installs file at the lowest free descriptor >= min and
// returns it, or -EMFILE. The caller's reference moves to the table on
// success. Caller holds fsLock.
func fdAllocLocked(file uintptr, min int, cloexec bool) int64 {
	for i := min; i < maxFDs; i++ {
		if fds[i].file == 0 {
			fds[i].file = file
			fds[i].cloexec = cloexec
			return int64(i)
		}
	}
	return -abi.EMFILE
}

// fdInstall is fdAllocLocked taking fsLock; on failure it drops the
// caller's reference.
func fdInstall(file uintptr, cloexec bool) int64 {
	fsLock.Lock()
	r := fdAllocLocked(file, 0, cloexec)
	if r < 0 {
		filePutLocked(file)
	}
	fsLock.Unlock()
	return r
}

// fget returns fd's ofile with a reference taken, or 0.
func fget(fd int) uintptr {
	fsLock.Lock()
	f := fgetLocked(fd)
	fsLock.Unlock()
	return f
}

func fgetLocked(fd int) uintptr {
	if fd < 0 || fd >= maxFDs || fds[fd].file == 0 {
		return 0
	}
	f := fds[fd].file
	of(f).refs++
	return f
}

// fput drops a reference taken by fget.
func fput(f uintptr) {
	fsLock.Lock()
	filePutLocked(f)
	fsLock.Unlock()
}

// filePutLocked drops a reference and releases the object with the last
// one. Caller holds fsLock.
func filePutLocked(f uintptr) {
	o := of(f)
	o.refs--
	if o.refs > 0 {
		return
	}
	ops := opsOf(o.kind)
	if ops.inode {
		flockRelease(f)
		memfs.Unref(memfs.Inode(o.obj))
	} else if ops.release != nil {
		ops.release(o)
	}
	kctx.SchedLock.Lock()
	epollForget(f)
	kctx.SchedLock.Unlock()
	kmem.Free(f, task.UintptrSize(ofile{}))
}

// fdClose closes descriptor fd.
func fdClose(fd int) int64 {
	fsLock.Lock()
	defer fsLock.Unlock()
	if fd < 0 || fd >= maxFDs || fds[fd].file == 0 {
		return -abi.EBADF
	}
	f := fds[fd].file
	fds[fd] = fdSlot{}
	filePutLocked(f)
	return 0
}

// fdDup2 makes newfd name oldfd's file (dup2, dup3).
func fdDup2(oldfd, newfd int, cloexec bool) int64 {
	fsLock.Lock()
	defer fsLock.Unlock()
	if oldfd < 0 || oldfd >= maxFDs || fds[oldfd].file == 0 || newfd < 0 || newfd >= maxFDs {
		return -abi.EBADF
	}
	f := fds[oldfd].file
	if oldfd == newfd {
		return int64(newfd)
	}
	old := fds[newfd].file
	of(f).refs++
	fds[newfd] = fdSlot{file: f, cloexec: cloexec}
	if old != 0 {
		filePutLocked(old)
	}
	return int64(newfd)
}

// fdDupMin duplicates fd onto the lowest free descriptor >= min (dup,
// F_DUPFD, F_DUPFD_CLOEXEC).
func fdDupMin(fd, min int, cloexec bool) int64 {
	if min < 0 || min >= maxFDs {
		return -abi.EINVAL
	}
	fsLock.Lock()
	defer fsLock.Unlock()
	f := fgetLocked(fd)
	if f == 0 {
		return -abi.EBADF
	}
	r := fdAllocLocked(f, min, cloexec)
	if r < 0 {
		of(f).refs--
	}
	return r
}

// fcntl commands.
const (
	fDupfd        = 0
	fGetfd        = 1
	fSetfd        = 2
	fGetfl        = 3
	fSetfl        = 4
	fGetlk        = 5
	fSetlk        = 6
	fSetlkw       = 7
	fSetpipeSz    = 1031
	fGetpipeSz    = 1032
	fDupfdCloexec = 1030
	fdCloexecFlag = 1
)

func doFcntl(fd, cmd int, arg uintptr) int64 {
	switch cmd {
	case fDupfd:
		return fdDupMin(fd, int(arg), false)
	case fDupfdCloexec:
		return fdDupMin(fd, int(arg), true)
	}
	fsLock.Lock()
	defer fsLock.Unlock()
	if fd < 0 || fd >= maxFDs || fds[fd].file == 0 {
		return -abi.EBADF
	}
	s := &fds[fd]
	o := of(s.file)
	switch cmd {
	case fGetfd:
		if s.cloexec {
			return fdCloexecFlag
		}
		return 0
	case fSetfd:
		s.cloexec = arg&fdCloexecFlag != 0
		return 0
	case fGetfl:
		return int64(o.flags | oLargefile)
	case fSetfl:
		o.flags = o.flags&^oSetflMask | uint32(arg)&oSetflMask
		return 0
	case fGetlk, fSetlk, fSetlkw:
		// One process: advisory locks never conflict.
		if cmd == fGetlk {
			if !mm.UserOK(arg, 2, true) {
				return -abi.EFAULT
			}
			*kctx.At[int16](arg) = 2 // F_UNLCK
		}
		return 0
	case fGetpipeSz, fSetpipeSz:
		if o.kind != fdPipeR && o.kind != fdPipeW {
			return -abi.EBADF
		}
		return pipeSize
	}
	return -abi.EINVAL
}

// closeOnExec is not needed (no exec); the bit is kept for F_GETFD.

// maxRW is Linux's MAX_RW_COUNT: larger reads and writes are cut short.
const maxRW = 0x7ffff000

func fdWrite(fd int, buf, n uintptr) int64 {
	f := fget(fd)
	if f == 0 {
		return -abi.EBADF
	}
	r := fileWrite(f, buf, n, -1)
	fput(f)
	return r
}

func fdRead(fd int, buf, n uintptr) int64 {
	f := fget(fd)
	if f == 0 {
		return -abi.EBADF
	}
	r := fileRead(f, buf, n, -1)
	fput(f)
	return r
}

// fdPread and fdPwrite serve pread64/pwrite64: off must be >= 0 and the
// file seekable.
func fdPread(fd int, buf, n uintptr, off int64) int64 {
	f := fget(fd)
	if f == 0 {
		return -abi.EBADF
	}
	r := int64(-abi.ESPIPE)
	if off < 0 {
		r = -abi.EINVAL
	} else if seekable(of(f).kind) {
		r = fileRead(f, buf, n, off)
	}
	fput(f)
	return r
}

func fdPwrite(fd int, buf, n uintptr, off int64) int64 {
	f := fget(fd)
	if f == 0 {
		return -abi.EBADF
	}
	r := int64(-abi.ESPIPE)
	if off < 0 {
		r = -abi.EINVAL
	} else if seekable(of(f).kind) {
		r = fileWrite(f, buf, n, off)
	}
	fput(f)
	return r
}

func seekable(kind uint32) bool { return opsOf(kind).seek != nil }

// fileWrite writes n bytes at buf to f, at the file offset (pos < 0) or
// at pos (pwrite64).
func fileWrite(f uintptr, buf, n uintptr, pos int64) int64 {
	o := of(f)
	ops := opsOf(o.kind)
	if o.flags&oPath != 0 || o.flags&oAccMode == oRdonly && !ops.anyAccess {
		return -abi.EBADF
	}
	if n > maxRW {
		n = maxRW
	}
	if !mm.UserOK(buf, n, false) {
		return -abi.EFAULT
	}
	if ops.write == nil {
		return -abi.EINVAL
	}
	return ops.write(f, o, buf, n, pos)
}

// fileRead reads up to n bytes from f into buf, at the file offset
// (pos < 0) or at pos (pread64).
func fileRead(f uintptr, buf, n uintptr, pos int64) int64 {
	o := of(f)
	ops := opsOf(o.kind)
	if o.flags&oPath != 0 || o.flags&oAccMode == oWronly && !ops.anyAccess {
		return -abi.EBADF
	}
	if n > maxRW {
		n = maxRW
	}
	if ops.readLimit != nil && n > 0 {
		n = ops.readLimit(o, n, pos)
	}
	if !mm.UserOK(buf, n, true) {
		return -abi.EFAULT
	}
	if ops.read == nil {
		return -abi.EINVAL
	}
	return ops.read(f, o, buf, n, pos)
}

func fdWritev(fd int, iov uintptr, cnt int) int64 {
	return fdVec(fd, iov, cnt, true, -1)
}

func fdReadv(fd int, iov uintptr, cnt int) int64 {
	return fdVec(fd, iov, cnt, false, -1)
}

// fdVec serves readv/writev (pos < 0) and preadv/pwritev.
func fdVec(fd int, iov uintptr, cnt int, write bool, pos int64) int64 {
	if cnt < 0 || cnt > 1024 {
		return -abi.EINVAL
	}
	if !mm.UserOK(iov, uintptr(cnt)*16, false) {
		return -abi.EFAULT
	}
	f := fget(fd)
	if f == 0 {
		return -abi.EBADF
	}
	defer fput(f)
	if pos >= 0 && !seekable(of(f).kind) {
		return -abi.ESPIPE
	}
	return eachIovec(iov, cnt, func(base, n uintptr, done int64) int64 {
		p := int64(-1)
		if pos >= 0 {
			p = pos + done
		}
		if write {
			return fileWrite(f, base, n, p)
		}
		return fileRead(f, base, n, p)
	})
}

// eachIovec transfers the buffers of the iovec array iov (cnt entries,
// validated by the caller) one by one with op, which gets a buffer and
// the bytes done before it, as readv/writev do: empty buffers are
// skipped, a short transfer ends the call, and so does an error, which
// is returned only if nothing was transferred (else the count is).
func eachIovec(iov uintptr, cnt int, op func(base, n uintptr, done int64) int64) int64 {
	var total int64
	for i := 0; i < cnt; i++ {
		v := *kctx.At[[2]uintptr](iov + uintptr(i)*16)
		if v[1] == 0 {
			continue
		}
		r := op(v[0], v[1], total)
		if r < 0 {
			if total > 0 {
				return total
			}
			return r
		}
		total += r
		if uintptr(r) < v[1] {
			break
		}
	}
	return total
}

func doLseek(fd int, off int64, whence int) int64 {
	f := fget(fd)
	if f == 0 {
		return -abi.EBADF
	}
	if of(f).kind == fdFs && whence == seekEnd {
		fsLseekEnd(f)
	}
	fsLock.Lock()
	r := lseekLocked(of(f), off, whence)
	fsLock.Unlock()
	fput(f)
	return r
}

func lseekLocked(o *ofile, off int64, whence int) int64 {
	ops := opsOf(o.kind)
	if ops.seek == nil {
		return -abi.ESPIPE
	}
	return ops.seek(o, off, whence)
}

func doGetdents64(fd int, buf, n uintptr) int64 {
	f := fget(fd)
	if f == 0 {
		return -abi.EBADF
	}
	defer fput(f)
	o := of(f)
	if o.kind == fdFs {
		return fsGetdents(f, buf, n)
	}
	if o.kind != fdDir {
		return -abi.ENOTDIR
	}
	if n > maxRW {
		n = maxRW
	}
	if !mm.UserOK(buf, n, true) {
		return -abi.EFAULT
	}
	fsLock.Lock()
	defer fsLock.Unlock()
	w, next, err := memfs.ReadDir(memfs.Inode(o.obj), uint64(o.off), kctx.BytesAt(buf, int(n)))
	if err == memfs.ENOENT {
		return 0 // a removed directory reads as empty, as on Linux
	}
	if err != 0 {
		return -int64(err)
	}
	o.off = int64(next)
	return int64(w)
}

const (
	fallocKeepSize = 0x01 // FALLOC_FL_KEEP_SIZE
)

// doFallocate: the file system keeps holes as zero pages on demand, so
// there is nothing to reserve. Mode 0 grows the file to off+length (the
// new bytes read as zeros), FALLOC_FL_KEEP_SIZE alone does nothing; the
// other modes (punching holes, collapsing, zeroing ranges) are refused with
// EOPNOTSUPP, as a file system without them does on Linux.
func doFallocate(fd int, mode int, off, length int64) int64 {
	if off < 0 || length <= 0 {
		return -abi.EINVAL
	}
	if mode&^fallocKeepSize != 0 {
		return -abi.EOPNOTSUPP
	}
	f := fget(fd)
	if f == 0 {
		return -abi.EBADF
	}
	r := fallocateFile(of(f), mode, off, length)
	fput(f)
	return r
}

func fallocateFile(o *ofile, mode int, off, length int64) int64 {
	if o.flags&oAccMode == oRdonly || o.flags&oPath != 0 {
		return -abi.EBADF
	}
	switch o.kind {
	case fdFile:
	case fdPipeR, fdPipeW:
		return -abi.ESPIPE
	default:
		return -abi.ENODEV
	}
	if off > memfs.MaxFileSize-length {
		return -abi.EFBIG
	}
	fsLock.Lock()
	defer fsLock.Unlock()
	ino := memfs.Inode(o.obj)
	if memfs.Mode(ino)&memfs.ModeType != memfs.ModeRegular {
		return -abi.ENODEV
	}
	if mode&fallocKeepSize != 0 || off+length <= memfs.Size(ino) {
		return 0
	}
	return -int64(memfs.Truncate(ino, off+length, platform.Walltime()))
}

func doFtruncate(fd int, size int64) int64 {
	if r, ok := fsFdOp(fd, abi.FsOpSetattr, fsSetSize, 0, size); ok {
		return r
	}
	f := fget(fd)
	if f == 0 {
		return -abi.EBADF
	}
	defer fput(f)
	o := of(f)
	if o.kind != fdFile || o.flags&oAccMode == oRdonly || o.flags&oPath != 0 {
		return -abi.EINVAL
	}
	fsLock.Lock()
	defer fsLock.Unlock()
	return -int64(memfs.Truncate(memfs.Inode(o.obj), size, platform.Walltime()))
}
