package fsserve

import (
	"encoding/binary"
	"io"
	"sync"
	"syscall"
	"unsafe"

	"github.com/unigo-os/unigo/abi"
)

// maxIO bounds the buffer one read, write or readdir request gets; the
// kernel asks for no more (kernel/vfs/fschan.go fsMaxIO).
const maxIO = 1 << 20

// transport is how a server answers the kernel: the file channel's
// system calls in the guest, a recorder in tests.
type transport interface {
	// reply answers request id with result (>= 0, or -errno), payload
	// data and aux.
	reply(id uint64, result int64, data []byte, aux int64)
	// pull copies the caller's bytes at off of write request id into p.
	pull(id uint64, p []byte, off uint64) (int, syscall.Errno)
}

// server serves requests for a set of mounts.
type server struct {
	t transport

	mu      sync.Mutex
	mounts  map[uint32]*mount
	handles map[uint64]*openFile
	next    uint64
}

type mount struct {
	fs FS
	ro bool
}

type openFile struct {
	node  Node
	h     Handle
	mount uint32
}

func newServer(t transport) *server {
	return &server{t: t, mounts: map[uint32]*mount{}, handles: map[uint64]*openFile{}}
}

func (s *server) addMount(id uint32, fsys FS, ro bool) {
	s.mu.Lock()
	s.mounts[id] = &mount{fs: fsys, ro: ro}
	s.mu.Unlock()
}

// request is one parsed request record.
type request struct {
	abi.FsRequest
	path, path2 string
}

// parse splits a buffer read from the channel into requests; a malformed
// record ends it.
func parse(b []byte) []request {
	const hdr = int(unsafe.Sizeof(abi.FsRequest{}))
	var out []request
	for len(b) >= hdr {
		var r request
		r.FsRequest = *(*abi.FsRequest)(unsafe.Pointer(&b[0]))
		size := int(r.Size)
		plen, p2len := int(r.PathLen), int(r.Path2Len)
		if size < hdr || size > len(b) || hdr+plen+p2len > size {
			break
		}
		r.path = string(b[hdr : hdr+plen])
		r.path2 = string(b[hdr+plen : hdr+plen+p2len])
		out = append(out, r)
		b = b[size:]
	}
	return out
}

// handle serves one request and answers it.
func (s *server) handle(r *request) {
	res, data, aux := s.do(r)
	if res < 0 {
		data = nil
	}
	s.t.reply(r.ID, res, data, aux)
}

func fail(err error) (int64, []byte, int64) { return -int64(errno(err)), nil, 0 }

