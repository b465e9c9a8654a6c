// Package volume is a file system served to the kernel (an fsserve.FS)
// over a 9P2000.L client (github.com/hugelgupf/p9): a host directory
// shared through virtio-9p, by the unigo launcher (-v) or QEMU
// (-device virtio-9p-device). Nodes are 9P fids; errors are the server's
// errno values as syscall.Errno.
//
// Confinement is enforced twice: by the kernel's file server, which walks
// one component at a time and resolves symlinks inside the mount, and by
// the host's 9P server, which never follows a symlink or leaves its
// directory whatever it is asked.
package volume

import (
	"errors"
	"io"
	"syscall"

	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"
	"github.com/unigo-os/unigo/drivers/fsserve"
)

// FS is a 9P tree as an fsserve.FS.
type FS struct {
	root p9.File
}

// New attaches to the tree the client's server exports.
func New(c *p9.Client) (*FS, error) {
	root, err := c.Attach("")
	if err != nil {
		return nil, errno(err)
	}
	return &FS{root: root}, nil
}

// Close releases the root fid.
func (fs *FS) Close() error { return fs.root.Close() }

// Root implements fsserve.FS.
func (fs *FS) Root() (fsserve.Node, error) {
	_, f, err := fs.root.Walk(nil)
	if err != nil {
		return nil, errno(err)
	}
	return &node{f: f}, nil
}

// Statfs implements fsserve.FS.
func (fs *FS) Statfs() (fsserve.Statfs, error) {
	s, err := fs.root.StatFS()
	if err != nil {
		return fsserve.Statfs{}, errno(err)
	}
	return fsserve.Statfs{
		Type:    int64(s.Type),
		Bsize:   int64(s.BlockSize),
		Blocks:  s.Blocks,
		Bfree:   s.BlocksFree,
		Bavail:  s.BlocksAvailable,
		Files:   s.Files,
		Ffree:   s.FilesFree,
		NameLen: int64(s.NameLength),
	}, nil
}

// errno maps a 9P client error to a syscall.Errno (EIO for transport
// failures).
func errno(err error) error {
	if err == nil {
		return nil
	}
	var e linux.Errno
	if errors.As(err, &e) && e != 0 {
		return syscall.Errno(e)
	}
	var se syscall.Errno
	if errors.As(err, &se) {
		return se
	}
	return syscall.EIO
}

// node is one fid.
type node struct{ f p9.File }

func (n *node) Close() error { return errno(n.f.Close()) }

func (n *node) clone() (p9.File, error) {
	_, f, err := n.f.Walk(nil)
	return f, errno(err)
}

func (n *node) Walk(name string) (fsserve.Node, error) {
	_, f, err := n.f.Walk([]string{name})
	if err != nil {
		return nil, errno(err)
	}
	return &node{f: f}, nil
}

func (n *node) Attr() (fsserve.Attr, error) {
	q, _, a, err := n.f.GetAttr(p9.AttrMaskAll)
	if err != nil {
		return fsserve.Attr{}, errno(err)
	}
	return fsserve.Attr{
		Mode:   uint32(a.Mode),
		Ino:    q.Path,
		Nlink:  uint64(a.NLink),
		UID:    uint32(a.UID),
		GID:    uint32(a.GID),
		Rdev:   uint64(a.RDev),
		Size:   a.Size,
		Blocks: a.Blocks,
		Atime:  int64(a.ATimeSeconds)*1e9 + int64(a.ATimeNanoSeconds),
		Mtime:  int64(a.MTimeSeconds)*1e9 + int64(a.MTimeNanoSeconds),
		Ctime:  int64(a.CTimeSeconds)*1e9 + int64(a.CTimeNanoSeconds),
	}, nil
}

func (n *node) SetAttr(valid uint32, a fsserve.Attr) error {
	var m p9.SetAttrMask
	var s p9.SetAttr
	if valid&fsserve.SetMode != 0 {
		m.Permissions, s.Permissions = true, p9.FileMode(a.Mode&0o7777)
	}
	if valid&fsserve.SetUID != 0 {
		m.UID, s.UID = true, p9.UID(a.UID)
	}
	if valid&fsserve.SetGID != 0 {
		m.GID, s.GID = true, p9.GID(a.GID)
	}
	if valid&fsserve.SetSize != 0 {
		m.Size, s.Size = true, a.Size
	}
	if valid&fsserve.SetAtime != 0 {
		m.ATime, m.ATimeNotSystemTime = true, true
		s.ATimeSeconds, s.ATimeNanoSeconds = uint64(a.Atime/1e9), uint64(a.Atime%1e9)
	}
	if valid&fsserve.SetMtime != 0 {
		m.MTime, m.MTimeNotSystemTime = true, true
		s.MTimeSeconds, s.MTimeNanoSeconds = uint64(a.Mtime/1e9), uint64(a.Mtime%1e9)
	}
	return errno(n.f.SetAttr(m, s))
}

