package memfs

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/unigo-os/unigo/kernel/kmem"
)

// hoard takes every page and small block kmem has left, so that the test
// can hand the filesystem an exact, tiny budget.
type hoard struct {
	pages  []uintptr
	blocks [][2]uintptr // address, size
}

func (h *hoard) grab() {
	for o := kmem.MaxOrder; o >= 0; o-- {
		for {
			p := kmem.AllocPages(o)
			if p == 0 {
				break
			}
			for i := uintptr(0); i < 1<<o; i++ {
				h.pages = append(h.pages, p+i*kmem.PageSize)
			}
		}
	}
	for size := uintptr(16); size <= 2048; size *= 2 {
		for {
			p := kmem.Alloc(size)
			if p == 0 {
				break
			}
			h.blocks = append(h.blocks, [2]uintptr{p, size})
		}
	}
}

func (h *hoard) release(pages int) {
	for ; pages > 0 && len(h.pages) > 0; pages-- {
		kmem.FreePage(h.pages[len(h.pages)-1])
		h.pages = h.pages[:len(h.pages)-1]
	}
}

func (h *hoard) releaseAll() {
	h.release(len(h.pages))
	for _, b := range h.blocks {
		kmem.Free(b[0], b[1])
	}
	h.blocks = nil
}

func okOrNoSpace(t *testing.T, err Errno, what string) bool {
	t.Helper()
	require.True(t, err == 0 || err == ENOSPC, "%s: %v", what, err)
	return err == 0
}

func TestOutOfMemory(t *testing.T) {
	fresh(t)
	mkfile(t, "/tmp/warm", "")
	require.Zero(t, Unlink(Root(), bs("/tmp/warm"), 0))
	f := mkfile(t, "/tmp/existing", "")
	baseline := Usage()

	var h hoard
	h.grab()
	defer h.releaseAll()

	// With nothing left, every allocating operation fails cleanly and
	// changes nothing.
	_, err := Open(Root(), bs("/tmp/new"), unix.O_CREAT|unix.O_WRONLY, 0o600, 0)
	assert.Equal(t, ENOSPC, err)
	assert.Equal(t, ENOSPC, Mkdir(Root(), bs("/tmp/d"), 0o755, 0))
	assert.Equal(t, ENOSPC, Symlink(bs("x"), Root(), bs("/tmp/l"), 0))
	assert.Equal(t, ENOSPC, Link(Root(), bs("/tmp/existing"), Root(), bs("/tmp/h"), false, 0))
	assert.Equal(t, ENOSPC, Rename(Root(), bs("/tmp/existing"), Root(), bs("/tmp/moved"), 0, 0))
	assert.Equal(t, ENOSPC, AddStaticString("/tmp/static", "x", 0o444, 0))
	n, err := Write(f, bs("data"), 0, 0)
	assert.Equal(t, ENOSPC, err)
	assert.Zero(t, n)
	assert.Zero(t, Size(f))
	require.Zero(t, Truncate(f, 1<<30, 0), "growing is sparse and needs no memory")
	require.Zero(t, Truncate(f, 0, 0))
	assert.Equal(t, baseline, Usage())
	lookup(t, "/tmp/existing")
	for _, p := range []string{"/tmp/new", "/tmp/d", "/tmp/l", "/tmp/h", "/tmp/moved", "/tmp/static"} {
		_, err := Lookup(Root(), bs(p), false)
		assert.Equal(t, ENOENT, err, p)
	}

	// With budgets of a few pages, a workload runs until memory runs out
	// at every possible point; each step succeeds or fails with ENOSPC,
	// the tree stays consistent, and cleaning up returns every byte.
	for _, budget := range []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 16, 24, 32, 48, 64, 100} {
		h.release(budget)
		runStarvedWorkload(t, budget)
		assert.Equal(t, baseline, Usage(), "budget %d: nothing leaked", budget)
		h.grab()
	}
}

func runStarvedWorkload(t *testing.T, budget int) {
	dir := fmt.Sprintf("/tmp/oom%d", budget)
	if !okOrNoSpace(t, Mkdir(Root(), bs(dir), 0o755, 0), "mkdir") {
		return
	}
	type file struct {
		path string
		size int64
	}
	var files []file
	var others []string // symlinks, subdirectories (removed in reverse)
	data := make([]byte, 6000)
	for i := range data {
		data[i] = byte(i)
	}
	for i := 0; i < 40; i++ {
		p := fmt.Sprintf("%s/f%d", dir, i)
		ino, err := Open(Root(), bs(p), unix.O_CREAT|unix.O_RDWR, 0o644, 0)
		if !okOrNoSpace(t, err, "create") {
			continue
		}
		fl := file{path: p}
		for _, off := range []int64{0, 3000, 1 << 22, 1 << 31} {
			n, err := Write(ino, data, off, 0)
			if okOrNoSpace(t, err, "write") {
				require.Greater(t, n, 0)
				require.LessOrEqual(t, n, len(data))
				if off+int64(n) > fl.size {
					fl.size = off + int64(n)
				}
			} else {
				require.Zero(t, n)
			}
			require.Equal(t, fl.size, Size(ino))
		}
		if fl.size > 0 {
			got := make([]byte, 100)
			n, err := Read(ino, got, 0)
			require.Zero(t, err)
			require.Equal(t, data[:n], got[:n])
		}
		Unref(ino)
		files = append(files, fl)

		l := fmt.Sprintf("%s/l%d", dir, i)
		if okOrNoSpace(t, Symlink(bs(p), Root(), bs(l), 0), "symlink") {
			others = append(others, l)
		}
		d := fmt.Sprintf("%s/d%d", dir, i)
		if okOrNoSpace(t, Mkdir(Root(), bs(d), 0o755, 0), "mkdir") {
			others = append(others, d)
			moved := d + "/f"
			if okOrNoSpace(t, Rename(Root(), bs(p), Root(), bs(moved), 0, 0), "rename") {
				files[len(files)-1].path = moved
			}
		}
		hl := fmt.Sprintf("%s/h%d", dir, i)
		if okOrNoSpace(t, Link(Root(), bs(files[len(files)-1].path), Root(), bs(hl), false, 0), "link") {
			files = append(files, file{hl, fl.size})
		}
	}
	// Everything that claims to exist does, with the right size.
	for _, fl := range files {
		ino := lookup(t, fl.path)
		require.Equal(t, fl.size, Size(ino), fl.path)
	}
	for _, fl := range files {
		require.Zero(t, Unlink(Root(), bs(fl.path), 0), fl.path)
	}
	for i := len(others) - 1; i >= 0; i-- {
		ino, err := Lookup(Root(), bs(others[i]), false)
		require.Zero(t, err)
		if IsDir(ino) {
			require.Zero(t, Rmdir(Root(), bs(others[i]), 0))
		} else {
			require.Zero(t, Unlink(Root(), bs(others[i]), 0))
		}
	}
	require.Zero(t, Rmdir(Root(), bs(dir), 0))
}
