package vfs

import (
	"unsafe"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/idtable"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/kmem"
	"github.com/unigo-os/unigo/kernel/memfs"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/kernel/platform"
	"github.com/unigo-os/unigo/kernel/task"
	"github.com/unigo-os/unigo/rt"
)

// The kernel's side of the file channel (protocol: abi/fschan.go).
//
// Mounts (fsMounts) are guarded by FSLock and only ever added. A path
// system call first asks fsResolve whether its path lies under a mount;
// if so it builds a request (fsReq, a kmem block with the paths after
// it), drops FSLock and waits in fsCall, as a netstack request does:
// the request is queued (fsQHead), the server's reader woken, and the
// caller blocks on the request's wait queue until SysFsReply. Requests
// are registered in fsReqIDs (kernel/idtable), so a stale or forged id
// from the server names nothing. Queue, table and request states are guarded by
// SchedLock. Descriptors opened under a mount are ofiles of kind fdFs
// whose obj is an fsFile (mount, server handle, absolute path).

const (
	fsMaxMounts   = 16
	fsMountPath   = 256
	fsMaxReqs     = 1024
	fsMaxIO       = 1 << 20 // the most one read or write request moves
	fsStatDevBase = 0x800   // st_dev of mount m: fsStatDevBase + m
)

type fsMount struct {
	n     int
	flags uint32
	path  [fsMountPath]byte
}

// Request states.
const (
	fsQueued  = 1 // waiting for the server to read it
	fsTaken   = 2 // read by the server
	fsCopying = 3 // a reply or pull is copying data
	fsDone    = 4 // answered
)

// fsReq is one request; its paths follow it in the same block.
type fsReq struct {
	hdr    abi.FsRequest
	size   uintptr // block size, for kmem.Free
	state  uint32
	async  bool // nobody waits: freed when answered
	next   uintptr
	wq     task.Waitq
	result int64
	aux    int64
	buf    uintptr  // the caller's buffer (read, readdir, readlink, write)
	data   [96]byte // FsAttr or FsStatfs from the reply
}

// fsFile is the object of an fdFs ofile; its absolute path follows it.
type fsFile struct {
	mount   uint32
	mode    uint32 // st_mode at open
	handle  uint64
	size    int64 // size at open (devices keep theirs)
	pathLen uint32
}

var (
	fsMounts  [fsMaxMounts]fsMount
	fsNMounts int // read without FSLock by the hooks' fast path

	fsReqIDs    [fsMaxReqs]idtable.Slot
	fsReqIDNext int
	fsSlotWait  task.Waitq
	fsQHead     uintptr
	fsQTail     uintptr
	fsReaders   task.Waitq
	fsChanFile  uintptr

	// fsAbs holds the absolute forms of the (up to two) paths of the
	// call being resolved; fsBase a relative path's base. Under FSLock.
	fsAbs  [2][memfs.PathMax]byte
	fsBase [memfs.PathMax]byte
	// fsCwd is the working directory's absolute path while it lies in
	// a mount (fsCwdLen > 0); memfs's cwd is then the mount point.
	fsCwd    [memfs.PathMax]byte
	fsCwdLen int
)

func rq(p uintptr) *fsReq          { return kctx.At[fsReq](p) }
func ff(p uintptr) *fsFile         { return kctx.At[fsFile](p) }
func fsMounted() bool              { return fsNMounts > 0 }
func fsReqPaths(p uintptr) uintptr { return p + unsafe.Sizeof(fsReq{}) }

// Private system calls.

func SysFsAttach(f *rt.Frame) int64 { return doFsAttach() }
func SysFsMount(f *rt.Frame) int64  { return doFsMount(uintptr(f.RDI), uintptr(f.RSI), uint32(f.RDX)) }
func SysFsReply(f *rt.Frame) int64 {
	return doFsReply(f.RDI, int64(f.RSI), uintptr(f.RDX), uintptr(f.R10), int64(f.R8))
}
func SysFsPull(f *rt.Frame) int64 {
	return doFsPull(f.RDI, uintptr(f.RSI), uintptr(f.RDX), uint64(f.R10))
}

func doFsAttach() int64 {
	kctx.SchedLock.Lock()
	if fsChanFile != 0 {
		kctx.SchedLock.Unlock()
		return -abi.EBUSY
	}
	kctx.SchedLock.Unlock()
	f := NewOFile(fdFschan, ORdwr, 0)
	if f == 0 {
		return -abi.ENOMEM
	}
	kctx.SchedLock.Lock()
	if fsChanFile != 0 {
		kctx.SchedLock.Unlock()
		Fput(f)
		return -abi.EBUSY
	}
	fsChanFile = f
	Of(f).Obj = f
	Of(f).Refs++ // the kernel keeps the channel for good
	kctx.SchedLock.Unlock()
	return FdInstall(f, true)
}

