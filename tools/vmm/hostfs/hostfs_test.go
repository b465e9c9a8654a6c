package hostfs

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// serve attaches a 9P client to a tree over dir, through the p9 server as
// the virtio device runs it.
func serve(t *testing.T, dir string, readOnly bool) p9.File {
	t.Helper()
	tree, err := New(dir, readOnly)
	require.NoError(t, err)
	sc, cc := net.Pipe()
	srv := p9.NewServer(tree)
	done := make(chan struct{})
	go func() { srv.Handle(sc, sc); close(done) }()
	c, err := p9.NewClient(cc)
	require.NoError(t, err)
	root, err := c.Attach("")
	require.NoError(t, err)
	t.Cleanup(func() {
		root.Close()
		c.Close()
		<-done
		tree.Close()
		assert.Zero(t, tree.fds.Load(), "descriptors left open")
	})
	return root
}

// hostTree makes dir/{a/inner.txt, top.txt, out -> ../secret-parent,
// abs -> /etc, updir -> .., loop -> loop} next to an outside file.
func hostTree(t *testing.T) (dir, outside string) {
	base := t.TempDir()
	outside = filepath.Join(base, "secret.txt")
	require.NoError(t, os.WriteFile(outside, []byte("secret"), 0o644))
	dir = filepath.Join(base, "share")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "a"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a", "inner.txt"), []byte("inner"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "top.txt"), []byte("top"), 0o644))
	require.NoError(t, os.Symlink("../secret.txt", filepath.Join(dir, "out")))
	require.NoError(t, os.Symlink("/etc", filepath.Join(dir, "abs")))
	require.NoError(t, os.Symlink("..", filepath.Join(dir, "updir")))
	require.NoError(t, os.Symlink("loop", filepath.Join(dir, "loop")))
	return dir, outside
}

func readAll(t *testing.T, f p9.File, names ...string) (string, error) {
	t.Helper()
	_, g, err := f.Walk(names)
	if err != nil {
		return "", err
	}
	defer g.Close()
	if _, _, err := g.Open(p9.ReadOnly); err != nil {
		return "", err
	}
	b := make([]byte, 100)
	n, err := g.ReadAt(b, 0)
	if err != nil {
		return "", err
	}
	return string(b[:n]), nil
}

