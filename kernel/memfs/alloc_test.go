package memfs

import (
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestZeroGoAllocations runs every entry point under testing.AllocsPerRun:
// the package must never touch the Go heap, because it runs in syscall
// handlers where the Go runtime is unavailable.
func TestZeroGoAllocations(t *testing.T) {
	var (
		fails int
		check = func(err Errno) {
			if err != 0 {
				fails++
			}
		}
		pFile    = bs("/tmp/a/file")
		pFile2   = bs("/tmp/a/file2")
		pDir     = bs("/tmp/a/dir")
		pLink    = bs("/tmp/a/link")
		pHard    = bs("/tmp/a/hard")
		pA       = bs("/tmp/a")
		pMissing = bs("/tmp/a/missing/x")
		pLoop    = bs("/tmp/a/loop")
		pStatic  = bs("/etc/static/deep/file")
		pDeep    = bs("/tmp/a/p/q/r")
		rel      = bs("../a/./file")
		target   = bs("file")
		content  = staticContent
		buf      = make([]byte, 3*pageSize)
		statBuf  = make([]byte, StatSize)
		dentBuf  = make([]byte, 512)
	)

	// Init itself must not allocate: it runs at boot.
	require.Zero(t, testing.AllocsPerRun(2, func() {
		check(Init(1))
		check(AddDefaultFiles(1))
	}))
	require.Zero(t, Mkdir(Root(), pA, 0o755, 0))
	require.Zero(t, Symlink(pLoop, Root(), pLoop, 0))
	file, err := Open(Root(), pFile, unix.O_CREAT|unix.O_RDWR, 0o644, 0)
	require.Zero(t, err)
	a := lookup(t, "/tmp/a")

	ops := []struct {
		name string
		fn   func()
	}{
		{"Open/create/Unref/Unlink", func() {
			ino, err := Open(Root(), pFile2, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0o600, 5)
			check(err)
			Unref(ino)
			check(Unlink(Root(), pFile2, 5))
		}},
		{"Open/existing", func() {
			ino, err := Open(a, rel, unix.O_RDONLY, 0, 5)
			check(err)
			Unref(ino)
		}},
		{"Lookup", func() {
			_, err := Lookup(a, rel, true)
			check(err)
		}},
		{"Write/Read/Truncate", func() {
			n, err := Write(file, buf, 4000, 6)
			check(err)
			_, err = Write(file, buf[:10], 1<<33, 6)
			check(err)
			m, err := Read(file, buf, 4000)
			check(err)
			if n != m {
				fails++
			}
			check(Truncate(file, 100, 7))
			check(Truncate(file, 0, 7))
		}},
		{"PageAt/Truncate with shrink hook", func() {
			SetShrinkHook(countShrink)
			_, err := PageAt(file, 3)
			check(err)
			check(Truncate(file, 4*pageSize, 7))
			check(Truncate(file, 0, 7))
			SetShrinkHook(nil)
		}},
		{"Stat", func() { check(Stat(file, statBuf)) }},
		{"ReadDir", func() {
			c := uint64(0)
			for {
				n, next, err := ReadDir(Root(), c, dentBuf)
				check(err)
				if n == 0 {
					break
				}
				c = next
			}
		}},
		{"Mkdir/Rmdir", func() {
			check(Mkdir(Root(), pDir, 0o755, 8))
			check(Rmdir(Root(), pDir, 8))
		}},
		{"MkdirAll", func() {
			check(MkdirAll(pDeep, 0o755, 8))
			check(Rmdir(Root(), pDeep, 8))
		}},
		{"Symlink/Readlink/Unlink", func() {
			check(Symlink(target, Root(), pLink, 9))
			_, err := Readlink(Root(), pLink, buf)
			check(err)
			check(Unlink(Root(), pLink, 9))
		}},
		{"Link/Unlink", func() {
			check(Link(Root(), pFile, Root(), pHard, false, 9))
			check(Unlink(Root(), pHard, 9))
		}},
		{"Rename", func() {
			check(Rename(Root(), pFile, Root(), pFile2, 0, 10))
			check(Rename(Root(), pFile2, Root(), pFile, 0, 10))
		}},
		{"Chdir", func() {
			ino, err := Chdir(Root(), pA)
			check(err)
			Unref(ino)
		}},
		{"Path", func() {
			_, err := Path(a, buf)
			check(err)
		}},
		{"Chmod/SetTimes/accessors", func() {
			Chmod(file, 0o600, 11)
			SetTimes(file, 1, 2, 11)
			_ = Mode(file) + Nlink(file)
			_ = Size(file)
			_ = Number(file)
			_ = IsDir(file)
			_ = Usage().Pages()
		}},
		{"AddStatic/Unlink", func() {
			check(AddStatic(pStatic, content, 0o444, 12))
			ino, err := Lookup(Root(), pStatic, true)
			check(err)
			_, err = Read(ino, buf, 0)
			check(err)
			check(Unlink(Root(), pStatic, 12))
		}},
		{"errors", func() {
			_, err := Lookup(Root(), pMissing, true)
			if err != ENOENT {
				fails++
			}
			_, err = Lookup(Root(), pLoop, true)
			if err != ELOOP {
				fails++
			}
			if Rmdir(Root(), pA, 0) != ENOTEMPTY {
				fails++
			}
			if Mkdir(Root(), pA, 0, 0) != EEXIST {
				fails++
			}
		}},
	}
	for _, op := range ops {
		fails = 0
		require.Zero(t, testing.AllocsPerRun(50, op.fn), op.name)
		require.Zero(t, fails, "%s: unexpected errors", op.name)
	}
	Unref(file)
}