func (s *server) do(r *request) (int64, []byte, int64) {
	s.mu.Lock()
	m := s.mounts[r.Mount]
	var of *openFile
	if r.Handle != 0 {
		of = s.handles[r.Handle]
	}
	s.mu.Unlock()
	if m == nil {
		return fail(syscall.ENODEV)
	}
	needHandle := func() bool { return of != nil && of.mount == r.Mount }
	switch r.Op {
	case abi.FsOpOpen:
		return s.open(m, r)
	case abi.FsOpClose:
		s.mu.Lock()
		delete(s.handles, r.Handle)
		s.mu.Unlock()
		if needHandle() {
			of.h.Close()
			of.node.Close()
		}
		return 0, nil, 0
	case abi.FsOpRead:
		if !needHandle() {
			return fail(syscall.EBADF)
		}
		buf := make([]byte, min(r.Len, maxIO))
		n, err := of.h.ReadAt(buf, r.Off)
		if err != nil && err != io.EOF && n == 0 {
			return fail(err)
		}
		return int64(n), buf[:n], 0
	case abi.FsOpWrite:
		if !needHandle() {
			return fail(syscall.EBADF)
		}
		if m.ro {
			return fail(syscall.EROFS)
		}
		buf := make([]byte, min(r.Len, maxIO))
		n, e := s.t.pull(r.ID, buf, 0)
		if e != 0 {
			return fail(e)
		}
		buf = buf[:n]
		off := r.Off
		if r.Flags&abi.FsFlagAppend != 0 {
			a, err := of.node.Attr()
			if err != nil {
				return fail(err)
			}
			off = int64(a.Size)
		}
		w, err := of.h.WriteAt(buf, off)
		if err != nil && w == 0 {
			return fail(err)
		}
		return int64(w), nil, off + int64(w)
	case abi.FsOpFstat:
		if !needHandle() {
			return fail(syscall.EBADF)
		}
		a, err := of.node.Attr()
		if err != nil {
			return fail(err)
		}
		return 0, attrBytes(a), 0
	case abi.FsOpStat:
		n, err := walk(m.fs, r.path, r.Flags&abi.FsFlagNofollow == 0)
		if err != nil {
			return fail(err)
		}
		defer n.Close()
		a, err := n.Attr()
		if err != nil {
			return fail(err)
		}
		return 0, attrBytes(a), 0
	case abi.FsOpReaddir:
		if !needHandle() {
			return fail(syscall.EBADF)
		}
		return readdir(of.h, uint64(r.Off), int(min(r.Len, maxIO)))
	case abi.FsOpFsync:
		if !needHandle() {
			return fail(syscall.EBADF)
		}
		return fail(of.h.Sync())
	case abi.FsOpStatfs:
		st, err := m.fs.Statfs()
		if err != nil {
			return fail(err)
		}
		b := make([]byte, unsafe.Sizeof(abi.FsStatfs{}))
		*(*abi.FsStatfs)(unsafe.Pointer(&b[0])) = st
		return 0, b, 0
	case abi.FsOpReadlink:
		n, err := walk(m.fs, r.path, false)
		if err != nil {
			return fail(err)
		}
		defer n.Close()
		t, err := n.Readlink()
		if err != nil {
			return fail(err)
		}
		return int64(len(t)), []byte(t), 0
	case abi.FsOpSetattr:
		if m.ro {
			return fail(syscall.EROFS)
		}
		n := Node(nil)
		if r.Handle != 0 {
			if !needHandle() {
				return fail(syscall.EBADF)
			}
			n = of.node
		} else {
			w, err := walk(m.fs, r.path, true)
			if err != nil {
				return fail(err)
			}
			defer w.Close()
			n = w
		}
		a := Attr{Mode: r.Mode & 0o7777, Size: uint64(r.Off), Atime: r.Atime, Mtime: r.Mtime}
		return fail(n.SetAttr(r.Flags, a))
	}
	if m.ro {
		return fail(syscall.EROFS)
	}
	switch r.Op {
	case abi.FsOpMkdir, abi.FsOpUnlink, abi.FsOpSymlink:
		dir, name, err := walkParent(m.fs, r.path)
		if err != nil {
			if err == syscall.EBUSY && r.Op == abi.FsOpMkdir {
				err = syscall.EEXIST
			}
			return fail(err)
		}
		defer dir.Close()
		switch r.Op {
		case abi.FsOpMkdir:
			return fail(dir.Mkdir(name, r.Mode&0o7777))
		case abi.FsOpUnlink:
			return fail(dir.Unlink(name, r.Flags&abi.FsFlagDir != 0))
		default:
			return fail(dir.Symlink(name, r.path2))
		}
	case abi.FsOpRename:
		od, oname, err := walkParent(m.fs, r.path)
		if err != nil {
			return fail(err)
		}
		defer od.Close()
		nd, nname, err := walkParent(m.fs, r.path2)
		if err != nil {
			return fail(err)
		}
		defer nd.Close()
		if r.Flags&abi.FsFlagNoReplace != 0 {
			if c, err := nd.Walk(nname); err == nil {
				c.Close()
				return fail(syscall.EEXIST)
			}
		}
		return fail(od.Rename(oname, nd, nname))
	case abi.FsOpLink:
		target, err := walk(m.fs, r.path, r.Flags&abi.FsFlagFollow != 0)
		if err != nil {
			return fail(err)
		}
		defer target.Close()
		nd, nname, err := walkParent(m.fs, r.path2)
		if err != nil {
			return fail(err)
		}
		defer nd.Close()
		return fail(nd.Link(target, nname))
	}
	return fail(syscall.ENOSYS)
}

