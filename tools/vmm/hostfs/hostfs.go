package hostfs

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/hugelgupf/p9/fsimpl/templatefs"
	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"
	"golang.org/x/sys/unix"
)

// MaxFiles is the most descriptors one tree holds open at once.
const MaxFiles = 4096

// permMask keeps the permission bits a guest may set on host files: no
// set-user-ID or set-group-ID bit (a launcher running as root would
// otherwise let the guest plant set-user-ID-root programs on the host).
const permMask = 0o1777

// resolve confines a one-component openat2: nothing followed, nothing
// above the parent.
const resolve = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// Tree is a host directory served over 9P; it implements p9.Attacher.
type Tree struct {
	root     int // O_PATH descriptor of the directory
	readOnly bool
	fds      atomic.Int32
}

// New opens dir (which must be a directory) as a tree; readOnly refuses
// every change with EROFS. The directory is held open, so renaming it on
// the host later does not change what the guest sees.
func New(dir string, readOnly bool) (*Tree, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOTDIR) {
			return nil, fmt.Errorf("%s: not a directory", dir)
		}
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return &Tree{root: fd, readOnly: readOnly}, nil
}

// FromFile is New for a directory already open (by the jailer, O_PATH);
// f is closed, its descriptor duplicated.
func FromFile(f *os.File, readOnly bool) (*Tree, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	f.Close()
	if err != nil {
		return nil, err
	}
	return &Tree{root: fd, readOnly: readOnly}, nil
}

// Close releases the directory. Files attached before stay usable.
func (t *Tree) Close() error { return unix.Close(t.root) }

// Attach returns the tree's root.
func (t *Tree) Attach() (p9.File, error) {
	fd, err := t.dup(t.root)
	if err != nil {
		return nil, err
	}
	return t.newFile(fd)
}

// hold counts a new descriptor against MaxFiles.
func (t *Tree) hold() error {
	if t.fds.Add(1) > MaxFiles {
		t.fds.Add(-1)
		return linux.ENFILE
	}
	return nil
}

func (t *Tree) release(fd int) {
	unix.Close(fd)
	t.fds.Add(-1)
}

func (t *Tree) dup(fd int) (int, error) {
	if err := t.hold(); err != nil {
		return -1, err
	}
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.fds.Add(-1)
		return -1, errno(err)
	}
	return nfd, nil
}

// walkOne opens the O_PATH descriptor of name in the directory dir.
func (t *Tree) walkOne(dir int, name string) (int, error) {
	if err := checkName(name); err != nil {
		return -1, err
	}
	if err := t.hold(); err != nil {
		return -1, err
	}
	fd, err := openat2(dir, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		t.fds.Add(-1)
		return -1, err
	}
	return fd, nil
}

func openat2(dir int, name string, flags int, mode uint32) (int, error) {
	for {
		fd, err := unix.Openat2(dir, name, &unix.OpenHow{Flags: uint64(flags), Mode: uint64(mode), Resolve: resolve})
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil {
			return -1, errno(err)
		}
		return fd, nil
	}
}

// checkName refuses anything but one path component.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') || strings.ContainsRune(name, 0) {
		return linux.EINVAL
	}
	return nil
}

// errno converts a host error to the errno the guest sees. EXDEV and
// ELOOP from the confinement flags mean "not reachable from here".
func errno(err error) error {
	var e unix.Errno
	if errors.As(err, &e) {
		if e == unix.EXDEV {
			return linux.EACCES
		}
		return linux.Errno(e)
	}
	return linux.EIO
}

// file is one object of the tree.
type file struct {
	p9.DefaultWalkGetAttr
	templatefs.XattrUnimplemented
	templatefs.NotLockable
	templatefs.NoopRenamed

	t    *Tree
	fd   int    // O_PATH, refers to the object itself (a symlink is not followed)
	mode uint32 // S_IFMT bits of the object
	open int    // the descriptor opened for I/O, -1 before Open
}

func (t *Tree) newFile(fd int) (*file, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(fd, "", &st, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.release(fd)
		return nil, errno(err)
	}
	return &file{t: t, fd: fd, mode: st.Mode & unix.S_IFMT, open: -1}, nil
}

func (f *file) proc() string { return "/proc/self/fd/" + strconv.Itoa(f.fd) }

func (f *file) roCheck() error {
	if f.t.readOnly {
		return linux.EROFS
	}
	return nil
}

func qid(st *unix.Stat_t) p9.QID {
	return p9.QID{Type: p9.FileMode(st.Mode).QIDType(), Path: st.Ino}
}

func (f *file) stat() (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Fstatat(f.fd, "", &st, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW)
	if err != nil {
		return st, errno(err)
	}
	return st, nil
}