// openFlags keeps the open(2) flags 9P2000.L carries to the server.
func openFlags(flags int) p9.OpenFlags {
	return p9.OpenFlags(flags & (syscall.O_ACCMODE | syscall.O_TRUNC | syscall.O_APPEND))
}

func (n *node) Open(flags int) (fsserve.Handle, error) {
	f, err := n.clone()
	if err != nil {
		return nil, err
	}
	if _, _, err := f.Open(openFlags(flags)); err != nil {
		f.Close()
		return nil, errno(err)
	}
	return &handle{f: f}, nil
}

func (n *node) Create(name string, flags int, mode uint32) (fsserve.Node, fsserve.Handle, error) {
	// A client's Create turns the fid into the new file: use a clone.
	f, err := n.clone()
	if err != nil {
		return nil, nil, err
	}
	if _, _, _, err := f.Create(name, openFlags(flags), p9.FileMode(mode&0o7777), 0, 0); err != nil {
		f.Close()
		return nil, nil, errno(err)
	}
	child, err := n.Walk(name)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return child, &handle{f: f}, nil
}

func (n *node) Mkdir(name string, mode uint32) error {
	_, err := n.f.Mkdir(name, p9.FileMode(mode&0o7777), 0, 0)
	return errno(err)
}

func (n *node) Symlink(name, target string) error {
	_, err := n.f.Symlink(target, name, 0, 0)
	return errno(err)
}

func (n *node) Readlink() (string, error) {
	s, err := n.f.Readlink()
	return s, errno(err)
}

func (n *node) Link(target fsserve.Node, name string) error {
	t, ok := target.(*node)
	if !ok {
		return syscall.EXDEV
	}
	return errno(n.f.Link(t.f, name))
}

// atRemoveDir is unlinkat(2)'s AT_REMOVEDIR.
const atRemoveDir = 0x200

func (n *node) Unlink(name string, dir bool) error {
	var flags uint32
	if dir {
		flags = atRemoveDir
	}
	return errno(n.f.UnlinkAt(name, flags))
}

func (n *node) Rename(name string, newDir fsserve.Node, newName string) error {
	d, ok := newDir.(*node)
	if !ok {
		return syscall.EXDEV
	}
	return errno(n.f.RenameAt(name, d.f, newName))
}

// handle is an opened fid.
type handle struct{ f p9.File }

func (h *handle) Close() error { return errno(h.f.Close()) }

// ReadAt reads until p is full or the file ends (io.EOF with what was read).
func (h *handle) ReadAt(p []byte, off int64) (int, error) {
	total := 0
	for total < len(p) {
		n, err := h.f.ReadAt(p[total:], off+int64(total))
		total += n
		if err == io.EOF || (err == nil && n == 0) {
			return total, io.EOF
		}
		if err != nil {
			return total, errno(err)
		}
	}
	return total, nil
}

func (h *handle) WriteAt(p []byte, off int64) (int, error) {
	n, err := h.f.WriteAt(p, off)
	return n, errno(err)
}

func (h *handle) Sync() error { return errno(h.f.FSync()) }

// direntBytes is what a directory entry may take in a Rreaddir: qid[13]
// offset[8] type[1] name[s].
const direntBytes = 13 + 8 + 1 + 2 + 255

// Readdir implements fsserve.Handle; "." and ".." are left out.
func (h *handle) Readdir(cookie uint64, count int) ([]fsserve.Dirent, error) {
	var out []fsserve.Dirent
	for len(out) < count {
		ents, err := h.f.Readdir(cookie, uint32(min(count-len(out), 64)*direntBytes))
		if err == io.EOF || (err == nil && len(ents) == 0) {
			break
		}
		if err != nil {
			return nil, errno(err)
		}
		for _, e := range ents {
			cookie = e.Offset
			if e.Name == "." || e.Name == ".." {
				continue
			}
			if len(out) < count {
				out = append(out, fsserve.Dirent{Name: e.Name, Ino: e.QID.Path, Type: dtype(e.QID.Type), Cookie: e.Offset})
			}
		}
	}
	return out, nil
}

// dtype maps a QID type to linux_dirent64's d_type.
func dtype(t p9.QIDType) uint8 {
	switch {
	case t&p9.TypeDir != 0:
		return syscall.DT_DIR
	case t&p9.TypeSymlink != 0:
		return syscall.DT_LNK
	}
	return syscall.DT_REG
}

var _ fsserve.FS = (*FS)(nil)
