package vfs

import (
	"unsafe"

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
// Locking: FSLock guards the descriptor table, ofile reference counts and
// offsets, the working directory, umask and all of memfs (which has no
// lock of its own). The state of pipes, eventfds, epoll instances and the
// console input ring is guarded by SchedLock, because waking a blocked
// thread needs it anyway. Order: FSLock, then SchedLock (then mm.VMLock via
// mm.UserOK, or one run-queue lock: kernel/task/runq.go). Nothing blocks while
// holding FSLock.
const MaxFDs = task.MaxFDs

// OFile kinds.
const (
	fdFree = iota
	fdConsole
	FdFile    // memfs regular file, symlink (O_PATH) or device stand-in
	fdDir     // memfs directory
	fdPipeR   // read end of a pipe
	fdPipeW   // write end of a pipe
	FdEventfd // eventfd counter
	fdEpoll   // epoll instance
	fdDevNull // /dev/null
	FdDevZero // /dev/zero
	fdDevRand // /dev/random, /dev/urandom
	FdSocket  // socket (sock)
	FdNetchan // the netstack channel (kernel/socket/netchan.go)
	fdFs      // a file under a mount, served over the file channel (fschan.go)
	fdFschan  // the file channel (fschan.go)
	nKinds
)

// FileOps is what one kind of ofile does: kindOps[kind] is its row, and
// the file holding the kind's implementation declares the row (consoleOps,
// memfileOps, pipeReaderOps, SocketOps, ...). The rows are static data:
// top-level functions, nothing allocated, no init work. A nil operation
// is one the kind lacks: read and write fail with EINVAL, seek with
// ESPIPE (and pread/pwrite with it), fionread with ENOTTY, and a kind
// without poll cannot be watched by epoll (EPERM).
type FileOps struct {
	// Read and write move n bytes (n <= maxRW, user memory validated)
	// at the file offset (pos < 0) or at pos.
	Read, Write func(f uintptr, o *OFile, buf, n uintptr, pos int64) int64
	// readLimit clips a read of n bytes at pos (< 0: the offset) to what
	// the object holds, before the buffer is validated.
	readLimit func(o *OFile, n uintptr, pos int64) uintptr
	// Release frees the object with the ofile's last reference. Caller
	// holds FSLock.
	Release func(o *OFile)
	// Poll is the object's epoll readiness. Caller holds SchedLock.
	Poll func(obj uintptr) uint32
	// watch runs when epoll starts watching an ofile of the kind.
	watch func()
	// Fionread counts the bytes ready to read (FIONREAD).
	Fionread func(o *OFile) int64
	// seek serves lseek. Caller holds FSLock.
	seek func(o *OFile, off int64, whence int) int64
	// Inode: obj is a memfs.Inode, which fstat encodes and the last
	// reference drops. Otherwise fstat reports mode, dev and rdev.
	Inode     bool
	Mode      uint32
	Dev, rdev uint64
	// anyAccess: read and write whatever the access mode (the console).
	anyAccess bool
}

// kindOps is the operations table of the kinds implemented in this
// package; fdFree's row is empty. The kinds implemented above it
// (fdSocket, fdNetchan) have their rows in upperOps.
var kindOps = [nKinds]*FileOps{
	fdFree:    &freeOps,
	fdConsole: &consoleOps,
	FdFile:    &memfileOps,
	fdDir:     &dirOps,
	fdPipeR:   &pipeReaderOps,
	fdPipeW:   &pipeWriterOps,
	FdEventfd: &eventfdOps,
	fdEpoll:   &epollOps,
	fdDevNull: &devNullOps,
	FdDevZero: &devZeroOps,
	fdDevRand: &devRandOps,
	fdFs:      &fsfileOps,
	fdFschan:  &fschanOps,
}

var freeOps FileOps

// OpsOf returns kind's row. It reads kindOps through an interface so that
// the table's initialiser does not depend on itself (the rows hold
// functions that, through wake-ups and epoll, reach OpsOf; Go rejects such
// an initialisation cycle but does not follow calls through interfaces).
// Static data either way.
func OpsOf(kind uint32) *FileOps {
	if row := kindTable.row(kind); row != nil {
		return row
	}
	return (*FileOps)(unsafe.Pointer(upperOps[kind]))
}

// upperOps holds the rows of the kinds implemented above this package,
// installed at boot (RegisterOps) before any file of theirs exists. A row
// is static data, held by address: the store is not a pointer store, so
// it needs no write barrier, and static data never moves.
var upperOps [nKinds]uintptr

// MissingKinds reports the kinds without a row (bit kind), which is none
// once the layers above have registered theirs.
func MissingKinds() uint64 {
	var m uint64
	for k := uint32(fdConsole); k < nKinds; k++ {
		if OpsOf(k) == nil {
			m |= 1 << k
		}
	}
	return m
}

// RegisterOps installs row as kind's operations. Call it at boot, before
// the kind's first file opens, for each kind implemented above this
// package; row must be a package-level variable.
func RegisterOps(kind uint32, row *FileOps) {
	upperOps[kind] = uintptr(unsafe.Pointer(row))
}

var kindTable opsTable = kindRows{}

type opsTable interface{ row(kind uint32) *FileOps }

type kindRows struct{}

func (kindRows) row(kind uint32) *FileOps { return kindOps[kind] }

// Linux open(2) flags used here.
const (
	OAccMode   = 0o3
	oRdonly    = 0o0
	OWronly    = 0o1
	ORdwr      = 0o2
	oCreat     = 0o100
	oExcl      = 0o200
	oNoctty    = 0o400
	oTrunc     = 0o1000
	oAppend    = 0o2000
	ONonblock  = 0o4000
	oDsync     = 0o10000
	oAsync     = 0o20000
	oDirect    = 0o40000
	oLargefile = 0o100000
	oDirectory = 0o200000
	oNofollow  = 0o400000
	oNoatime   = 0o1000000
	OCloexec   = 0o2000000
	OPath      = 0o10000000

	// oSetflMask is what F_SETFL may change.
	oSetflMask = oAppend | ONonblock | oAsync | oDirect | oNoatime
)

// OFile is an open file description, in kmem memory.
type OFile struct {
	Refs  int32
	Kind  uint32
	Flags uint32 // access mode and status flags (O_APPEND, O_NONBLOCK, ...)
	_     uint32
	off   int64   // file offset; for directories the ReadDir cookie
	Obj   uintptr // memfs.Inode, pipe, eventfd or epoll address
}

type fdSlot struct {
	File    uintptr // *ofile, 0 if free
	cloexec bool
}

var (
	FSLock  spinlock.Lock
	fds     [MaxFDs]fdSlot
	cwd     memfs.Inode // holds a reference
	umask   uint32      = 0o022
	fsReady bool        // memfs initialised
)

func Of(p uintptr) *OFile { return kctx.At[OFile](p) }

// FdKind returns the kind of fd's open file, fdFree (0) if fd names none.
func FdKind(fd int) uint32 {
	FSLock.Lock()
	defer FSLock.Unlock()
	if fd < 0 || fd >= MaxFDs || fds[fd].File == 0 {
		return fdFree
	}
	return Of(fds[fd].File).Kind
}

// FdInit sets up the filesystem and descriptors 0, 1 and 2 (the console).
// It runs once at boot, after time and memory are up.
func FdInit() {
	FSLock.Lock()
	defer FSLock.Unlock()
	if fsReady {
		return
	}
	fsReady = true
	fsSetup()
	con := NewOFile(fdConsole, ORdwr, conObj)
	if con == 0 {
		kctx.Panic("no memory for the console")
	}
	Of(con).Refs = 3
	for i := 0; i < 3; i++ {
		fds[i].File = con
	}
}

// NewOFile allocates an ofile with one reference, or returns 0.
func NewOFile(kind, flags uint32, obj uintptr) uintptr {
	p := kmem.Alloc(task.UintptrSize(OFile{}))
	if p == 0 {
		return 0
	}
	f := Of(p)
	f.Refs = 1
	f.Kind = kind
	f.Flags = flags
	f.Obj = obj
	return p
}

// fdAllocLocked installs file at the lowest free descriptor >= min and
// returns it, or -EMFILE. The caller's reference moves to the table on
// success. Caller holds FSLock.
func fdAllocLocked(file uintptr, min int, cloexec bool) int64 {
	for i := min; i < MaxFDs; i++ {
		if fds[i].File == 0 {
			fds[i].File = file
			fds[i].cloexec = cloexec
			return int64(i)
		}
	}
	return -abi.EMFILE
}

// FdInstall is fdAllocLocked taking FSLock; on failure it drops the
// caller's reference.
func FdInstall(file uintptr, cloexec bool) int64 {
	FSLock.Lock()
	r := fdAllocLocked(file, 0, cloexec)
	if r < 0 {
		filePutLocked(file)
	}
	FSLock.Unlock()
	return r
}

// Fget returns fd's ofile with a reference taken, or 0.
func Fget(fd int) uintptr {
	FSLock.Lock()
	f := fgetLocked(fd)
	FSLock.Unlock()
	return f
}

func fgetLocked(fd int) uintptr {
	if fd < 0 || fd >= MaxFDs || fds[fd].File == 0 {
		return 0
	}
	f := fds[fd].File
	Of(f).Refs++
	return f
}

// Fput drops a reference taken by Fget.
func Fput(f uintptr) {
	FSLock.Lock()
	filePutLocked(f)
	FSLock.Unlock()
}

// filePutLocked drops a reference and releases the object with the last
// one. Caller holds FSLock.
func filePutLocked(f uintptr) {
	o := Of(f)
	o.Refs--
	if o.Refs > 0 {
		return
	}
	ops := OpsOf(o.Kind)
	if ops.Inode {
		flockRelease(f)
		memfs.Unref(memfs.Inode(o.Obj))
	} else if ops.Release != nil {
		ops.Release(o)
	}
	kctx.SchedLock.Lock()
	epollForget(f)
	kctx.SchedLock.Unlock()
	kmem.Free(f, task.UintptrSize(OFile{}))
}

// FdClose closes descriptor fd.
func FdClose(fd int) int64 {
	FSLock.Lock()
	defer FSLock.Unlock()
	if fd < 0 || fd >= MaxFDs || fds[fd].File == 0 {
		return -abi.EBADF
	}
	f := fds[fd].File
	fds[fd] = fdSlot{}
	filePutLocked(f)
	return 0
}

// fdDup2 makes newfd name oldfd's file (dup2, dup3).
func fdDup2(oldfd, newfd int, cloexec bool) int64 {
	FSLock.Lock()
	defer FSLock.Unlock()
	if oldfd < 0 || oldfd >= MaxFDs || fds[oldfd].File == 0 || newfd < 0 || newfd >= MaxFDs {
		return -abi.EBADF
	}
	f := fds[oldfd].File
	if oldfd == newfd {
		return int64(newfd)
	}
	old := fds[newfd].File
	Of(f).Refs++
	fds[newfd] = fdSlot{File: f, cloexec: cloexec}
	if old != 0 {
		filePutLocked(old)
	}
	return int64(newfd)
}

// fdDupMin duplicates fd onto the lowest free descriptor >= min (dup,
// F_DUPFD, F_DUPFD_CLOEXEC).
func fdDupMin(fd, min int, cloexec bool) int64 {
	if min < 0 || min >= MaxFDs {
		return -abi.EINVAL
	}
	FSLock.Lock()
	defer FSLock.Unlock()
	f := fgetLocked(fd)
	if f == 0 {
		return -abi.EBADF
	}
	r := fdAllocLocked(f, min, cloexec)
	if r < 0 {
		Of(f).Refs--
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
	FSLock.Lock()
	defer FSLock.Unlock()
	if fd < 0 || fd >= MaxFDs || fds[fd].File == 0 {
		return -abi.EBADF
	}
	s := &fds[fd]
	o := Of(s.File)
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
		return int64(o.Flags | oLargefile)
	case fSetfl:
		o.Flags = o.Flags&^oSetflMask | uint32(arg)&oSetflMask
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
		if o.Kind != fdPipeR && o.Kind != fdPipeW {
			return -abi.EBADF
		}
		return pipeSize
	}
	return -abi.EINVAL
}

// closeOnExec is not needed (no exec); the bit is kept for F_GETFD.

// MaxRW is Linux's MAX_RW_COUNT: larger reads and writes are cut short.
const MaxRW = 0x7ffff000

func fdWrite(fd int, buf, n uintptr) int64 {
	f := Fget(fd)
	if f == 0 {
		return -abi.EBADF
	}
	r := fileWrite(f, buf, n, -1)
	Fput(f)
	return r
}

func fdRead(fd int, buf, n uintptr) int64 {
	f := Fget(fd)
	if f == 0 {
		return -abi.EBADF
	}
	r := fileRead(f, buf, n, -1)
	Fput(f)
	return r
}

// fdPread and fdPwrite serve pread64/pwrite64: off must be >= 0 and the
// file seekable.
func fdPread(fd int, buf, n uintptr, off int64) int64 { return fdPio(fd, buf, n, off, fileRead) }

func fdPwrite(fd int, buf, n uintptr, off int64) int64 { return fdPio(fd, buf, n, off, fileWrite) }

func fdPio(fd int, buf, n uintptr, off int64, io func(f, buf, n uintptr, off int64) int64) int64 {
	f := Fget(fd)
	if f == 0 {
		return -abi.EBADF
	}
	r := int64(-abi.ESPIPE)
	if off < 0 {
		r = -abi.EINVAL
	} else if seekable(Of(f).Kind) {
		r = io(f, buf, n, off)
	}
	Fput(f)
	return r
}

func seekable(kind uint32) bool { return OpsOf(kind).seek != nil }

// fileWrite writes n bytes at buf to f, at the file offset (pos < 0) or
// at pos (pwrite64).
func fileWrite(f uintptr, buf, n uintptr, pos int64) int64 {
	o := Of(f)
	ops := OpsOf(o.Kind)
	if o.Flags&OPath != 0 || o.Flags&OAccMode == oRdonly && !ops.anyAccess {
		return -abi.EBADF
	}
	if n > MaxRW {
		n = MaxRW
	}
	if !mm.UserOK(buf, n, false) {
		return -abi.EFAULT
	}
	if ops.Write == nil {
		return -abi.EINVAL
	}
	return ops.Write(f, o, buf, n, pos)
}

// fileRead reads up to n bytes from f into buf, at the file offset
// (pos < 0) or at pos (pread64).
func fileRead(f uintptr, buf, n uintptr, pos int64) int64 {
	o := Of(f)
	ops := OpsOf(o.Kind)
	if o.Flags&OPath != 0 || o.Flags&OAccMode == OWronly && !ops.anyAccess {
		return -abi.EBADF
	}
	if n > MaxRW {
		n = MaxRW
	}
	if ops.readLimit != nil && n > 0 {
		n = ops.readLimit(o, n, pos)
	}
	if !mm.UserOK(buf, n, true) {
		return -abi.EFAULT
	}
	if ops.Read == nil {
		return -abi.EINVAL
	}
	return ops.Read(f, o, buf, n, pos)
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
	f := Fget(fd)
	if f == 0 {
		return -abi.EBADF
	}
	defer Fput(f)
	if pos >= 0 && !seekable(Of(f).Kind) {
		return -abi.ESPIPE
	}
	return EachIovec(iov, cnt, func(base, n uintptr, done int64) int64 {
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

// EachIovec transfers the buffers of the iovec array iov (cnt entries,
// validated by the caller) one by one with op, which gets a buffer and
// the bytes done before it, as readv/writev do: empty buffers are
// skipped, a short transfer ends the call, and so does an error, which
// is returned only if nothing was transferred (else the count is).
func EachIovec(iov uintptr, cnt int, op func(base, n uintptr, done int64) int64) int64 {
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
	f := Fget(fd)
	if f == 0 {
		return -abi.EBADF
	}
	if Of(f).Kind == fdFs && whence == seekEnd {
		fsLseekEnd(f)
	}
	FSLock.Lock()
	r := lseekLocked(Of(f), off, whence)
	FSLock.Unlock()
	Fput(f)
	return r
}

func lseekLocked(o *OFile, off int64, whence int) int64 {
	ops := OpsOf(o.Kind)
	if ops.seek == nil {
		return -abi.ESPIPE
	}
	return ops.seek(o, off, whence)
}

func doGetdents64(fd int, buf, n uintptr) int64 {
	f := Fget(fd)
	if f == 0 {
		return -abi.EBADF
	}
	defer Fput(f)
	o := Of(f)
	if o.Kind == fdFs {
		return fsGetdents(f, buf, n)
	}
	if o.Kind != fdDir {
		return -abi.ENOTDIR
	}
	if n > MaxRW {
		n = MaxRW
	}
	if !mm.UserOK(buf, n, true) {
		return -abi.EFAULT
	}
	FSLock.Lock()
	defer FSLock.Unlock()
	w, next, err := memfs.ReadDir(memfs.Inode(o.Obj), uint64(o.off), kctx.BytesAt(buf, int(n)))
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
	f := Fget(fd)
	if f == 0 {
		return -abi.EBADF
	}
	r := fallocateFile(Of(f), mode, off, length)
	Fput(f)
	return r
}

func fallocateFile(o *OFile, mode int, off, length int64) int64 {
	if o.Flags&OAccMode == oRdonly || o.Flags&OPath != 0 {
		return -abi.EBADF
	}
	switch o.Kind {
	case FdFile:
	case fdPipeR, fdPipeW:
		return -abi.ESPIPE
	default:
		return -abi.ENODEV
	}
	if off > memfs.MaxFileSize-length {
		return -abi.EFBIG
	}
	FSLock.Lock()
	defer FSLock.Unlock()
	ino := memfs.Inode(o.Obj)
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
	f := Fget(fd)
	if f == 0 {
		return -abi.EBADF
	}
	defer Fput(f)
	o := Of(f)
	if o.Kind != FdFile || o.Flags&OAccMode == oRdonly || o.Flags&OPath != 0 {
		return -abi.EINVAL
	}
	FSLock.Lock()
	defer FSLock.Unlock()
	return -int64(memfs.Truncate(memfs.Inode(o.Obj), size, platform.Walltime()))
}
