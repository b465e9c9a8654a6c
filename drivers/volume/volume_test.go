package volume

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/hugelgupf/p9/fsimpl/localfs"
	"github.com/hugelgupf/p9/linux"
	"github.com/hugelgupf/p9/p9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/unigo-os/unigo/drivers/fsserve"
)

// volumeOn serves dir with hugelgupf/p9's localfs over a pipe and returns
// the FS over a client of it.
func volumeOn(t *testing.T, dir string) *FS {
	sc, cc := net.Pipe()
	go p9.NewServer(localfs.Attacher(dir)).Handle(sc, sc)
	c, err := p9.NewClient(cc, p9.WithMessageSize(8<<10))
	require.NoError(t, err)
	fs, err := New(c)
	require.NoError(t, err)
	t.Cleanup(func() { fs.Close(); c.Close() })
	return fs
}

func walk(t *testing.T, fs *FS, names ...string) fsserve.Node {
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

func TestVolume(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "sub"), 0o755))
	big := make([]byte, 20000) // more than one message
	for i := range big {
		big[i] = byte(i)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sub", "big"), big, 0o644))
	fs := volumeOn(t, dir)

	// Reading a host file across several messages, to its end.
	f := walk(t, fs, "sub", "big")
	a, err := f.Attr()
	require.NoError(t, err)
	assert.Equal(t, uint64(len(big)), a.Size)
	assert.Equal(t, uint32(syscall.S_IFREG|0o644), a.Mode)
	h, err := f.Open(syscall.O_RDONLY)
	require.NoError(t, err)
	got := make([]byte, len(big)+10)
	n, err := h.ReadAt(got, 0)
	assert.Equal(t, io.EOF, err)
	assert.Equal(t, big, got[:n])
	require.NoError(t, h.Close())
	require.NoError(t, f.Close())

	// Create, write, fsync: on the host.
	root := walk(t, fs)
	defer root.Close()
	nn, h, err := root.Create("new.txt", syscall.O_RDWR, 0o600)
	require.NoError(t, err)
	_, err = h.WriteAt([]byte("written by the guest"), 0)
	require.NoError(t, err)
	require.NoError(t, h.Sync())
	require.NoError(t, h.Close())
	b, err := os.ReadFile(filepath.Join(dir, "new.txt"))
	require.NoError(t, err)
	assert.Equal(t, "written by the guest", string(b))
	require.NoError(t, nn.SetAttr(fsserve.SetSize, fsserve.Attr{Size: 7}))
	a, err = nn.Attr()
	require.NoError(t, err)
	assert.Equal(t, uint64(7), a.Size)
	assert.Equal(t, uint32(0o600), a.Mode&0o777)
	// localfs sets no modes or times: the server's errno comes through.
	assert.Equal(t, syscall.ENOSYS, nn.SetAttr(fsserve.SetMode, fsserve.Attr{Mode: 0o640}))
	assert.Equal(t, syscall.ENOSYS, nn.SetAttr(fsserve.SetMtime, fsserve.Attr{Mtime: 1_000_000_000_500}))

	_, _, err = root.Create("new.txt", syscall.O_RDWR, 0o600)
	assert.Equal(t, syscall.EEXIST, err)
	_, err = root.Walk("missing")
	assert.Equal(t, syscall.ENOENT, err)

	// The rest of the operations need a fuller server than localfs:
	// tools/vmm/hostfs tests this package over the launcher's.
}

func TestErrno(t *testing.T) {
	assert.Nil(t, errno(nil))
	assert.Equal(t, syscall.EIO, errno(io.ErrUnexpectedEOF))
	assert.Equal(t, syscall.EROFS, errno(syscall.EROFS))
	assert.Equal(t, syscall.ENOSPC, errno(linux.ENOSPC))
	assert.Equal(t, syscall.ENOSPC, errno(fmt.Errorf("write: %w", linux.ENOSPC)))
}