func doFsMount(addr, n uintptr, flags uint32) int64 {
	if flags&^(abi.FsMountRO|abi.FsMountDevice) != 0 {
		return -abi.EINVAL
	}
	if n < 2 || n >= fsMountPath {
		return -abi.ENAMETOOLONG
	}
	if !mm.UserOK(addr, n, false) {
		return -abi.EFAULT
	}
	FSLock.Lock()
	defer FSLock.Unlock()
	if fsChanFile == 0 {
		return -abi.ENOTCONN
	}
	if fsNMounts >= fsMaxMounts {
		return -abi.ENOSPC
	}
	m := &fsMounts[fsNMounts]
	l := fsJoinClean(m.path[:], nil, kctx.BytesAt(addr, int(n)))
	if l <= 1 || kctx.BytesAt(addr, 1)[0] != '/' {
		return -abi.EINVAL // "/" or a relative path
	}
	for i := 0; i < fsNMounts; i++ {
		if string(fsMounts[i].path[:fsMounts[i].n]) == string(m.path[:l]) {
			return -abi.EBUSY
		}
	}
	now := platform.Walltime()
	p := m.path[:l]
	if flags&abi.FsMountDevice != 0 {
		ino, e := memfs.Open(memfs.Root(), p, oCreat|ORdwr, 0o660, now)
		if e != 0 {
			return -int64(e)
		}
		memfs.Unref(ino)
	} else if e := memfs.MkdirAll(p, 0o755, now); e != 0 {
		return -int64(e)
	}
	m.n = l
	m.flags = flags
	fsNMounts++
	return int64(fsNMounts - 1)
}

// The channel descriptor.

var fschanOps = FileOps{
	Read: fschanFileRead,
	Poll: fschanPoll,
	Mode: 0o600,
	Dev:  0xe,
}

func fschanPoll(uintptr) uint32 {
	m := uint32(EpollOut | EpollWrnorm)
	if fsQHead != 0 {
		m |= EpollIn | EpollRdnorm
	}
	return m
}

func fschanFileRead(f uintptr, o *OFile, buf, n uintptr, pos int64) int64 {
	return ChanRead(buf, n, abi.FsMaxRecord, o.Flags&ONonblock != 0, &fsReaders, fsPending, fsTake)
}

func fsPending() bool { return fsQHead != 0 }

// fsTake moves queued requests to buf (n bytes), each as an
// abi.FsRequest and its paths, and marks them taken. Caller holds
// SchedLock.
func fsTake(buf, n uintptr) uintptr {
	var done uintptr
	for fsQHead != 0 {
		p := fsQHead
		r := rq(p)
		size := uintptr(r.hdr.Size)
		if done+size > n {
			break
		}
		fsQHead = r.next
		if fsQHead == 0 {
			fsQTail = 0
		}
		r.next = 0
		r.state = fsTaken
		dst := kctx.BytesAt(buf+done, int(size))
		copy(dst, kctx.BytesAt(p, int(unsafe.Sizeof(abi.FsRequest{}))))
		plen := int(r.hdr.PathLen) + int(r.hdr.Path2Len)
		off := int(unsafe.Sizeof(abi.FsRequest{}))
		copy(dst[off:off+plen], kctx.BytesAt(fsReqPaths(p), plen))
		clear(dst[off+plen:])
		done += size
	}
	return done
}

// Requests.

// fsNewReq allocates a request for op on mount m with room for paths of
// n bytes, or returns 0.
func fsNewReq(op uint32, m int, n int) uintptr {
	size := unsafe.Sizeof(fsReq{}) + uintptr(n)
	p := kmem.Alloc(size)
	if p == 0 {
		return 0
	}
	r := rq(p)
	r.size = size
	r.hdr.Op = op
	r.hdr.Mount = uint32(m)
	r.hdr.Atime, r.hdr.Mtime = -1, -1
	r.hdr.Size = uint32((unsafe.Sizeof(abi.FsRequest{}) + uintptr(n) + 7) &^ 7)
	return p
}

// fsSetPaths copies the request's paths after it.
func fsSetPaths(p uintptr, a, b []byte) {
	r := rq(p)
	r.hdr.PathLen = uint16(len(a))
	r.hdr.Path2Len = uint16(len(b))
	dst := kctx.BytesAt(fsReqPaths(p), len(a)+len(b))
	copy(dst, a)
	copy(dst[len(a):], b)
}

func fsFreeReq(p uintptr) { kmem.Free(p, rq(p).size) }

// fsQueueLocked gives p an id and queues it. It waits for a free slot,
// or with nowait reports false when there is none. Caller holds
// SchedLock.
func fsQueueLocked(p uintptr, nowait bool) bool {
	for {
		if id := idtable.Alloc(fsReqIDs[:], &fsReqIDNext, p); id != 0 {
			r := rq(p)
			r.hdr.ID = id
			r.state = fsQueued
			if fsQTail != 0 {
				rq(fsQTail).next = p
			} else {
				fsQHead = p
			}
			fsQTail = p
			fsReaders.WakeAll()
			PollNotify(fsChanFile)
			return true
		}
		if nowait {
			return false
		}
		fsSlotWait.Wait(0)
	}
}

// fsUnregisterLocked frees p's slot. Caller holds SchedLock.
func fsUnregisterLocked(p uintptr) {
	idtable.Free(fsReqIDs[:], rq(p).hdr.ID)
	fsSlotWait.WakeAll()
}

// fsCall sends request p and waits for the answer, which it returns
// (p stays the caller's to read and free). FSLock must not be held.
func fsCall(p uintptr) int64 {
	kctx.SchedLock.Lock()
	fsQueueLocked(p, false)
	r := rq(p)
	for r.state != fsDone {
		r.wq.Wait(0)
	}
	fsUnregisterLocked(p)
	kctx.SchedLock.Unlock()
	return r.result
}