// open serves FsOpOpen: it answers the new handle and the file's Attr.
func (s *server) open(m *mount, r *request) (int64, []byte, int64) {
	flags := int(r.Flags)
	acc := flags & syscall.O_ACCMODE
	if m.ro && (acc != syscall.O_RDONLY || flags&(syscall.O_CREAT|syscall.O_TRUNC) != 0) {
		return fail(syscall.EROFS)
	}
	follow := flags&syscall.O_NOFOLLOW == 0
	var node Node
	var h Handle
	if flags&syscall.O_CREAT != 0 {
		dir, name, err := walkParent(m.fs, r.path)
		if err == syscall.EBUSY { // the root itself
			err = syscall.EISDIR
		}
		if err != nil {
			return fail(err)
		}
		defer dir.Close()
		c, err := dir.Walk(name)
		switch {
		case err == nil:
			c.Close()
			if flags&syscall.O_EXCL != 0 {
				return fail(syscall.EEXIST)
			}
		case errno(err) != syscall.ENOENT:
			return fail(err)
		default:
			node, h, err = dir.Create(name, flags&^(syscall.O_CREAT|syscall.O_EXCL), r.Mode&0o7777)
			if err != nil {
				return fail(err)
			}
		}
	}
	if node == nil {
		n, err := walk(m.fs, r.path, follow)
		if err != nil {
			return fail(err)
		}
		node = n
	}
	a, err := node.Attr()
	if err == nil {
		switch {
		case a.Mode&modeType == modeSymlink:
			err = syscall.ELOOP // O_NOFOLLOW on a symlink
		case flags&syscall.O_DIRECTORY != 0 && a.Mode&modeType != modeDir:
			err = syscall.ENOTDIR
		case a.Mode&modeType == modeDir && acc != syscall.O_RDONLY:
			err = syscall.EISDIR
		}
	}
	if err == nil && h == nil {
		h, err = node.Open(flags &^ (syscall.O_CREAT | syscall.O_EXCL | syscall.O_NOFOLLOW | syscall.O_CLOEXEC))
	}
	if err != nil {
		if h != nil {
			h.Close()
		}
		node.Close()
		return fail(err)
	}
	if flags&syscall.O_TRUNC != 0 && acc != syscall.O_RDONLY && a.Mode&modeType == modeRegular && a.Size != 0 {
		if err := node.SetAttr(SetSize, Attr{}); err != nil {
			h.Close()
			node.Close()
			return fail(err)
		}
		a.Size = 0
	}
	s.mu.Lock()
	s.next++
	id := s.next
	s.handles[id] = &openFile{node: node, h: h, mount: r.Mount}
	s.mu.Unlock()
	return int64(id), attrBytes(a), 0
}

func attrBytes(a Attr) []byte {
	b := make([]byte, unsafe.Sizeof(abi.FsAttr{}))
	*(*abi.FsAttr)(unsafe.Pointer(&b[0])) = a
	return b
}

// readdir formats linux_dirent64 records after cookie into at most size
// bytes; aux is the cookie to resume from.
func readdir(h Handle, cookie uint64, size int) (int64, []byte, int64) {
	count := max(size/32, 1)
	ents, err := h.Readdir(cookie, count)
	if err != nil {
		return fail(err)
	}
	var out []byte
	next := cookie
	for _, e := range ents {
		reclen := (19 + len(e.Name) + 1 + 7) &^ 7
		if len(out)+reclen > size {
			if len(out) == 0 {
				return fail(syscall.EINVAL)
			}
			break
		}
		rec := make([]byte, reclen)
		binary.LittleEndian.PutUint64(rec[0:], e.Ino)
		binary.LittleEndian.PutUint64(rec[8:], e.Cookie)
		binary.LittleEndian.PutUint16(rec[16:], uint16(reclen))
		rec[18] = e.Type
		copy(rec[19:], e.Name)
		out = append(out, rec...)
		next = e.Cookie
	}
	return int64(len(out)), out, int64(next)
}