func TestReadWriteSync(t *testing.T) {
	dir, _ := hostTree(t)
	root := serve(t, dir, false)

	s, err := readAll(t, root, "a", "inner.txt")
	require.NoError(t, err)
	assert.Equal(t, "inner", s)

	_, d, err := root.Walk([]string{"a"})
	require.NoError(t, err)
	defer d.Close()
	// A client's Create turns the fid into the new file: create from a clone.
	_, dc, err := d.Walk(nil)
	require.NoError(t, err)
	nf, _, _, err := dc.Create("new.txt", p9.ReadWrite, 0o640, 0, 0)
	require.NoError(t, err)
	n, err := nf.WriteAt([]byte("from the guest"), 0)
	require.NoError(t, err)
	assert.Equal(t, 14, n)
	require.NoError(t, nf.FSync())
	require.NoError(t, nf.Close())
	b, err := os.ReadFile(filepath.Join(dir, "a", "new.txt"))
	require.NoError(t, err)
	assert.Equal(t, "from the guest", string(b))
	st, err := os.Stat(filepath.Join(dir, "a", "new.txt"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), st.Mode().Perm())

	_, err = root.Mkdir("sub", 0o755, 0, 0)
	require.NoError(t, err)
	_, sub, err := root.Walk([]string{"sub"})
	require.NoError(t, err)
	defer sub.Close()
	require.NoError(t, d.RenameAt("new.txt", sub, "moved.txt"))
	require.FileExists(t, filepath.Join(dir, "sub", "moved.txt"))
	_, mv, err := sub.Walk([]string{"moved.txt"})
	require.NoError(t, err)
	require.NoError(t, root.Link(mv, "hard"))
	require.NoError(t, mv.Close())
	require.FileExists(t, filepath.Join(dir, "hard"))
	require.NoError(t, sub.UnlinkAt("moved.txt", 0))
	require.NoError(t, root.UnlinkAt("sub", unixATRemovedir))
	require.NoDirExists(t, filepath.Join(dir, "sub"))

	_, err = root.Symlink("/anywhere", "link", 0, 0)
	require.NoError(t, err)
	_, l, err := root.Walk([]string{"link"})
	require.NoError(t, err)
	target, err := l.Readlink()
	require.NoError(t, err)
	assert.Equal(t, "/anywhere", target)
	l.Close()

	require.NoError(t, root.SetAttr(p9.SetAttrMask{}, p9.SetAttr{}))
	_, top, err := root.Walk([]string{"top.txt"})
	require.NoError(t, err)
	require.NoError(t, top.SetAttr(p9.SetAttrMask{Size: true}, p9.SetAttr{Size: 1}))
	top.Close()
	b, _ = os.ReadFile(filepath.Join(dir, "top.txt"))
	assert.Equal(t, "t", string(b))

	_, rd, err := root.Walk(nil)
	require.NoError(t, err)
	_, _, err = rd.Open(p9.ReadOnly)
	require.NoError(t, err)
	// Treaddir's count is in bytes: small counts take several rounds.
	var names []string
	var off uint64
	for {
		ents, err := rd.Readdir(off, 100)
		require.NoError(t, err)
		if len(ents) == 0 {
			break
		}
		for _, e := range ents {
			names = append(names, e.Name)
		}
		off = ents[len(ents)-1].Offset
	}
	assert.ElementsMatch(t, []string{"a", "top.txt", "out", "abs", "updir", "loop", "hard", "link"}, names)
	rd.Close()

	fs, err := root.StatFS()
	require.NoError(t, err)
	assert.NotZero(t, fs.BlockSize)
}

const unixATRemovedir = 0x200

func TestConfinement(t *testing.T) {
	dir, _ := hostTree(t)
	root := serve(t, dir, false)

	// ".." is refused by name, at the root and below it.
	_, _, err := root.Walk([]string{".."})
	assert.Error(t, err)
	_, _, err = root.Walk([]string{"a", "..", ".."})
	assert.Error(t, err)
	_, _, err = root.Walk([]string{"a/../.."})
	assert.Error(t, err)

	// Symlinks are walked to, never through, and never opened (the p9
	// server refuses those first; TestConfinementDirect checks the tree's
	// own refusals).
	for _, link := range []string{"out", "abs", "updir", "loop"} {
		_, l, err := root.Walk([]string{link})
		require.NoError(t, err, link)
		_, _, err = l.Open(p9.ReadOnly)
		assert.Error(t, err, link)
		assert.ErrorIs(t, l.SetAttr(p9.SetAttrMask{Size: true}, p9.SetAttr{}), linux.EPERM, link)
		l.Close()
	}
	_, _, err = root.Walk([]string{"abs", "passwd"})
	assert.Error(t, err)
	_, _, err = root.Walk([]string{"updir", "secret.txt"})
	assert.Error(t, err)

	// Creating through a symlink does not write outside: O_EXCL|O_NOFOLLOW.
	_, _, _, err = root.Create("out", p9.ReadWrite, 0o644, 0, 0)
	assert.ErrorIs(t, err, linux.EEXIST)
	b, _ := os.ReadFile(filepath.Join(filepath.Dir(dir), "secret.txt"))
	assert.Equal(t, "secret", string(b))

	// A hard link to a symlink would link its target.
	_, l, err := root.Walk([]string{"out"})
	require.NoError(t, err)
	assert.ErrorIs(t, root.Link(l, "x"), linux.EPERM)
	l.Close()
}