// fsSend sends request p that nobody waits for (close); with every slot
// taken it is dropped (the server keeps a handle). Caller may hold FSLock.
func fsSend(p uintptr) {
	kctx.SchedLock.Lock()
	rq(p).async = true
	ok := fsQueueLocked(p, true)
	kctx.SchedLock.Unlock()
	if !ok {
		fsFreeReq(p)
	}
}

// fsLookupLocked returns the request with id in state fsTaken, or 0.
// Caller holds SchedLock.
func fsLookupLocked(id uint64) uintptr {
	p := idtable.Lookup(fsReqIDs[:], id)
	if p == 0 || rq(p).state != fsTaken {
		return 0
	}
	return p
}

func doFsReply(id uint64, result int64, data, n uintptr, aux int64) int64 {
	kctx.SchedLock.Lock()
	p := fsLookupLocked(id)
	if p == 0 {
		kctx.SchedLock.Unlock()
		return -abi.EINVAL
	}
	r := rq(p)
	r.state = fsCopying
	kctx.SchedLock.Unlock()
	if result < -4095 {
		result = -abi.EIO
	}
	if result >= 0 {
		result = fsReplyData(r, result, data, n)
	}
	kctx.SchedLock.Lock()
	r.result = result
	r.aux = aux
	r.state = fsDone
	if r.async {
		fsUnregisterLocked(p)
		kctx.SchedLock.Unlock()
		fsFreeReq(p)
		return 0
	}
	r.wq.WakeAll()
	kctx.SchedLock.Unlock()
	return 0
}

// fsReplyData copies a reply's payload where the request wants it and
// returns the call's result.
func fsReplyData(r *fsReq, result int64, data, n uintptr) int64 {
	switch r.hdr.Op {
	case abi.FsOpRead, abi.FsOpReaddir, abi.FsOpReadlink:
		if n > uintptr(r.hdr.Len) {
			n = uintptr(r.hdr.Len)
		}
		if n == 0 {
			return 0
		}
		if !mm.UserOK(data, n, false) || !mm.UserOK(r.buf, n, true) {
			return -abi.EIO
		}
		copy(kctx.BytesAt(r.buf, int(n)), kctx.BytesAt(data, int(n)))
		return int64(n)
	case abi.FsOpOpen, abi.FsOpStat, abi.FsOpFstat, abi.FsOpStatfs:
		want := unsafe.Sizeof(abi.FsAttr{})
		if r.hdr.Op == abi.FsOpStatfs {
			want = unsafe.Sizeof(abi.FsStatfs{})
		}
		if n != want || !mm.UserOK(data, n, false) {
			return -abi.EIO
		}
		copy(r.data[:n], kctx.BytesAt(data, int(n)))
	}
	return result
}

func doFsPull(id uint64, buf, n uintptr, off uint64) int64 {
	kctx.SchedLock.Lock()
	p := fsLookupLocked(id)
	if p == 0 || rq(p).hdr.Op != abi.FsOpWrite {
		kctx.SchedLock.Unlock()
		return -abi.EINVAL
	}
	r := rq(p)
	r.state = fsCopying
	kctx.SchedLock.Unlock()
	var res int64
	switch {
	case off > r.hdr.Len:
		res = -abi.EINVAL
	default:
		if uint64(n) > r.hdr.Len-off {
			n = uintptr(r.hdr.Len - off)
		}
		if n > 0 && (!mm.UserOK(buf, n, true) || !mm.UserOK(r.buf+uintptr(off), n, false)) {
			res = -abi.EFAULT
		} else if n > 0 {
			copy(kctx.BytesAt(buf, int(n)), kctx.BytesAt(r.buf+uintptr(off), int(n)))
			res = int64(n)
		}
	}
	kctx.SchedLock.Lock()
	r.state = fsTaken
	kctx.SchedLock.Unlock()
	return res
}

// Path resolution.

// fsResolveLocked copies path argument addr (into pathBufs[which]) and
// finds the mount it lies under. It returns the mount (-1: none) and the
// path relative to it (in fsAbs[which]). With emptyOK an empty path names
// dirfd: then f is dirfd's fdFs ofile (or the call is not the channel's:
// m < 0). Caller holds FSLock.
func fsResolveLocked(dirfd int, addr uintptr, which int, emptyOK bool) (m int, rel []byte, f uintptr, err int64) {
	path, err := userPath(addr, which, emptyOK)
	if err != 0 {
		return -1, nil, 0, err
	}
	if len(path) == 0 {
		if dirfd >= 0 && dirfd < MaxFDs && fds[dirfd].File != 0 && Of(fds[dirfd].File).Kind == fdFs {
			f = fds[dirfd].File
			return int(ff(Of(f).Obj).mount), nil, f, 0
		}
		return -1, nil, 0, 0
	}
	var base []byte
	inMount := false
	if path[0] != '/' {
		switch {
		case dirfd == AtFDCWD && fsCwdLen > 0:
			base, inMount = fsCwd[:fsCwdLen], true
		case dirfd == AtFDCWD:
			n, e := memfs.Path(cwd, fsBase[:])
			if e != 0 {
				return -1, nil, 0, -int64(e)
			}
			base = fsBase[:n]
		case dirfd < 0 || dirfd >= MaxFDs || fds[dirfd].File == 0:
			return -1, nil, 0, -abi.EBADF
		default:
			o := Of(fds[dirfd].File)
			switch o.Kind {
			case fdFs:
				x := ff(o.Obj)
				base = kctx.BytesAt(o.Obj+unsafe.Sizeof(fsFile{}), int(x.pathLen))
				inMount = true
			case fdDir:
				n, e := memfs.Path(memfs.Inode(o.Obj), fsBase[:])
				if e != 0 {
					return -1, nil, 0, -int64(e)
				}
				base = fsBase[:n]
			default:
				return -1, nil, 0, -abi.ENOTDIR
			}
		}
	}
	n := fsJoinClean(fsAbs[which][:], base, path)
	if n < 0 {
		return -1, nil, 0, -abi.ENAMETOOLONG
	}
	abs := fsAbs[which][:n]
	m, best := -1, 0
	for i := 0; i < fsNMounts; i++ {
		mp := fsMounts[i].path[:fsMounts[i].n]
		if r, ok := fsUnder(abs, mp); ok && len(mp) > best {
			m, rel, best = i, r, len(mp)
		}
	}
	if m < 0 && inMount {
		// A relative path that leaves a mount through "..": memfs
		// would resolve it from the wrong place.
		return -1, nil, 0, -abi.ENOENT
	}
	return m, rel, 0, 0
}

