package fsserve

import (
	"io"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Device is a block device: its size is a multiple of SectorSize and
// ReadAt/WriteAt take sector-aligned offsets and lengths.
type Device interface {
	io.ReaderAt
	io.WriterAt
	// Size is the device's size in bytes.
	Size() int64
	// Flush makes completed writes durable.
	Flush() error
}

// SectorSize is the unit of a Device's transfers.
const SectorSize = 512

// Linux's major number for virtio block devices.
const virtblkMajor = 254

var nextMinor atomic.Uint32

// deviceFS is an FS whose root is the device itself.
type deviceFS struct {
	dev   Device
	ro    bool
	rdev  uint64
	mtime int64
	mu    sync.RWMutex // a read-modify-write of partial sectors excludes other writes
}

func newDeviceFS(dev Device, ro bool) *deviceFS {
	minor := (nextMinor.Add(1) - 1) * 16
	return &deviceFS{dev: dev, ro: ro, rdev: virtblkMajor<<8 | uint64(minor&0xff) | uint64(minor&^0xff)<<12, mtime: time.Now().UnixNano()}
}

func (d *deviceFS) Root() (Node, error) { return devNode{d}, nil }

func (d *deviceFS) Statfs() (Statfs, error) {
	return Statfs{Type: 0x62646576, Bsize: 4096, NameLen: 255}, nil // BDEVFS_MAGIC
}

type devNode struct{ d *deviceFS }

func (n devNode) Close() error              { return nil }
func (n devNode) Walk(string) (Node, error) { return nil, syscall.ENOTDIR }
func (n devNode) SetAttr(valid uint32, a Attr) error {
	if valid&SetSize != 0 {
		return syscall.EINVAL // a device's size is fixed
	}
	return nil
}
func (n devNode) Create(string, int, uint32) (Node, Handle, error) { return nil, nil, syscall.ENOTDIR }
func (n devNode) Mkdir(string, uint32) error                       { return syscall.ENOTDIR }
func (n devNode) Symlink(string, string) error                     { return syscall.ENOTDIR }
func (n devNode) Readlink() (string, error)                        { return "", syscall.EINVAL }
func (n devNode) Link(Node, string) error                          { return syscall.ENOTDIR }
func (n devNode) Unlink(string, bool) error                        { return syscall.ENOTDIR }
func (n devNode) Rename(string, Node, string) error                { return syscall.ENOTDIR }

func (n devNode) Attr() (Attr, error) {
	perm := uint32(0o660)
	if n.d.ro {
		perm = 0o440
	}
	size := uint64(n.d.dev.Size())
	return Attr{Mode: modeBlock | perm, Ino: 2, Nlink: 1, Rdev: n.d.rdev, Size: size, Blocks: size / 512,
		Atime: n.d.mtime, Mtime: n.d.mtime, Ctime: n.d.mtime}, nil
}

func (n devNode) Open(flags int) (Handle, error) {
	if n.d.ro && flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		return nil, syscall.EROFS
	}
	return devHandle{n.d}, nil
}

type devHandle struct{ d *deviceFS }

func (h devHandle) Close() error { return nil }
func (h devHandle) Sync() error  { return h.d.dev.Flush() }
func (h devHandle) Readdir(uint64, int) ([]Dirent, error) {
	return nil, syscall.ENOTDIR
}

// ReadAt reads whole sectors around [off, off+len(p)) and copies out the
// part asked for; reads end at the device's end.
func (h devHandle) ReadAt(p []byte, off int64) (int, error) {
	size := h.d.dev.Size()
	if off < 0 {
		return 0, syscall.EINVAL
	}
	if off >= size || len(p) == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > size-off {
		p = p[:size-off]
	}
	if off%SectorSize == 0 && len(p)%SectorSize == 0 {
		return h.d.dev.ReadAt(p, off)
	}
	start := off &^ (SectorSize - 1)
	end := (off + int64(len(p)) + SectorSize - 1) &^ (SectorSize - 1)
	buf := make([]byte, end-start)
	if _, err := h.d.dev.ReadAt(buf, start); err != nil {
		return 0, err
	}
	return copy(p, buf[off-start:]), nil
}

// WriteAt writes p at off; partial sectors at either end are read,
// patched and written back. Writes past the end fail with ENOSPC (those
// that start inside it are cut short).
func (h devHandle) WriteAt(p []byte, off int64) (int, error) {
	if h.d.ro {
		return 0, syscall.EROFS
	}
	size := h.d.dev.Size()
	if off < 0 {
		return 0, syscall.EINVAL
	}
	if off >= size {
		return 0, syscall.ENOSPC
	}
	if int64(len(p)) > size-off {
		p = p[:size-off]
	}
	if off%SectorSize == 0 && len(p)%SectorSize == 0 {
		h.d.mu.RLock()
		defer h.d.mu.RUnlock()
		return h.d.dev.WriteAt(p, off)
	}
	h.d.mu.Lock()
	defer h.d.mu.Unlock()
	start := off &^ (SectorSize - 1)
	end := (off + int64(len(p)) + SectorSize - 1) &^ (SectorSize - 1)
	buf := make([]byte, end-start)
	if _, err := h.d.dev.ReadAt(buf[:SectorSize], start); err != nil {
		return 0, err
	}
	if end-SectorSize > start {
		if _, err := h.d.dev.ReadAt(buf[len(buf)-SectorSize:], end-SectorSize); err != nil {
			return 0, err
		}
	}
	copy(buf[off-start:], p)
	if _, err := h.d.dev.WriteAt(buf, start); err != nil {
		return 0, err
	}
	return len(p), nil
}