// Walk implements p9.File.Walk.
func (f *file) Walk(names []string) ([]p9.QID, p9.File, error) {
	if len(names) == 0 {
		fd, err := f.t.dup(f.fd)
		if err != nil {
			return nil, nil, err
		}
		nf, err := f.t.newFile(fd)
		if err != nil {
			return nil, nil, err
		}
		st, err := nf.stat()
		if err != nil {
			nf.Close()
			return nil, nil, err
		}
		return []p9.QID{qid(&st)}, nf, nil
	}
	var qids []p9.QID
	cur := f.fd
	owned := false
	for _, name := range names {
		fd, err := f.t.walkOne(cur, name)
		if owned {
			f.t.release(cur)
		}
		if err != nil {
			return nil, nil, err
		}
		cur, owned = fd, true
		var st unix.Stat_t
		if err := unix.Fstatat(fd, "", &st, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW); err != nil {
			f.t.release(fd)
			return nil, nil, errno(err)
		}
		qids = append(qids, qid(&st))
	}
	nf, err := f.t.newFile(cur)
	if err != nil {
		return nil, nil, err
	}
	return qids, nf, nil
}

// GetAttr implements p9.File.GetAttr.
func (f *file) GetAttr(req p9.AttrMask) (p9.QID, p9.AttrMask, p9.Attr, error) {
	st, err := f.stat()
	if err != nil {
		return p9.QID{}, p9.AttrMask{}, p9.Attr{}, err
	}
	a := p9.Attr{
		Mode:             p9.FileMode(st.Mode),
		UID:              p9.UID(st.Uid),
		GID:              p9.GID(st.Gid),
		NLink:            p9.NLink(st.Nlink),
		RDev:             p9.Dev(st.Rdev),
		Size:             uint64(st.Size),
		BlockSize:        uint64(st.Blksize),
		Blocks:           uint64(st.Blocks),
		ATimeSeconds:     uint64(st.Atim.Sec),
		ATimeNanoSeconds: uint64(st.Atim.Nsec),
		MTimeSeconds:     uint64(st.Mtim.Sec),
		MTimeNanoSeconds: uint64(st.Mtim.Nsec),
		CTimeSeconds:     uint64(st.Ctim.Sec),
		CTimeNanoSeconds: uint64(st.Ctim.Nsec),
	}
	return qid(&st), p9.AttrMaskAll, a, nil
}

// SetAttr implements p9.File.SetAttr.
func (f *file) SetAttr(valid p9.SetAttrMask, a p9.SetAttr) error {
	if err := f.roCheck(); err != nil {
		return err
	}
	if f.mode == unix.S_IFLNK {
		// The /proc reopening below would follow the link.
		return linux.EPERM
	}
	if valid.Permissions {
		if err := unix.Chmod(f.proc(), uint32(a.Permissions)&permMask); err != nil {
			return errno(err)
		}
	}
	if valid.UID || valid.GID {
		// Host ownership is the launcher's business, not the guest's.
		return linux.EPERM
	}
	if valid.Size {
		if f.mode != unix.S_IFREG {
			return linux.EINVAL
		}
		if err := unix.Truncate(f.proc(), int64(a.Size)); err != nil {
			return errno(err)
		}
	}
	if valid.ATime || valid.MTime {
		ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
		if valid.ATime {
			ts[0] = unix.Timespec{Nsec: unix.UTIME_NOW}
			if valid.ATimeNotSystemTime {
				ts[0] = unix.Timespec{Sec: int64(a.ATimeSeconds), Nsec: int64(a.ATimeNanoSeconds)}
			}
		}
		if valid.MTime {
			ts[1] = unix.Timespec{Nsec: unix.UTIME_NOW}
			if valid.MTimeNotSystemTime {
				ts[1] = unix.Timespec{Sec: int64(a.MTimeSeconds), Nsec: int64(a.MTimeNanoSeconds)}
			}
		}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, f.proc(), ts, 0); err != nil {
			return errno(err)
		}
	}
	return nil
}

// Close implements p9.File.Close.
func (f *file) Close() error {
	if f.open >= 0 {
		f.t.release(f.open)
		f.open = -1
	}
	if f.fd >= 0 {
		f.t.release(f.fd)
		f.fd = -1
	}
	return nil
}

