package hostfs

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/hugelgupf/p9/p9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/unigo-os/unigo/drivers/fsserve"
	"github.com/unigo-os/unigo/drivers/volume"
)

// guestVolume is the guest's drivers/volume over this package's tree: the
// two ends of a unigo -v volume, without the virtqueue between them.
func guestVolume(t *testing.T, dir string, readOnly bool) fsserve.FS {
	tree, err := New(dir, readOnly)
	require.NoError(t, err)
	sc, cc := net.Pipe()
	go p9.NewServer(tree).Handle(sc, sc)
	c, err := p9.NewClient(cc, p9.WithMessageSize(64<<10))
	require.NoError(t, err)
	fs, err := volume.New(c)
	require.NoError(t, err)
	t.Cleanup(func() { fs.Close(); c.Close(); tree.Close() })
	return fs
}

func node(t *testing.T, fs fsserve.FS, names ...string) fsserve.Node {
	t.Helper()
	n, err := fs.Root()
	require.NoError(t, err)
	for _, name := range names {
		c, err := n.Walk(name)
		n.Close()
		require.NoError(t, err, name)
		n = c
	}
	return n
}

func TestVolumeOverTree(t *testing.T) {
	dir, _ := hostTree(t)
	fs := guestVolume(t, dir, false)
	root := node(t, fs)
	defer root.Close()

	nn, h, err := root.Create("new.txt", syscall.O_RDWR, 0o600)
	require.NoError(t, err)
	_, err = h.WriteAt([]byte("written by the guest"), 0)
	require.NoError(t, err)
	require.NoError(t, h.Sync())
	require.NoError(t, h.Close())
	require.NoError(t, nn.SetAttr(fsserve.SetSize|fsserve.SetMode|fsserve.SetMtime, fsserve.Attr{Size: 7, Mode: 0o640, Mtime: 1_000_000_000_500}))
	st, err := os.Stat(filepath.Join(dir, "new.txt"))
	require.NoError(t, err)
	assert.Equal(t, int64(7), st.Size())
	assert.Equal(t, os.FileMode(0o640), st.Mode().Perm())
	assert.Equal(t, int64(1_000_000_000_500), st.ModTime().UnixNano())

	_, _, err = root.Create("new.txt", syscall.O_RDWR, 0o600)
	assert.Equal(t, syscall.EEXIST, err)
	_, err = root.Walk("missing")
	assert.Equal(t, syscall.ENOENT, err)
	_, err = root.Walk("..")
	assert.Equal(t, syscall.EINVAL, err)

	require.NoError(t, root.Mkdir("d", 0o755))
	require.NoError(t, root.Symlink("ln", "new.txt"))
	ln := node(t, fs, "ln")
	target, err := ln.Readlink()
	require.NoError(t, err)
	assert.Equal(t, "new.txt", target)
	_, err = ln.Open(syscall.O_RDONLY)
	assert.Error(t, err, "symlinks are resolved by the guest, never opened")
	ln.Close()
	abs := node(t, fs, "abs")
	target, err = abs.Readlink()
	require.NoError(t, err)
	assert.Equal(t, "/etc", target)
	_, err = abs.Walk("passwd")
	assert.Error(t, err)
	abs.Close()

	require.NoError(t, root.Link(nn, "hard"))
	require.NoError(t, nn.Close())
	d := node(t, fs, "d")
	require.NoError(t, root.Rename("hard", d, "moved"))
	assert.FileExists(t, filepath.Join(dir, "d", "moved"))
	assert.Equal(t, syscall.ENOTEMPTY, root.Unlink("d", true))
	require.NoError(t, d.Unlink("moved", false))
	d.Close()
	require.NoError(t, root.Unlink("d", true))
	assert.NoDirExists(t, filepath.Join(dir, "d"))

	dh, err := root.Open(syscall.O_RDONLY | syscall.O_DIRECTORY)
	require.NoError(t, err)
	var names []string
	var cookie uint64
	for {
		ents, err := dh.Readdir(cookie, 2)
		require.NoError(t, err)
		if len(ents) == 0 {
			break
		}
		require.LessOrEqual(t, len(ents), 2)
		for _, e := range ents {
			names = append(names, e.Name)
			if e.Name == "a" {
				assert.Equal(t, uint8(syscall.DT_DIR), e.Type)
			}
			if e.Name == "out" {
				assert.Equal(t, uint8(syscall.DT_LNK), e.Type)
			}
		}
		cookie = ents[len(ents)-1].Cookie
	}
	assert.ElementsMatch(t, []string{"a", "top.txt", "out", "abs", "updir", "loop", "new.txt", "ln"}, names)
	require.NoError(t, dh.Close())

	s, err := fs.Statfs()
	require.NoError(t, err)
	assert.NotZero(t, s.Bsize)
}

func TestVolumeReadOnly(t *testing.T) {
	dir, _ := hostTree(t)
	fs := guestVolume(t, dir, true)
	root := node(t, fs)
	defer root.Close()
	_, _, err := root.Create("x", syscall.O_RDWR, 0o600)
	assert.Equal(t, syscall.EROFS, err)
	assert.Equal(t, syscall.EROFS, root.Mkdir("x", 0o755))
	assert.Equal(t, syscall.EROFS, root.Unlink("top.txt", false))
	top := node(t, fs, "top.txt")
	defer top.Close()
	_, err = top.Open(syscall.O_WRONLY)
	assert.Equal(t, syscall.EROFS, err)
	h, err := top.Open(syscall.O_RDONLY)
	require.NoError(t, err)
	b := make([]byte, 3)
	n, err := h.ReadAt(b, 0)
	require.NoError(t, err)
	assert.Equal(t, "top", string(b[:n]))
	h.Close()
}
