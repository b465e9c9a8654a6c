package memfs

import (
	"encoding/binary"
	"os"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/unigo-os/unigo/kernel/kmem"
)

// arenaSize is the memory donated to kmem for all tests: mapped outside the
// Go heap as physical memory would be, and touched only where used.
const arenaSize = 512 << 20

func TestMain(m *testing.M) {
	b, err := unix.Mmap(-1, 0, arenaSize, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		os.Stderr.WriteString("memfs test: mmap arena: " + err.Error() + "\n")
		os.Exit(2)
	}
	kmem.AddRange(uintptr(unsafe.Pointer(&b[0])), arenaSize)
	os.Exit(m.Run())
}

// fresh starts a new filesystem (abandoning the previous test's tree).
func fresh(t testing.TB) {
	require.Zero(t, Init(1e9))
}

func bs(s string) []byte { return []byte(s) }

func lookup(t testing.TB, path string) Inode {
	ino, err := Lookup(Root(), bs(path), true)
	require.Zero(t, err, "lookup %s", path)
	return ino
}

func mkfile(t testing.TB, path string, content string) Inode {
	ino, err := Open(Root(), bs(path), unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, 0o644, 2e9)
	require.Zero(t, err, "create %s", path)
	if content != "" {
		n, err := Write(ino, bs(content), 0, 2e9)
		require.Zero(t, err)
		require.Equal(t, len(content), n)
	}
	Unref(ino)
	return ino
}

func readAll(t testing.TB, ino Inode) string {
	buf := make([]byte, Size(ino))
	n, err := Read(ino, buf, 0)
	require.Zero(t, err)
	return string(buf[:n])
}

type stat struct {
	dev, ino, nlink       uint64
	mode, uid, gid        uint32
	size, blksize, blocks int64
	atime, mtime, ctime   int64 // ns
}

func doStat(t testing.TB, ino Inode) stat {
	var b [StatSize]byte
	require.Zero(t, Stat(ino, b[:]))
	le := binary.LittleEndian
	ts := func(o int) int64 { return int64(le.Uint64(b[o:]))*1e9 + int64(le.Uint64(b[o+8:])) }
	return stat{
		dev: le.Uint64(b[0:]), ino: le.Uint64(b[8:]), nlink: le.Uint64(b[16:]),
		mode: le.Uint32(b[24:]), uid: le.Uint32(b[28:]), gid: le.Uint32(b[32:]),
		size: int64(le.Uint64(b[48:])), blksize: int64(le.Uint64(b[56:])), blocks: int64(le.Uint64(b[64:])),
		atime: ts(72), mtime: ts(88), ctime: ts(104),
	}
}

type dent struct {
	ino  uint64
	off  uint64
	typ  byte
	name string
}

func parseDirents(t testing.TB, buf []byte) []dent {
	var out []dent
	for len(buf) > 0 {
		require.GreaterOrEqual(t, len(buf), 24)
		rl := int(binary.LittleEndian.Uint16(buf[16:]))
		require.Zero(t, rl%8, "reclen aligned")
		require.LessOrEqual(t, rl, len(buf))
		name := buf[19:rl]
		end := 0
		for name[end] != 0 {
			end++
		}
		out = append(out, dent{
			ino: binary.LittleEndian.Uint64(buf[0:]), off: binary.LittleEndian.Uint64(buf[8:]),
			typ: buf[18], name: string(name[:end]),
		})
		buf = buf[rl:]
	}
	return out
}

// listDir reads a whole directory with a buffer of bufSize bytes.
func listDir(t testing.TB, dir Inode, bufSize int) []dent {
	buf := make([]byte, bufSize)
	var all []dent
	cookie := uint64(0)
	for {
		n, next, err := ReadDir(dir, cookie, buf)
		require.Zero(t, err)
		if n == 0 {
			return all
		}
		all = append(all, parseDirents(t, buf[:n])...)
		cookie = next
	}
}