// Open implements p9.File.Open.
func (f *file) Open(mode p9.OpenFlags) (p9.QID, uint32, error) {
	// 9P2000.L carries Linux open(2) flags.
	flags := int(mode)
	acc := flags & unix.O_ACCMODE
	if acc != unix.O_RDONLY || flags&unix.O_TRUNC != 0 {
		if err := f.roCheck(); err != nil {
			return p9.QID{}, 0, err
		}
	}
	switch f.mode {
	case unix.S_IFREG, unix.S_IFDIR:
	case unix.S_IFLNK:
		return p9.QID{}, 0, linux.ELOOP
	default:
		return p9.QID{}, 0, linux.ENXIO
	}
	if err := f.t.hold(); err != nil {
		return p9.QID{}, 0, err
	}
	// Only the access mode, O_TRUNC and O_APPEND matter to the host.
	fd, err := unix.Open(f.proc(), acc|flags&(unix.O_TRUNC|unix.O_APPEND)|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		f.t.fds.Add(-1)
		return p9.QID{}, 0, errno(err)
	}
	f.open = fd
	st, err := f.stat()
	if err != nil {
		return p9.QID{}, 0, err
	}
	return qid(&st), 0, nil
}

// ReadAt implements p9.File.ReadAt.
func (f *file) ReadAt(p []byte, off int64) (int, error) {
	if f.open < 0 || f.mode != unix.S_IFREG {
		return 0, linux.EBADF
	}
	n, err := unix.Pread(f.open, p, off)
	if err != nil {
		return 0, errno(err)
	}
	return n, nil
}

// WriteAt implements p9.File.WriteAt.
func (f *file) WriteAt(p []byte, off int64) (int, error) {
	if err := f.roCheck(); err != nil {
		return 0, err
	}
	if f.open < 0 || f.mode != unix.S_IFREG {
		return 0, linux.EBADF
	}
	n, err := unix.Pwrite(f.open, p, off)
	if err != nil {
		return n, errno(err)
	}
	return n, nil
}

// FSync implements p9.File.FSync: fsync(2) on the host file.
func (f *file) FSync() error {
	if f.open < 0 {
		return linux.EBADF
	}
	if err := unix.Fsync(f.open); err != nil {
		return errno(err)
	}
	return nil
}

// StatFS implements p9.File.StatFS.
func (f *file) StatFS() (p9.FSStat, error) {
	var s unix.Statfs_t
	if err := unix.Fstatfs(f.fd, &s); err != nil {
		return p9.FSStat{}, errno(err)
	}
	return p9.FSStat{
		Type:            uint32(s.Type),
		BlockSize:       uint32(s.Bsize),
		Blocks:          s.Blocks,
		BlocksFree:      s.Bfree,
		BlocksAvailable: s.Bavail,
		Files:           s.Files,
		FilesFree:       s.Ffree,
		NameLength:      uint32(s.Namelen),
	}, nil
}

// Create implements p9.File.Create.
func (f *file) Create(name string, mode p9.OpenFlags, perm p9.FileMode, _ p9.UID, _ p9.GID) (p9.File, p9.QID, uint32, error) {
	if err := f.roCheck(); err != nil {
		return nil, p9.QID{}, 0, err
	}
	if err := checkName(name); err != nil {
		return nil, p9.QID{}, 0, err
	}
	if err := f.t.hold(); err != nil {
		return nil, p9.QID{}, 0, err
	}
	flags := int(mode)&(unix.O_ACCMODE|unix.O_APPEND) | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC
	ofd, err := openat2(f.fd, name, flags, uint32(perm)&permMask)
	if err != nil {
		f.t.fds.Add(-1)
		return nil, p9.QID{}, 0, err
	}
	pfd, err := f.t.walkOne(f.fd, name)
	if err != nil {
		f.t.release(ofd)
		return nil, p9.QID{}, 0, err
	}
	nf, err := f.t.newFile(pfd)
	if err != nil {
		f.t.release(ofd)
		return nil, p9.QID{}, 0, err
	}
	nf.open = ofd
	st, err := nf.stat()
	if err != nil {
		nf.Close()
		return nil, p9.QID{}, 0, err
	}
	return nf, qid(&st), 0, nil
}

// entryQID is the QID of name in this directory, after creating it.
func (f *file) entryQID(name string) (p9.QID, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(f.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return p9.QID{}, errno(err)
	}
	return qid(&st), nil
}

// Mkdir implements p9.File.Mkdir.
func (f *file) Mkdir(name string, perm p9.FileMode, _ p9.UID, _ p9.GID) (p9.QID, error) {
	if err := f.roCheck(); err != nil {
		return p9.QID{}, err
	}
	if err := checkName(name); err != nil {
		return p9.QID{}, err
	}
	if err := unix.Mkdirat(f.fd, name, uint32(perm)&permMask); err != nil {
		return p9.QID{}, errno(err)
	}
	return f.entryQID(name)
}