// fsPathReq resolves (dirfd, addr) and, when it lies under a mount,
// returns a request for op with its relative path. handled is false when
// the path is memfs's; err is the call's error. It takes FSLock.
func fsPathReq(op uint32, dirfd int, addr uintptr, emptyOK bool) (p uintptr, f uintptr, handled bool, err int64) {
	FSLock.Lock()
	defer FSLock.Unlock()
	m, rel, f, err := fsResolveLocked(dirfd, addr, 0, emptyOK)
	if err != 0 {
		return 0, 0, true, err
	}
	if m < 0 {
		return 0, 0, false, 0
	}
	if f != 0 {
		Of(f).Refs++
		return 0, f, true, 0
	}
	p = fsNewReq(op, m, len(rel))
	if p == 0 {
		return 0, 0, true, -abi.ENOMEM
	}
	fsSetPaths(p, rel, nil)
	return p, 0, true, 0
}

func fsReadOnly(m uint32) bool { return fsMounts[m].flags&abi.FsMountRO != 0 }

// fsFileReq returns a request for op on the open file f.
func fsFileReq(op uint32, f uintptr) uintptr {
	x := ff(Of(f).Obj)
	p := fsNewReq(op, int(x.mount), 0)
	if p != 0 {
		rq(p).hdr.Handle = x.handle
	}
	return p
}

// fsSimple sends p, frees it and returns the result.
func fsSimple(p uintptr) int64 {
	if p == 0 {
		return -abi.ENOMEM
	}
	r := fsCall(p)
	fsFreeReq(p)
	return r
}

// Hooks: each returns handled=false when the call is not the channel's.

func fsOpenat(dirfd int, addr uintptr, flags int, mode uint32) (int64, bool) {
	if !fsMounted() {
		return 0, false
	}
	p, _, handled, err := fsPathReq(abi.FsOpOpen, dirfd, addr, false)
	if !handled || err != 0 {
		return err, handled
	}
	r := rq(p)
	if fsReadOnly(r.hdr.Mount) && (flags&OAccMode != oRdonly || flags&(oCreat|oTrunc) != 0) {
		fsFreeReq(p)
		return -abi.EROFS, true
	}
	if flags&OPath != 0 {
		flags &= OPath | oDirectory | oNofollow | OCloexec
	}
	r.hdr.Flags = uint32(flags)
	FSLock.Lock()
	r.hdr.Mode = mode &^ umask
	FSLock.Unlock()
	res := fsCall(p)
	if res < 0 {
		fsFreeReq(p)
		return res, true
	}
	a := kctx.At[abi.FsAttr](kctx.PtrOf(&r.data[0]))
	mount := r.hdr.Mount
	// The absolute path: the mount point and the relative path.
	FSLock.Lock()
	defer FSLock.Unlock()
	mp := fsMounts[mount].path[:fsMounts[mount].n]
	rel := kctx.BytesAt(fsReqPaths(p), int(r.hdr.PathLen))
	plen := len(mp)
	if len(rel) > 0 {
		plen += 1 + len(rel)
	}
	obj := kmem.Alloc(unsafe.Sizeof(fsFile{}) + uintptr(plen))
	if obj == 0 {
		fsCloseHandle(mount, uint64(res))
		fsFreeReq(p)
		return -abi.ENOMEM, true
	}
	x := ff(obj)
	x.mount, x.handle, x.mode, x.size, x.pathLen = mount, uint64(res), a.Mode, int64(a.Size), uint32(plen)
	dst := kctx.BytesAt(obj+unsafe.Sizeof(fsFile{}), plen)
	copy(dst, mp)
	if len(rel) > 0 {
		dst[len(mp)] = '/'
		copy(dst[len(mp)+1:], rel)
	}
	fsFreeReq(p)
	st := uint32(flags) &^ (oCreat | oExcl | oNoctty | oTrunc | OCloexec | oLargefile)
	f := NewOFile(fdFs, st, obj)
	if f == 0 {
		fsFileFree(obj)
		return -abi.ENFILE, true
	}
	fd := fdAllocLocked(f, 0, flags&OCloexec != 0)
	if fd < 0 {
		filePutLocked(f)
	}
	return fd, true
}

