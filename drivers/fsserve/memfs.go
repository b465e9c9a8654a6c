package fsserve

import (
	"io"
	"sort"
	"sync"
	"syscall"
	"time"
)

// MemFS is a small in-memory FS: a scratch tree to mount, and the tree
// the tests serve. One lock guards all of it.
type MemFS struct {
	mu   sync.Mutex
	root *memNode
	ino  uint64
}

type memNode struct {
	attr     Attr
	data     []byte
	target   string
	children map[string]*memNode
}

// NewMemFS returns an empty tree.
func NewMemFS() *MemFS {
	m := &MemFS{}
	m.root = m.newNode(modeDir | 0o755)
	m.root.attr.Nlink = 2
	return m
}

func (m *MemFS) newNode(mode uint32) *memNode {
	m.ino++
	now := time.Now().UnixNano()
	n := &memNode{attr: Attr{Mode: mode, Ino: m.ino, Nlink: 1, Atime: now, Mtime: now, Ctime: now}}
	if mode&modeType == modeDir {
		n.children = map[string]*memNode{}
	}
	return n
}

func (m *MemFS) Root() (Node, error) { return memRef{m, m.root}, nil }

func (m *MemFS) Statfs() (Statfs, error) {
	return Statfs{Type: 0x01021994, Bsize: 4096, Blocks: 1 << 20, Bfree: 1 << 19, Bavail: 1 << 19, Files: 1 << 16, Ffree: 1 << 15, NameLen: 255}, nil
}

type memRef struct {
	m *MemFS
	n *memNode
}

func (r memRef) Close() error { return nil }

func (r memRef) dir() (*memNode, error) {
	if r.n.children == nil {
		return nil, syscall.ENOTDIR
	}
	return r.n, nil
}

func (r memRef) Walk(name string) (Node, error) {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	d, err := r.dir()
	if err != nil {
		return nil, err
	}
	c := d.children[name]
	if c == nil {
		return nil, syscall.ENOENT
	}
	return memRef{r.m, c}, nil
}

func (r memRef) Attr() (Attr, error) {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	a := r.n.attr
	if a.Mode&modeType == modeRegular {
		a.Size = uint64(len(r.n.data))
	} else if a.Mode&modeType == modeSymlink {
		a.Size = uint64(len(r.n.target))
	}
	a.Blocks = (a.Size + 511) / 512
	return a, nil
}

func (r memRef) SetAttr(valid uint32, a Attr) error {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	n := r.n
	if valid&SetSize != 0 {
		if n.attr.Mode&modeType == modeDir {
			return syscall.EISDIR
		}
		if n.attr.Mode&modeType != modeRegular {
			return syscall.EINVAL
		}
		n.data = resize(n.data, int(a.Size))
		n.attr.Mtime = time.Now().UnixNano()
	}
	if valid&SetMode != 0 {
		n.attr.Mode = n.attr.Mode&modeType | a.Mode&0o7777
	}
	if valid&SetAtime != 0 {
		n.attr.Atime = a.Atime
	}
	if valid&SetMtime != 0 {
		n.attr.Mtime = a.Mtime
	}
	n.attr.Ctime = time.Now().UnixNano()
	return nil
}

func resize(b []byte, size int) []byte {
	if size <= len(b) {
		return b[:size]
	}
	return append(b, make([]byte, size-len(b))...)
}

func (r memRef) Open(flags int) (Handle, error) {
	if r.n.attr.Mode&modeType == modeSymlink {
		return nil, syscall.ELOOP
	}
	return memHandle(r), nil
}

func (r memRef) add(name string, mode uint32) (*memNode, error) {
	d, err := r.dir()
	if err != nil {
		return nil, err
	}
	if d.children[name] != nil {
		return nil, syscall.EEXIST
	}
	c := r.m.newNode(mode)
	d.children[name] = c
	d.attr.Mtime = c.attr.Mtime
	if mode&modeType == modeDir {
		c.attr.Nlink = 2
		d.attr.Nlink++
	}
	return c, nil
}