// TestSwapRace replaces a directory the guest holds with a symlink out of
// the tree: the held fid still names the old directory, and a new walk
// meets the symlink and stops.
func TestSwapRace(t *testing.T) {
	dir, outside := hostTree(t)
	root := serve(t, dir, false)
	_, a, err := root.Walk([]string{"a"})
	require.NoError(t, err)
	defer a.Close()
	require.NoError(t, os.Rename(filepath.Join(dir, "a"), filepath.Join(dir, "a.old")))
	require.NoError(t, os.Symlink(filepath.Dir(outside), filepath.Join(dir, "a")))

	s, err := readAll(t, a, "inner.txt")
	require.NoError(t, err)
	assert.Equal(t, "inner", s)
	_, err = readAll(t, root, "a", "secret.txt")
	assert.Error(t, err)
	_, err = readAll(t, a, "secret.txt")
	assert.ErrorIs(t, err, linux.ENOENT)
}

// TestConfinementDirect calls the tree's files without the p9 server in
// front, which checks names and file types itself: the tree must hold on
// its own.
func TestConfinementDirect(t *testing.T) {
	dir, _ := hostTree(t)
	tree, err := New(dir, false)
	require.NoError(t, err)
	defer tree.Close()
	root, err := tree.Attach()
	require.NoError(t, err)
	defer root.Close()

	for _, names := range [][]string{{".."}, {"a", ".."}, {"a/../.."}, {"."}, {""}} {
		_, _, err := root.Walk(names)
		assert.ErrorIs(t, err, linux.EINVAL, "%q", names)
	}
	for _, names := range [][]string{{"abs", "passwd"}, {"updir", "secret.txt"}, {"out", "x"}} {
		_, _, err := root.Walk(names)
		assert.ErrorIs(t, err, linux.ENOTDIR, "%q", names)
	}
	for _, link := range []string{"out", "abs", "updir", "loop"} {
		_, l, err := root.Walk([]string{link})
		require.NoError(t, err, link)
		_, _, err = l.Open(p9.ReadOnly)
		assert.ErrorIs(t, err, linux.ELOOP, link)
		l.Close()
	}
	_, err = root.Mkdir("../x", 0o755, 0, 0)
	assert.ErrorIs(t, err, linux.EINVAL)
	_, _, _, err = root.Create("..", p9.ReadWrite, 0o644, 0, 0)
	assert.ErrorIs(t, err, linux.EINVAL)
	assert.ErrorIs(t, root.RenameAt("top.txt", root, "../escaped"), linux.EINVAL)
	assert.ErrorIs(t, root.UnlinkAt("../secret.txt", 0), linux.EINVAL)
	assert.NoFileExists(t, filepath.Join(filepath.Dir(dir), "escaped"))
	assert.FileExists(t, filepath.Join(filepath.Dir(dir), "secret.txt"))
	root.Close()
	assert.Zero(t, tree.fds.Load(), "descriptors left open")
}

func TestReadOnly(t *testing.T) {
	dir, _ := hostTree(t)
	root := serve(t, dir, true)
	s, err := readAll(t, root, "top.txt")
	require.NoError(t, err)
	assert.Equal(t, "top", s)

	_, top, err := root.Walk([]string{"top.txt"})
	require.NoError(t, err)
	defer top.Close()
	_, _, err = top.Open(p9.WriteOnly)
	assert.ErrorIs(t, err, linux.EROFS)
	_, _, err = top.Open(p9.ReadOnly | unix.O_TRUNC)
	assert.ErrorIs(t, err, linux.EROFS)
	assert.ErrorIs(t, top.SetAttr(p9.SetAttrMask{Size: true}, p9.SetAttr{}), linux.EROFS)

	_, _, _, err = root.Create("n", p9.ReadWrite, 0o644, 0, 0)
	assert.ErrorIs(t, err, linux.EROFS)
	_, err = root.Mkdir("d", 0o755, 0, 0)
	assert.ErrorIs(t, err, linux.EROFS)
	_, err = root.Symlink("x", "s", 0, 0)
	assert.ErrorIs(t, err, linux.EROFS)
	assert.ErrorIs(t, root.Link(top, "h"), linux.EROFS)
	assert.ErrorIs(t, root.RenameAt("top.txt", root, "t2"), linux.EROFS)
	assert.ErrorIs(t, root.UnlinkAt("top.txt", 0), linux.EROFS)
	_, err = root.Mknod("p", 0o644|p9.ModeNamedPipe, 0, 0, 0, 0)
	assert.ErrorIs(t, err, linux.EROFS)
	assert.FileExists(t, filepath.Join(dir, "top.txt"))
}