func fsFileFree(obj uintptr) {
	x := ff(obj)
	fsCloseHandle(x.mount, x.handle)
	kmem.Free(obj, unsafe.Sizeof(fsFile{})+uintptr(x.pathLen))
}

// fsCloseHandle tells the server a handle is closed, without waiting.
func fsCloseHandle(m uint32, h uint64) {
	p := fsNewReq(abi.FsOpClose, int(m), 0)
	if p == 0 {
		return // the server keeps the handle; nothing breaks
	}
	rq(p).hdr.Handle = h
	fsSend(p)
}

// fsStatAt serves newfstatat and statx under a mount.
func fsStatAt(dirfd int, addr uintptr, flags int, out []byte) (int64, bool) {
	if !fsMounted() {
		return 0, false
	}
	if flags&^(atSymlinkNofollow|atEmptyPath|atNoAutomount|atStatxSyncMask) != 0 {
		return 0, false
	}
	p, f, handled, err := fsPathReq(abi.FsOpStat, dirfd, addr, flags&atEmptyPath != 0)
	if !handled || err != 0 {
		return err, handled
	}
	if f != 0 {
		r := fsFstat(f, out)
		Fput(f)
		return r, true
	}
	if flags&atSymlinkNofollow != 0 {
		rq(p).hdr.Flags = abi.FsFlagNofollow
	}
	res := fsCall(p)
	if res >= 0 {
		fsEncodeStat(rq(p), out)
		res = 0
	}
	fsFreeReq(p)
	return res, true
}

// fsFstat fills out with the stat of open file f.
func fsFstat(f uintptr, out []byte) int64 {
	p := fsFileReq(abi.FsOpFstat, f)
	if p == 0 {
		return -abi.ENOMEM
	}
	res := fsCall(p)
	if res >= 0 {
		fsEncodeStat(rq(p), out)
		res = 0
	}
	fsFreeReq(p)
	return res
}

// fsEncodeStat writes the FsAttr of a reply as struct stat.
func fsEncodeStat(r *fsReq, out []byte) {
	a := kctx.At[abi.FsAttr](kctx.PtrOf(&r.data[0]))
	clear(out[:memfs.StatSize])
	PutLE64(out[0:], fsStatDevBase+uint64(r.hdr.Mount))
	PutLE64(out[8:], a.Ino)
	PutLE64(out[16:], a.Nlink)
	PutLE32(out[24:], a.Mode)
	PutLE32(out[28:], a.UID)
	PutLE32(out[32:], a.GID)
	PutLE64(out[40:], a.Rdev)
	PutLE64(out[48:], a.Size)
	PutLE64(out[56:], 4096)
	PutLE64(out[64:], a.Blocks)
	fsPutTime(out[72:], a.Atime)
	fsPutTime(out[88:], a.Mtime)
	fsPutTime(out[104:], a.Ctime)
}

func fsPutTime(b []byte, ns int64) {
	PutLE64(b, uint64(ns/1e9))
	PutLE64(b[8:], uint64(ns%1e9))
}

// fsDirOp serves mkdirat, unlinkat and readlinkat-free single-path calls
// that change the tree.
func fsDirOp(op uint32, dirfd int, addr uintptr, mode, flags uint32) (int64, bool) {
	if !fsMounted() {
		return 0, false
	}
	p, _, handled, err := fsPathReq(op, dirfd, addr, false)
	if !handled || err != 0 {
		return err, handled
	}
	r := rq(p)
	if fsReadOnly(r.hdr.Mount) {
		fsFreeReq(p)
		return -abi.EROFS, true
	}
	if op == abi.FsOpMkdir {
		FSLock.Lock()
		mode &^= umask
		FSLock.Unlock()
	}
	r.hdr.Mode, r.hdr.Flags = mode, flags
	return fsSimple(p), true
}

func fsMkdirat(dirfd int, addr uintptr, mode uint32) (int64, bool) {
	return fsDirOp(abi.FsOpMkdir, dirfd, addr, mode&0o7777, 0)
}

func fsUnlinkat(dirfd int, addr uintptr, flags int) (int64, bool) {
	var fl uint32
	if flags&atRemovedir != 0 {
		fl = abi.FsFlagDir
	}
	return fsDirOp(abi.FsOpUnlink, dirfd, addr, 0, fl)
}

// fsTwoPaths serves renameat2 and linkat: both paths in one mount, or
// EXDEV.
func fsTwoPaths(op uint32, od int, oa uintptr, nd int, na uintptr, flags uint32) (int64, bool) {
	if !fsMounted() {
		return 0, false
	}
	FSLock.Lock()
	m1, rel1, _, err := fsResolveLocked(od, oa, 0, false)
	if err != 0 {
		FSLock.Unlock()
		return err, true
	}
	m2, rel2, _, err := fsResolveLocked(nd, na, 1, false)
	if err != 0 {
		FSLock.Unlock()
		return err, true
	}
	if m1 < 0 && m2 < 0 {
		FSLock.Unlock()
		return 0, false
	}
	if m1 != m2 {
		FSLock.Unlock()
		return -abi.EXDEV, true
	}
	if fsReadOnly(uint32(m1)) {
		FSLock.Unlock()
		return -abi.EROFS, true
	}
	p := fsNewReq(op, m1, len(rel1)+len(rel2))
	if p != 0 {
		fsSetPaths(p, rel1, rel2)
		rq(p).hdr.Flags = flags
	}
	FSLock.Unlock()
	return fsSimple(p), true
}