func (r memRef) Create(name string, flags int, mode uint32) (Node, Handle, error) {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	c, err := r.add(name, modeRegular|mode&0o7777)
	if err != nil {
		return nil, nil, err
	}
	return memRef{r.m, c}, memHandle{r.m, c}, nil
}

func (r memRef) Mkdir(name string, mode uint32) error {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	_, err := r.add(name, modeDir|mode&0o7777)
	return err
}

func (r memRef) Symlink(name, target string) error {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	c, err := r.add(name, modeSymlink|0o777)
	if err == nil {
		c.target = target
	}
	return err
}

func (r memRef) Readlink() (string, error) {
	if r.n.attr.Mode&modeType != modeSymlink {
		return "", syscall.EINVAL
	}
	return r.n.target, nil
}

func (r memRef) Link(target Node, name string) error {
	t, ok := target.(memRef)
	if !ok || t.m != r.m {
		return syscall.EXDEV
	}
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	d, err := r.dir()
	if err != nil {
		return err
	}
	if t.n.children != nil {
		return syscall.EPERM
	}
	if d.children[name] != nil {
		return syscall.EEXIST
	}
	d.children[name] = t.n
	t.n.attr.Nlink++
	return nil
}

func (r memRef) Unlink(name string, dir bool) error {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	d, err := r.dir()
	if err != nil {
		return err
	}
	c := d.children[name]
	switch {
	case c == nil:
		return syscall.ENOENT
	case dir && c.children == nil:
		return syscall.ENOTDIR
	case !dir && c.children != nil:
		return syscall.EISDIR
	case dir && len(c.children) > 0:
		return syscall.ENOTEMPTY
	}
	delete(d.children, name)
	c.attr.Nlink--
	if dir {
		d.attr.Nlink--
	}
	return nil
}

func (r memRef) Rename(name string, newDir Node, newName string) error {
	nd, ok := newDir.(memRef)
	if !ok || nd.m != r.m {
		return syscall.EXDEV
	}
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	od, err := r.dir()
	if err != nil {
		return err
	}
	dd, err := nd.dir()
	if err != nil {
		return err
	}
	c := od.children[name]
	if c == nil {
		return syscall.ENOENT
	}
	if old := dd.children[newName]; old != nil && old != c {
		switch {
		case old.children != nil && c.children == nil:
			return syscall.EISDIR
		case old.children == nil && c.children != nil:
			return syscall.ENOTDIR
		case len(old.children) > 0:
			return syscall.ENOTEMPTY
		}
	}
	delete(od.children, name)
	dd.children[newName] = c
	return nil
}

type memHandle struct {
	m *MemFS
	n *memNode
}

func (h memHandle) Close() error { return nil }
func (h memHandle) Sync() error  { return nil }

func (h memHandle) ReadAt(p []byte, off int64) (int, error) {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	if h.n.children != nil {
		return 0, syscall.EISDIR
	}
	if off >= int64(len(h.n.data)) {
		return 0, io.EOF
	}
	return copy(p, h.n.data[off:]), nil
}

func (h memHandle) WriteAt(p []byte, off int64) (int, error) {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	if h.n.children != nil {
		return 0, syscall.EISDIR
	}
	if end := int(off) + len(p); end > len(h.n.data) {
		h.n.data = resize(h.n.data, end)
	}
	h.n.attr.Mtime = time.Now().UnixNano()
	return copy(h.n.data[off:], p), nil
}

func (h memHandle) Readdir(cookie uint64, count int) ([]Dirent, error) {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	if h.n.children == nil {
		return nil, syscall.ENOTDIR
	}
	names := make([]string, 0, len(h.n.children))
	for k := range h.n.children {
		names = append(names, k)
	}
	sort.Strings(names)
	var out []Dirent
	for i := int(cookie); i < len(names) && len(out) < count; i++ {
		c := h.n.children[names[i]]
		out = append(out, Dirent{Name: names[i], Ino: c.attr.Ino, Type: uint8(c.attr.Mode >> 12), Cookie: uint64(i + 1)})
	}
	return out, nil
}