// Symlink implements p9.File.Symlink. The target is stored as given: the
// tree never follows it.
func (f *file) Symlink(target, name string, _ p9.UID, _ p9.GID) (p9.QID, error) {
	if err := f.roCheck(); err != nil {
		return p9.QID{}, err
	}
	if err := checkName(name); err != nil {
		return p9.QID{}, err
	}
	if err := unix.Symlinkat(target, f.fd, name); err != nil {
		return p9.QID{}, errno(err)
	}
	return f.entryQID(name)
}

// Link implements p9.File.Link.
func (f *file) Link(target p9.File, name string) error {
	if err := f.roCheck(); err != nil {
		return err
	}
	if err := checkName(name); err != nil {
		return err
	}
	tf, ok := target.(*file)
	if !ok || tf.t != f.t {
		return linux.EXDEV
	}
	if tf.mode == unix.S_IFDIR {
		return linux.EPERM
	}
	if tf.mode == unix.S_IFLNK {
		// Following the /proc link would link the symlink's target.
		return linux.EPERM
	}
	// AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; the /proc link does not.
	if err := unix.Linkat(unix.AT_FDCWD, tf.proc(), f.fd, name, unix.AT_SYMLINK_FOLLOW); err != nil {
		return errno(err)
	}
	return nil
}

// Mknod implements p9.File.Mknod: device nodes, FIFOs and sockets are not
// made in a host directory.
func (f *file) Mknod(name string, mode p9.FileMode, major, minor uint32, _ p9.UID, _ p9.GID) (p9.QID, error) {
	if err := f.roCheck(); err != nil {
		return p9.QID{}, err
	}
	return p9.QID{}, linux.EPERM
}

// Rename implements p9.File.Rename; the server uses RenameAt.
func (f *file) Rename(p9.File, string) error { return linux.ENOSYS }

// RenameAt implements p9.File.RenameAt.
func (f *file) RenameAt(oldName string, newDir p9.File, newName string) error {
	if err := f.roCheck(); err != nil {
		return err
	}
	if err := checkName(oldName); err != nil {
		return err
	}
	if err := checkName(newName); err != nil {
		return err
	}
	nd, ok := newDir.(*file)
	if !ok || nd.t != f.t {
		return linux.EXDEV
	}
	if err := unix.Renameat(f.fd, oldName, nd.fd, newName); err != nil {
		return errno(err)
	}
	return nil
}

// UnlinkAt implements p9.File.UnlinkAt; flags may hold AT_REMOVEDIR.
func (f *file) UnlinkAt(name string, flags uint32) error {
	if err := f.roCheck(); err != nil {
		return err
	}
	if err := checkName(name); err != nil {
		return err
	}
	if err := unix.Unlinkat(f.fd, name, int(flags)&unix.AT_REMOVEDIR); err != nil {
		return errno(err)
	}
	return nil
}

// Readlink implements p9.File.Readlink.
func (f *file) Readlink() (string, error) {
	if f.mode != unix.S_IFLNK {
		return "", linux.EINVAL
	}
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(f.fd, "", buf)
	if err != nil {
		return "", errno(err)
	}
	return string(buf[:n]), nil
}

// Readdir implements p9.File.Readdir. offset counts the entries already
// returned ("." and ".." are left out); each entry's Offset resumes after it.
func (f *file) Readdir(offset uint64, count uint32) (p9.Dirents, error) {
	if f.open < 0 || f.mode != unix.S_IFDIR {
		return nil, linux.EBADF
	}
	if _, err := unix.Seek(f.open, 0, 0); err != nil {
		return nil, errno(err)
	}
	var out p9.Dirents
	var idx uint64
	buf := make([]byte, 32<<10)
	for uint32(len(out)) < count {
		n, err := unix.Getdents(f.open, buf)
		if err != nil {
			return nil, errno(err)
		}
		if n <= 0 {
			break
		}
		for b := buf[:n]; len(b) >= 19 && uint32(len(out)) < count; {
			reclen := int(b[16]) | int(b[17])<<8
			if reclen < 19 || reclen > len(b) {
				return nil, linux.EIO
			}
			ino := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 | uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
			typ := b[18]
			name := b[19:reclen]
			if i := strings.IndexByte(string(name), 0); i >= 0 {
				name = name[:i]
			}
			b = b[reclen:]
			if s := string(name); s == "." || s == ".." {
				continue
			}
			idx++
			if idx <= offset {
				continue
			}
			out = append(out, p9.Dirent{
				QID:    p9.QID{Type: dtQID(typ), Path: ino},
				Offset: idx,
				Type:   dtQID(typ),
				Name:   string(name),
			})
		}
	}
	return out, nil
}

// dtQID maps a d_type to a QID type.
func dtQID(t uint8) p9.QIDType {
	switch t {
	case unix.DT_DIR:
		return p9.TypeDir
	case unix.DT_LNK:
		return p9.TypeSymlink
	}
	return p9.TypeRegular
}