func fsRenameat2(od int, oa uintptr, nd int, na uintptr, flags int) (int64, bool) {
	var fl uint32
	if flags&memfs.RenameNoReplace != 0 {
		fl = abi.FsFlagNoReplace
	}
	return fsTwoPaths(abi.FsOpRename, od, oa, nd, na, fl)
}

func fsLinkat(od int, oa uintptr, nd int, na uintptr, flags int) (int64, bool) {
	var fl uint32
	if flags&atSymlinkFollow != 0 {
		fl = abi.FsFlagFollow
	}
	return fsTwoPaths(abi.FsOpLink, od, oa, nd, na, fl)
}

func fsSymlinkat(targetAddr uintptr, dirfd int, linkAddr uintptr) (int64, bool) {
	if !fsMounted() {
		return 0, false
	}
	FSLock.Lock()
	m, rel, _, err := fsResolveLocked(dirfd, linkAddr, 0, false)
	if err != 0 || m < 0 {
		FSLock.Unlock()
		return err, err != 0
	}
	target, err := userPath(targetAddr, 1, false)
	if err != 0 {
		FSLock.Unlock()
		return err, true
	}
	if fsReadOnly(uint32(m)) {
		FSLock.Unlock()
		return -abi.EROFS, true
	}
	p := fsNewReq(abi.FsOpSymlink, m, len(rel)+len(target))
	if p != 0 {
		fsSetPaths(p, rel, target)
	}
	FSLock.Unlock()
	return fsSimple(p), true
}

func fsReadlinkat(dirfd int, addr, buf uintptr, size int) (int64, bool) {
	if !fsMounted() {
		return 0, false
	}
	p, f, handled, err := fsPathReq(abi.FsOpReadlink, dirfd, addr, false)
	if !handled || err != 0 {
		return err, handled
	}
	if f != 0 {
		Fput(f)
		return -abi.EINVAL, true
	}
	rq(p).buf = buf
	rq(p).hdr.Len = uint64(size)
	return fsSimple(p), true
}

// fsSetattr serves chmod, truncate and utimensat on a path (or, with an
// empty path or none, on the descriptor dirfd).
func fsSetattr(dirfd int, addr uintptr, flags int, valid uint32, mode uint32, size, atime, mtime int64) (int64, bool) {
	if !fsMounted() {
		return 0, false
	}
	var p, f uintptr
	if addr == 0 {
		f = Fget(dirfd)
		if f == 0 {
			return 0, false
		}
		if Of(f).Kind != fdFs {
			Fput(f)
			return 0, false
		}
	} else {
		var handled bool
		var err int64
		p, f, handled, err = fsPathReq(abi.FsOpSetattr, dirfd, addr, flags&atEmptyPath != 0)
		if !handled || err != 0 {
			return err, handled
		}
	}
	if f != 0 {
		p = fsFileReq(abi.FsOpSetattr, f)
		Fput(f)
		if p == 0 {
			return -abi.ENOMEM, true
		}
	}
	r := rq(p)
	if fsReadOnly(r.hdr.Mount) {
		fsFreeReq(p)
		return -abi.EROFS, true
	}
	r.hdr.Flags, r.hdr.Mode, r.hdr.Off, r.hdr.Atime, r.hdr.Mtime = valid, mode, size, atime, mtime
	return fsSimple(p), true
}

// fsSetSize, fsSetMode, fsSetAtime, fsSetMtime: fsserve's SetAttr bits.
const (
	fsSetMode  = 1
	fsSetSize  = 8
	fsSetAtime = 16
	fsSetMtime = 32
)

// fsAccess serves faccessat and chown (which only checks existence).
func fsAccess(dirfd int, addr uintptr, mode, flags int) (int64, bool) {
	if !fsMounted() {
		return 0, false
	}
	p, f, handled, err := fsPathReq(abi.FsOpStat, dirfd, addr, flags&atEmptyPath != 0)
	if !handled || err != 0 {
		return err, handled
	}
	if f != 0 {
		Fput(f)
		return 0, true
	}
	r := rq(p)
	if flags&atSymlinkNofollow != 0 {
		r.hdr.Flags = abi.FsFlagNofollow
	}
	res := fsCall(p)
	if res >= 0 {
		res = 0
		a := kctx.At[abi.FsAttr](kctx.PtrOf(&r.data[0]))
		if mode&2 != 0 && fsReadOnly(r.hdr.Mount) {
			res = -abi.EROFS
		}
		if mode&1 != 0 && a.Mode&memfs.ModeType != memfs.ModeDir && a.Mode&0o111 == 0 {
			res = -abi.EACCES
		}
	}
	fsFreeReq(p)
	return res, true
}