// TestNoPrivilegedFiles: no set-user-ID or set-group-ID bits, no owner
// changes.
func TestNoPrivilegedFiles(t *testing.T) {
	dir := t.TempDir()
	root := serve(t, dir, false)
	_, dc, err := root.Walk(nil)
	require.NoError(t, err)
	f, _, _, err := dc.Create("suid", p9.ReadWrite, 0o6755, 0, 0)
	require.NoError(t, err)
	require.NoError(t, f.SetAttr(p9.SetAttrMask{Permissions: true}, p9.SetAttr{Permissions: 0o4755}))
	assert.ErrorIs(t, f.SetAttr(p9.SetAttrMask{UID: true}, p9.SetAttr{UID: 0}), linux.EPERM)
	f.Close()
	_, err = root.Mkdir("sgid", 0o2755, 0, 0)
	require.NoError(t, err)
	for _, name := range []string{"suid", "sgid"} {
		st, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.Zero(t, st.Mode()&(os.ModeSetuid|os.ModeSetgid), name)
	}
}

func TestSpecialFilesNotOpened(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, mkfifo(filepath.Join(dir, "fifo")))
	root := serve(t, dir, false)
	_, f, err := root.Walk([]string{"fifo"})
	require.NoError(t, err)
	defer f.Close()
	_, _, err = f.Open(p9.ReadOnly)
	assert.ErrorIs(t, err, linux.ENXIO)
	_, err = root.Mknod("dev", 0o644|p9.ModeCharacterDevice, 1, 3, 0, 0)
	assert.ErrorIs(t, err, linux.EPERM)
}

func TestNewErrors(t *testing.T) {
	_, err := New(filepath.Join(t.TempDir(), "missing"), false)
	assert.ErrorContains(t, err, "no such file or directory")
	f := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(f, nil, 0o644))
	_, err = New(f, false)
	assert.ErrorContains(t, err, "not a directory")
}

func mkfifo(path string) error { return unix.Mkfifo(path, 0o644) }

// TestMaxFiles: a guest holding fids cannot take more than MaxFiles host
// descriptors; closing them gives them back.
func TestMaxFiles(t *testing.T) {
	tree, err := New(t.TempDir(), false)
	require.NoError(t, err)
	defer tree.Close()
	root, err := tree.Attach()
	require.NoError(t, err)
	var held []p9.File
	for {
		_, f, err := root.Walk(nil)
		if err != nil {
			assert.ErrorIs(t, err, linux.ENFILE)
			break
		}
		held = append(held, f)
	}
	assert.Len(t, held, MaxFiles-1) // the root holds one
	for _, f := range held {
		f.Close()
	}
	_, f, err := root.Walk(nil)
	require.NoError(t, err)
	f.Close()
	root.Close()
	assert.Zero(t, tree.fds.Load())
}

// TestErrno: host errors reach the guest as themselves (ENOSPC, EDQUOT),
// the confinement's EXDEV as EACCES, anything else as EIO.
func TestErrno(t *testing.T) {
	assert.Equal(t, linux.ENOSPC, errno(unix.ENOSPC))
	assert.Equal(t, linux.EDQUOT, errno(unix.EDQUOT))
	assert.Equal(t, linux.EACCES, errno(unix.EXDEV))
	assert.Equal(t, linux.EIO, errno(os.ErrClosed))
}