// fsStatfs serves statfs(path) and fstatfs on the channel's files.
func fsStatfs(addr uintptr, fd int, buf uintptr) (int64, bool) {
	if !fsMounted() {
		return 0, false
	}
	var p uintptr
	if addr != 0 {
		var handled bool
		var err int64
		p, _, handled, err = fsPathReq(abi.FsOpStatfs, AtFDCWD, addr, false)
		if !handled || err != 0 {
			return err, handled
		}
	} else {
		f := Fget(fd)
		if f == 0 {
			return 0, false
		}
		if Of(f).Kind != fdFs {
			Fput(f)
			return 0, false
		}
		p = fsNewReq(abi.FsOpStatfs, int(ff(Of(f).Obj).mount), 0)
		Fput(f)
		if p == 0 {
			return -abi.ENOMEM, true
		}
	}
	if !mm.UserOK(buf, statfsSize, true) {
		fsFreeReq(p)
		return -abi.EFAULT, true
	}
	r := rq(p)
	res := fsCall(p)
	if res >= 0 {
		res = 0
		s := kctx.At[abi.FsStatfs](kctx.PtrOf(&r.data[0]))
		b := kctx.BytesAt(buf, statfsSize)
		clear(b)
		PutLE64(b[0:], uint64(s.Type))
		PutLE64(b[8:], uint64(s.Bsize))
		PutLE64(b[16:], s.Blocks)
		PutLE64(b[24:], s.Bfree)
		PutLE64(b[32:], s.Bavail)
		PutLE64(b[40:], s.Files)
		PutLE64(b[48:], s.Ffree)
		PutLE32(b[56:], fsStatDevBase+r.hdr.Mount)
		PutLE64(b[64:], uint64(s.NameLen))
		PutLE64(b[72:], uint64(s.Bsize))
		fl := uint64(0x20) // ST_VALID
		if fsReadOnly(r.hdr.Mount) {
			fl |= 1 // ST_RDONLY
		}
		PutLE64(b[80:], fl)
	}
	fsFreeReq(p)
	return res, true
}

// fsChdir serves chdir into a mount; a chdir elsewhere leaves fsCwd.
func fsChdir(addr uintptr) (int64, bool) {
	if !fsMounted() {
		return 0, false
	}
	FSLock.Lock()
	m, rel, _, err := fsResolveLocked(AtFDCWD, addr, 0, false)
	if err != 0 || m < 0 {
		FSLock.Unlock()
		return err, err != 0
	}
	p := fsNewReq(abi.FsOpStat, m, len(rel))
	if p == 0 {
		FSLock.Unlock()
		return -abi.ENOMEM, true
	}
	fsSetPaths(p, rel, nil)
	FSLock.Unlock()
	res := fsCall(p)
	r := rq(p)
	if res >= 0 {
		res = 0
		a := kctx.At[abi.FsAttr](kctx.PtrOf(&r.data[0]))
		if a.Mode&memfs.ModeType != memfs.ModeDir {
			res = -abi.ENOTDIR
		}
	}
	if res == 0 {
		FSLock.Lock()
		mp := fsMounts[m].path[:fsMounts[m].n]
		n := fsJoinClean(fsCwd[:], nil, mp)
		if len(rel) > 0 {
			n = fsAppendClean(fsCwd[:], n, kctx.BytesAt(fsReqPaths(p), int(r.hdr.PathLen)))
		}
		if ino, e := memfs.Lookup(memfs.Root(), mp, true); e == 0 {
			memfs.Unref(cwd)
			cwd = ino
		}
		fsCwdLen = n
		FSLock.Unlock()
	}
	fsFreeReq(p)
	return res, true
}

// fsFchdir serves fchdir on a directory opened under a mount.
func fsFchdir(fd int) (int64, bool) {
	f := Fget(fd)
	if f == 0 || Of(f).Kind != fdFs {
		if f != 0 {
			Fput(f)
		}
		return 0, false
	}
	defer Fput(f)
	x := ff(Of(f).Obj)
	if x.mode&memfs.ModeType != memfs.ModeDir {
		return -abi.ENOTDIR, true
	}
	FSLock.Lock()
	fsCwdLen = copy(fsCwd[:], kctx.BytesAt(Of(f).Obj+unsafe.Sizeof(fsFile{}), int(x.pathLen)))
	FSLock.Unlock()
	return 0, true
}

// fsGetcwd serves getcwd while the working directory is in a mount.
// Caller holds FSLock.
func fsGetcwdLocked() []byte {
	if fsCwdLen == 0 {
		return nil
	}
	return fsCwd[:fsCwdLen]
}

// Descriptor operations.

var fsfileOps = FileOps{
	Read:    fsfileRead,
	Write:   fsfileWrite,
	seek:    fsfileSeek,
	Release: fsfileRelease,
	Mode:    memfs.ModeRegular | 0o644,
}

func fsfileRelease(o *OFile) { fsFileFree(o.Obj) }

func fsIsDir(o *OFile) bool { return ff(o.Obj).mode&memfs.ModeType == memfs.ModeDir }

func fsfileRead(f uintptr, o *OFile, buf, n uintptr, pos int64) int64 {
	if fsIsDir(o) {
		return -abi.EISDIR
	}
	off := pos
	if pos < 0 {
		FSLock.Lock()
		off = o.off
		FSLock.Unlock()
	}
	if n > fsMaxIO {
		n = fsMaxIO
	}
	if n == 0 {
		return 0
	}
	p := fsFileReq(abi.FsOpRead, f)
	if p == 0 {
		return -abi.ENOMEM
	}
	r := rq(p)
	r.hdr.Off, r.hdr.Len, r.buf = off, uint64(n), buf
	res := fsSimple(p)
	if res > 0 && pos < 0 {
		FSLock.Lock()
		o.off = off + res
		FSLock.Unlock()
	}
	return res
}

func fsfileWrite(f uintptr, o *OFile, buf, n uintptr, pos int64) int64 {
	if fsIsDir(o) {
		return -abi.EISDIR
	}
	var done int64
	for done == 0 || uintptr(done) < n {
		off := pos
		appendMode := false
		if pos < 0 {
			FSLock.Lock()
			off = o.off
			appendMode = o.Flags&oAppend != 0
			FSLock.Unlock()
		} else {
			off = pos + done
		}
		c := n - uintptr(done)
		if c > fsMaxIO {
			c = fsMaxIO
		}
		p := fsFileReq(abi.FsOpWrite, f)
		if p == 0 {
			break
		}
		r := rq(p)
		r.hdr.Off, r.hdr.Len, r.buf = off, uint64(c), buf+uintptr(done)
		if appendMode {
			r.hdr.Flags = abi.FsFlagAppend
		}
		res := fsCall(p)
		end := r.aux
		fsFreeReq(p)
		if res < 0 {
			if done > 0 {
				break
			}
			return res
		}
		if res > int64(c) {
			res = int64(c)
		}
		if pos < 0 {
			FSLock.Lock()
			if appendMode {
				o.off = end
			} else {
				o.off = off + res
			}
			FSLock.Unlock()
		}
		done += res
		if uintptr(res) < c || n == 0 {
			break
		}
	}
	return done
}

// fsfileSeek: SEEK_END needs the size, which doLseek asks the server for
// first (fsLseekEnd); here it is the size at open.
func fsfileSeek(o *OFile, off int64, whence int) int64 {
	return seekOfile(o, off, whence, ff(o.Obj).size)
}

// fsLseekEnd refreshes a regular file's size before SEEK_END. f holds a
// reference; FSLock is not held.
func fsLseekEnd(f uintptr) {
	x := ff(Of(f).Obj)
	if x.mode&memfs.ModeType != memfs.ModeRegular {
		return
	}
	var st [memfs.StatSize]byte
	if fsFstat(f, st[:]) == 0 {
		FSLock.Lock()
		x.size = int64(le64(st[48:]))
		FSLock.Unlock()
	}
}

func fsGetdents(f uintptr, buf, n uintptr) int64 {
	o := Of(f)
	if !fsIsDir(o) {
		return -abi.ENOTDIR
	}
	if n > fsMaxIO {
		n = fsMaxIO
	}
	if !mm.UserOK(buf, n, true) {
		return -abi.EFAULT
	}
	p := fsFileReq(abi.FsOpReaddir, f)
	if p == 0 {
		return -abi.ENOMEM
	}
	r := rq(p)
	FSLock.Lock()
	r.hdr.Off = o.off
	FSLock.Unlock()
	r.hdr.Len, r.buf = uint64(n), buf
	res := fsCall(p)
	if res > 0 {
		FSLock.Lock()
		o.off = r.aux
		FSLock.Unlock()
	}
	fsFreeReq(p)
	return res
}

// fsFdOp serves fsync, fdatasync, ftruncate and fchmod on fdFs
// descriptors; handled is false for other kinds.
func fsFdOp(fd int, op uint32, valid uint32, mode uint32, size int64) (int64, bool) {
	f := Fget(fd)
	if f == 0 {
		return -abi.EBADF, false
	}
	defer Fput(f)
	o := Of(f)
	if o.Kind != fdFs {
		return 0, false
	}
	if op == abi.FsOpSetattr && valid&fsSetSize != 0 {
		if o.Flags&OAccMode == oRdonly || fsIsDir(o) {
			return -abi.EINVAL, true
		}
		if size < 0 {
			return -abi.EINVAL, true
		}
	}
	if op == abi.FsOpSetattr && fsReadOnly(ff(o.Obj).mount) {
		return -abi.EROFS, true
	}
	p := fsFileReq(op, f)
	if p == 0 {
		return -abi.ENOMEM, true
	}
	r := rq(p)
	r.hdr.Flags, r.hdr.Mode, r.hdr.Off = valid, mode, size
	return fsSimple(p), true
}

// blkGetSize64 is BLKGETSIZE64.
const blkGetSize64 = 0x80081272

// fsIoctl serves BLKGETSIZE64 on a device file.
func fsIoctl(f uintptr, req uint32, arg uintptr) (int64, bool) {
	o := Of(f)
	if o.Kind != fdFs || req != blkGetSize64 {
		return 0, false
	}
	x := ff(o.Obj)
	if x.mode&memfs.ModeType != 0o060000 {
		return -abi.ENOTTY, true
	}
	if !mm.UserOK(arg, 8, true) {
		return -abi.EFAULT, true
	}
	*kctx.At[uint64](arg) = uint64(x.size)
	return 0, true
}

// fsFstatFd serves fstat on fdFs descriptors.
func fsFstatFd(fd int, out []byte) (int64, bool) {
	if !fsMounted() {
		return 0, false
	}
	f := Fget(fd)
	if f == 0 {
		return 0, false
	}
	defer Fput(f)
	if Of(f).Kind != fdFs {
		return 0, false
	}
	return fsFstat(f, out), true
}

// fsUtimeValid returns the SetAttr bits for utimensat's times (-1: omit).
func fsUtimeValid(atime, mtime int64) uint32 {
	var v uint32
	if atime != -1 {
		v |= fsSetAtime
	}
	if mtime != -1 {
		v |= fsSetMtime
	}
	return v
}
