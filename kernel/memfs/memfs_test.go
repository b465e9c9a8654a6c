package memfs

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestStandardTree(t *testing.T) {
	fresh(t)
	st := doStat(t, Root())
	assert.Equal(t, uint32(ModeDir|0o755), st.mode)
	for _, c := range []struct {
		path string
		perm uint32
	}{{"/tmp", 0o1777}, {"/dev", 0o755}, {"/proc", 0o555}, {"/sys", 0o555}, {"/etc", 0o755},
		{"/root", 0o700}, {"/home", 0o755}, {"/var", 0o755}, {"/var/tmp", 0o1777}} {
		ino := lookup(t, c.path)
		assert.Equal(t, uint32(ModeDir)|c.perm, Mode(ino), c.path)
	}
	assert.EqualValues(t, 2+8, Nlink(Root()), "root links: . .. and 8 subdirectories")
	assert.EqualValues(t, 3, Nlink(lookup(t, "/var")))
}

func TestStatLayout(t *testing.T) {
	// Our encoder's offsets must match the kernel's struct stat.
	var s unix.Stat_t
	require.EqualValues(t, StatSize, unsafe.Sizeof(s))
	require.EqualValues(t, 8, unsafe.Offsetof(s.Ino))
	require.EqualValues(t, 16, unsafe.Offsetof(s.Nlink))
	require.EqualValues(t, 24, unsafe.Offsetof(s.Mode))
	require.EqualValues(t, 48, unsafe.Offsetof(s.Size))
	require.EqualValues(t, 56, unsafe.Offsetof(s.Blksize))
	require.EqualValues(t, 64, unsafe.Offsetof(s.Blocks))
	require.EqualValues(t, 72, unsafe.Offsetof(s.Atim))
	require.EqualValues(t, 88, unsafe.Offsetof(s.Mtim))
	require.EqualValues(t, 104, unsafe.Offsetof(s.Ctim))

	fresh(t)
	ino := mkfile(t, "/tmp/f", "hello")
	var b [StatSize]byte
	for i := range b {
		b[i] = 0xaa
	}
	require.Zero(t, Stat(ino, b[:]))
	s = *(*unix.Stat_t)(unsafe.Pointer(&b[0]))
	assert.EqualValues(t, Dev, s.Dev)
	assert.EqualValues(t, Number(ino), s.Ino)
	assert.EqualValues(t, 1, s.Nlink)
	assert.EqualValues(t, ModeRegular|0o644, s.Mode)
	assert.Zero(t, s.Uid)
	assert.Zero(t, s.Gid)
	assert.Zero(t, s.Rdev)
	assert.EqualValues(t, 5, s.Size)
	assert.EqualValues(t, 4096, s.Blksize)
	assert.EqualValues(t, 8, s.Blocks)
	assert.EqualValues(t, 2, s.Mtim.Sec)
	assert.EqualValues(t, 0, s.Mtim.Nsec)
	assert.Equal(t, make([]byte, StatSize-120), b[120:])

	assert.Equal(t, EINVAL, Stat(ino, b[:StatSize-1]))
}

func TestInodeNumbersUnique(t *testing.T) {
	fresh(t)
	seen := map[uint64]bool{Number(Root()): true}
	for i := 0; i < 100; i++ {
		ino := mkfile(t, "/tmp/f"+string(rune('a'+i%26))+strings.Repeat("x", i/26), "")
		require.False(t, seen[Number(ino)])
		seen[Number(ino)] = true
	}
}

func TestTimes(t *testing.T) {
	fresh(t)
	tmp := lookup(t, "/tmp")
	ino, err := Open(Root(), bs("/tmp/f"), unix.O_CREAT|unix.O_RDWR, 0o600, 5e9+7)
	require.Zero(t, err)
	st := doStat(t, ino)
	assert.EqualValues(t, 5e9+7, st.atime)
	assert.EqualValues(t, 5e9+7, st.mtime)
	assert.EqualValues(t, 5e9+7, st.ctime)
	assert.EqualValues(t, 5e9+7, doStat(t, tmp).mtime, "creating updates the parent")

	_, err = Write(ino, bs("x"), 0, 6e9)
	require.Zero(t, err)
	st = doStat(t, ino)
	assert.EqualValues(t, 5e9+7, st.atime)
	assert.EqualValues(t, 6e9, st.mtime)
	assert.EqualValues(t, 6e9, st.ctime)

	Chmod(ino, 0o4755, 7e9)
	st = doStat(t, ino)
	assert.EqualValues(t, ModeRegular|0o4755, st.mode)
	assert.EqualValues(t, 7e9, st.ctime)

	SetTimes(ino, 1, -1, 8e9)
	st = doStat(t, ino)
	assert.EqualValues(t, 1, st.atime)
	assert.EqualValues(t, 6e9, st.mtime)
	assert.EqualValues(t, 8e9, st.ctime)

	require.Zero(t, Unlink(Root(), bs("/tmp/f"), 9e9))
	assert.EqualValues(t, 9e9, doStat(t, ino).ctime)
	assert.EqualValues(t, 9e9, doStat(t, tmp).mtime)
	Unref(ino)
}

func TestOpen(t *testing.T) {
	fresh(t)
	_, err := Open(Root(), bs("/tmp/nope"), unix.O_RDONLY, 0, 0)
	assert.Equal(t, ENOENT, err)
	ino, err := Open(Root(), bs("/tmp/f"), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0o640|unix.S_IFDIR, 0)
	require.Zero(t, err)
	assert.Equal(t, uint32(ModeRegular|0o640), Mode(ino), "type bits in perm are ignored")
	_, err = Write(ino, bs("abc"), 0, 0)
	require.Zero(t, err)
	Unref(ino)

	_, err = Open(Root(), bs("/tmp/f"), unix.O_CREAT|unix.O_EXCL, 0o600, 0)
	assert.Equal(t, EEXIST, err)
	again, err := Open(Root(), bs("/tmp/f"), unix.O_CREAT|unix.O_RDONLY, 0o600, 0)
	require.Zero(t, err)
	assert.Equal(t, ino, again)
	assert.EqualValues(t, 3, Size(again), "O_CREAT without O_TRUNC keeps content")
	Unref(again)
	again, err = Open(Root(), bs("/tmp/f"), unix.O_WRONLY|unix.O_TRUNC, 0, 0)
	require.Zero(t, err)
	assert.Zero(t, Size(again))
	Unref(again)

	_, err = Open(Root(), bs("/tmp/f/"), unix.O_RDONLY, 0, 0)
	assert.Equal(t, ENOTDIR, err)
	_, err = Open(Root(), bs("/tmp/f"), unix.O_DIRECTORY, 0, 0)
	assert.Equal(t, ENOTDIR, err)
	_, err = Open(Root(), bs("/tmp/new/"), unix.O_CREAT, 0o600, 0)
	assert.Equal(t, EISDIR, err)
	_, err = Open(Root(), bs("/tmp"), unix.O_WRONLY, 0, 0)
	assert.Equal(t, EISDIR, err)
	_, err = Open(Root(), bs("/tmp"), unix.O_CREAT|unix.O_RDONLY, 0o600, 0)
	assert.Equal(t, EISDIR, err)
	_, err = Open(Root(), bs("/tmp/x/y"), unix.O_CREAT, 0o600, 0)
	assert.Equal(t, ENOENT, err)
	_, err = Open(Root(), bs("/tmp/f/y"), unix.O_CREAT, 0o600, 0)
	assert.Equal(t, ENOTDIR, err)
	_, err = Open(Root(), bs(""), unix.O_RDONLY, 0, 0)
	assert.Equal(t, ENOENT, err)

	d, err := Open(Root(), bs("/tmp/"), unix.O_RDONLY|unix.O_DIRECTORY, 0, 0)
	require.Zero(t, err)
	assert.True(t, IsDir(d))
	Unref(d)

	// Relative to a directory.
	tmp := lookup(t, "/tmp")
	rel, err := Open(tmp, bs("f"), unix.O_RDONLY, 0, 0)
	require.Zero(t, err)
	assert.Equal(t, ino, rel)
	Unref(rel)
	_, err = Open(ino, bs("x"), unix.O_RDONLY, 0, 0)
	assert.Equal(t, ENOTDIR, err, "relative to a non-directory")
}

func TestOpenSymlinks(t *testing.T) {
	fresh(t)
	f := mkfile(t, "/tmp/f", "data")
	require.Zero(t, Symlink(bs("f"), Root(), bs("/tmp/l"), 0))
	got, err := Open(Root(), bs("/tmp/l"), unix.O_RDONLY, 0, 0)
	require.Zero(t, err)
	assert.Equal(t, f, got)
	Unref(got)
	_, err = Open(Root(), bs("/tmp/l"), unix.O_RDONLY|unix.O_NOFOLLOW, 0, 0)
	assert.Equal(t, ELOOP, err)
	p, err := Open(Root(), bs("/tmp/l"), unix.O_PATH|unix.O_NOFOLLOW, 0, 0)
	require.Zero(t, err)
	assert.EqualValues(t, ModeSymlink|0o777, Mode(p))
	Unref(p)
	_, err = Open(Root(), bs("/tmp/l"), unix.O_CREAT|unix.O_EXCL, 0o600, 0)
	assert.Equal(t, EEXIST, err, "O_EXCL never follows")

	// A dangling symlink is followed to create its target.
	require.Zero(t, Symlink(bs("/tmp/target"), Root(), bs("/tmp/dangling"), 0))
	c, err := Open(Root(), bs("/tmp/dangling"), unix.O_CREAT|unix.O_WRONLY, 0o600, 0)
	require.Zero(t, err)
	assert.Equal(t, c, lookup(t, "/tmp/target"))
	Unref(c)
}

func TestMkdirRmdir(t *testing.T) {
	fresh(t)
	require.Zero(t, Mkdir(Root(), bs("/tmp/d"), 0o750, 0))
	d := lookup(t, "/tmp/d")
	assert.Equal(t, uint32(ModeDir|0o750), Mode(d))
	assert.EqualValues(t, 3, Nlink(lookup(t, "/tmp")))
	assert.Equal(t, EEXIST, Mkdir(Root(), bs("/tmp/d"), 0o755, 0))
	assert.Equal(t, EEXIST, Mkdir(Root(), bs("/"), 0o755, 0))
	assert.Equal(t, EEXIST, Mkdir(Root(), bs("/tmp/d/."), 0o755, 0))
	assert.Equal(t, ENOENT, Mkdir(Root(), bs("/tmp/x/y"), 0o755, 0))
	require.Zero(t, Mkdir(Root(), bs("/tmp/d/sub/"), 0o755, 0), "trailing slash is fine for mkdir")
	mkfile(t, "/tmp/d/file", "")
	assert.Equal(t, ENOTDIR, Mkdir(Root(), bs("/tmp/d/file/x"), 0o755, 0))
	assert.EqualValues(t, 3, Nlink(d))
	assert.EqualValues(t, 2*bogoDirentSize+2*bogoDirentSize, Size(d))

	assert.Equal(t, ENOTEMPTY, Rmdir(Root(), bs("/tmp/d"), 0))
	assert.Equal(t, ENOTDIR, Rmdir(Root(), bs("/tmp/d/file"), 0))
	assert.Equal(t, ENOENT, Rmdir(Root(), bs("/tmp/d/none"), 0))
	assert.Equal(t, EINVAL, Rmdir(Root(), bs("/tmp/d/sub/."), 0))
	assert.Equal(t, ENOTEMPTY, Rmdir(Root(), bs("/tmp/d/sub/.."), 0))
	assert.Equal(t, EBUSY, Rmdir(Root(), bs("/"), 0))
	require.Zero(t, Rmdir(Root(), bs("/tmp/d/sub/"), 0))
	assert.EqualValues(t, 2, Nlink(d))
	require.Zero(t, Unlink(Root(), bs("/tmp/d/file"), 0))
	require.Zero(t, Rmdir(d, bs("../d"), 0))
	assert.EqualValues(t, 2, Nlink(lookup(t, "/tmp")))
	_, err := Lookup(Root(), bs("/tmp/d"), true)
	assert.Equal(t, ENOENT, err)
}

func TestRemovedDirectoryStillOpen(t *testing.T) {
	fresh(t)
	require.Zero(t, Mkdir(Root(), bs("/tmp/cwd"), 0o755, 0))
	cwd := lookup(t, "/tmp/cwd")
	Ref(cwd)
	require.Zero(t, Rmdir(Root(), bs("/tmp/cwd"), 0))
	assert.EqualValues(t, 0, Nlink(cwd))
	_, err := Open(cwd, bs("f"), unix.O_CREAT, 0o600, 0)
	assert.Equal(t, ENOENT, err)
	assert.Equal(t, ENOENT, Mkdir(cwd, bs("d"), 0o755, 0))
	_, err = Lookup(cwd, bs(".."), true)
	assert.Equal(t, ENOENT, err)
	_, _, err = ReadDir(cwd, 0, make([]byte, 256))
	assert.Equal(t, ENOENT, err)
	_, err = Path(cwd, make([]byte, 64))
	assert.Equal(t, ENOENT, err)
	self, err := Lookup(cwd, bs("."), true)
	require.Zero(t, err)
	assert.Equal(t, cwd, self)
	Unref(cwd)
}

func TestUnlink(t *testing.T) {
	fresh(t)
	mkfile(t, "/tmp/f", "x")
	assert.Equal(t, EISDIR, Unlink(Root(), bs("/tmp"), 0))
	assert.Equal(t, EISDIR, Unlink(Root(), bs("/"), 0))
	assert.Equal(t, EISDIR, Unlink(Root(), bs("/tmp/."), 0))
	assert.Equal(t, ENOTDIR, Unlink(Root(), bs("/tmp/f/"), 0))
	assert.Equal(t, ENOENT, Unlink(Root(), bs("/tmp/g"), 0))
	assert.Equal(t, ENOTDIR, Unlink(Root(), bs("/tmp/f/g"), 0))
	require.Zero(t, Symlink(bs("f"), Root(), bs("/tmp/l"), 0))
	require.Zero(t, Unlink(Root(), bs("/tmp/l"), 0), "unlink removes the link, not its target")
	lookup(t, "/tmp/f")
	require.Zero(t, Unlink(Root(), bs("/tmp/f"), 0))
	_, err := Lookup(Root(), bs("/tmp/f"), true)
	assert.Equal(t, ENOENT, err)
}

func TestUnlinkWhileOpen(t *testing.T) {
	fresh(t)
	mkfile(t, "/tmp/first", "") // gives /tmp its hash table
	require.Zero(t, Unlink(Root(), bs("/tmp/first"), 0))
	before := Usage()
	ino, err := Open(Root(), bs("/tmp/f"), unix.O_CREAT|unix.O_RDWR, 0o600, 0)
	require.Zero(t, err)
	data := make([]byte, 3*pageSize+10)
	for i := range data {
		data[i] = byte(i * 7)
	}
	_, err = Write(ino, data, 0, 0)
	require.Zero(t, err)
	Ref(ino) // a dup'd descriptor
	require.Zero(t, Unlink(Root(), bs("/tmp/f"), 0))
	assert.EqualValues(t, 0, Nlink(ino))
	assert.EqualValues(t, 0, doStat(t, ino).nlink)
	got := make([]byte, len(data))
	n, err := Read(ino, got, 0)
	require.Zero(t, err)
	assert.Equal(t, data, got[:n])
	_, err = Write(ino, bs("more"), int64(len(data)), 0)
	require.Zero(t, err, "writing to an unlinked open file works")
	Unref(ino)
	assert.EqualValues(t, 4, Usage().DataPages-before.DataPages, "still alive with one reference")
	Unref(ino)
	after := Usage()
	assert.Equal(t, before, after, "last Unref frees inode and pages")
	_, err = Lookup(Root(), bs("/tmp/f"), true)
	assert.Equal(t, ENOENT, err)
}

func TestHardLinks(t *testing.T) {
	fresh(t)
	f := mkfile(t, "/tmp/f", "x")
	require.Zero(t, Link(Root(), bs("/tmp/f"), Root(), bs("/tmp/g"), false, 0))
	assert.EqualValues(t, 2, Nlink(f))
	assert.Equal(t, f, lookup(t, "/tmp/g"))
	assert.Equal(t, EEXIST, Link(Root(), bs("/tmp/f"), Root(), bs("/tmp/g"), false, 0))
	assert.Equal(t, EPERM, Link(Root(), bs("/tmp"), Root(), bs("/tmp/d"), false, 0))
	assert.Equal(t, ENOENT, Link(Root(), bs("/tmp/none"), Root(), bs("/tmp/d"), false, 0))
	assert.Equal(t, ENOENT, Link(Root(), bs("/tmp/f"), Root(), bs("/tmp/h/"), false, 0))
	require.Zero(t, Symlink(bs("f"), Root(), bs("/tmp/l"), 0))
	require.Zero(t, Link(Root(), bs("/tmp/l"), Root(), bs("/tmp/lf"), true, 0))
	assert.Equal(t, f, lookup(t, "/tmp/lf"))
	require.Zero(t, Link(Root(), bs("/tmp/l"), Root(), bs("/tmp/ll"), false, 0))
	ll, err := Lookup(Root(), bs("/tmp/ll"), false)
	require.Zero(t, err)
	assert.EqualValues(t, ModeSymlink|0o777, Mode(ll))
	require.Zero(t, Unlink(Root(), bs("/tmp/f"), 0))
	assert.Equal(t, "x", readAll(t, lookup(t, "/tmp/g")))
	assert.EqualValues(t, 2, Nlink(f))
}

func TestSymlinksAndWalk(t *testing.T) {
	fresh(t)
	require.Zero(t, MkdirAll(bs("/a/b/c"), 0o755, 0))
	f := mkfile(t, "/a/b/c/f", "hi")
	c := lookup(t, "/a/b/c")
	require.Zero(t, Symlink(bs("/a/b"), Root(), bs("/abs"), 0))
	require.Zero(t, Symlink(bs("b/c"), Root(), bs("/a/rel"), 0))
	require.Zero(t, Symlink(bs("../.."), c, bs("up"), 0))
	require.Zero(t, Symlink(bs("f"), c, bs("lf"), 0))
	require.Zero(t, Symlink(bs("/"), Root(), bs("/tmp/root"), 0))

	for _, p := range []string{"/a/b/c/f", "//a///b/c//f", "/a/./b/../b/c/f", "/abs/c/f", "/a/rel/f",
		"/a/rel/up/b/c/f", "/a/rel/lf", "/abs/c/up/rel/lf", "/../../a/b/c/f", "/tmp/root/a/b/c/f"} {
		got, err := Lookup(Root(), bs(p), true)
		require.Zero(t, err, p)
		assert.Equal(t, f, got, p)
	}
	got, err := Lookup(c, bs("f"), true)
	require.Zero(t, err)
	assert.Equal(t, f, got)
	got, err = Lookup(c, bs("../../.."), true)
	require.Zero(t, err)
	assert.Equal(t, Root(), got)
	got, err = Lookup(Root(), bs("/tmp/root"), true)
	require.Zero(t, err)
	assert.Equal(t, Root(), got)
	got, err = Lookup(Root(), bs("/a/rel/"), false)
	require.Zero(t, err, "a trailing slash follows even without follow")
	assert.Equal(t, c, got)

	// nofollow applies to the last component only.
	l, err := Lookup(Root(), bs("/a/rel/lf"), false)
	require.Zero(t, err)
	assert.EqualValues(t, ModeSymlink, Mode(l)&ModeType)
	assert.EqualValues(t, 1, Size(l))

	buf := make([]byte, 64)
	n, err := Readlink(Root(), bs("/a/rel"), buf)
	require.Zero(t, err)
	assert.Equal(t, "b/c", string(buf[:n]))
	n, err = Readlink(Root(), bs("/a/rel"), buf[:2])
	require.Zero(t, err)
	assert.Equal(t, "b/", string(buf[:n]), "readlink truncates")
	_, err = Readlink(Root(), bs("/a"), buf)
	assert.Equal(t, EINVAL, err)
	_, err = Readlink(Root(), bs("/none"), buf)
	assert.Equal(t, ENOENT, err)

	// Errors.
	_, err = Lookup(Root(), bs("/a/b/c/f/"), true)
	assert.Equal(t, ENOTDIR, err)
	_, err = Lookup(Root(), bs("/a/rel/lf/"), true)
	assert.Equal(t, ENOTDIR, err)
	_, err = Lookup(Root(), bs("/a/b/c/f/x"), true)
	assert.Equal(t, ENOTDIR, err)
	_, err = Lookup(Root(), bs("/a/none/x"), true)
	assert.Equal(t, ENOENT, err)
	assert.Equal(t, ENOENT, Symlink(bs(""), Root(), bs("/tmp/e"), 0))
	assert.Equal(t, EEXIST, Symlink(bs("x"), Root(), bs("/a/rel"), 0))
	assert.Equal(t, ENOENT, Symlink(bs("x"), Root(), bs("/tmp/new/"), 0))
	assert.Equal(t, ENAMETOOLONG, Symlink(make([]byte, PathMax), Root(), bs("/tmp/long"), 0))
	require.Zero(t, Symlink(bs(strings.Repeat("x", PathMax-1)), Root(), bs("/tmp/long"), 0))
	n, err = Readlink(Root(), bs("/tmp/long"), make([]byte, PathMax))
	require.Zero(t, err)
	assert.Equal(t, PathMax-1, n)
}

// TestTrailingSlashOnSymlink: operations on an entry never follow a final
// symlink, even with a trailing slash; lookups follow it.
func TestTrailingSlashOnSymlink(t *testing.T) {
	fresh(t)
	require.Zero(t, Mkdir(Root(), bs("/tmp/dir"), 0o755, 0))
	require.Zero(t, Symlink(bs("dir"), Root(), bs("/tmp/link"), 0))
	dir := lookup(t, "/tmp/dir")
	got, err := Lookup(Root(), bs("/tmp/link/"), false)
	require.Zero(t, err)
	assert.Equal(t, dir, got)
	assert.Equal(t, ENOTDIR, Rmdir(Root(), bs("/tmp/link/"), 0))
	assert.Equal(t, ENOTDIR, Unlink(Root(), bs("/tmp/link/"), 0))
	assert.Equal(t, ENOTDIR, Rename(Root(), bs("/tmp/link/"), Root(), bs("/tmp/x"), 0, 0))
	assert.Equal(t, ENOTDIR, Rename(Root(), bs("/tmp/dir"), Root(), bs("/tmp/link/"), 0, 0))
	assert.Equal(t, EEXIST, Mkdir(Root(), bs("/tmp/link/"), 0o755, 0))
	assert.Equal(t, EEXIST, Symlink(bs("x"), Root(), bs("/tmp/link/"), 0))
	lookup(t, "/tmp/dir")
	l, err := Lookup(Root(), bs("/tmp/link"), false)
	require.Zero(t, err)
	assert.EqualValues(t, ModeSymlink, Mode(l)&ModeType)
	o, err := Open(Root(), bs("/tmp/link/"), unix.O_RDONLY|unix.O_NOFOLLOW, 0, 0)
	require.Zero(t, err, "a trailing slash follows despite O_NOFOLLOW")
	assert.Equal(t, dir, o)
	Unref(o)
}

func TestSymlinkLoops(t *testing.T) {
	fresh(t)
	require.Zero(t, Symlink(bs("loop"), Root(), bs("/tmp/loop"), 0))
	_, err := Lookup(Root(), bs("/tmp/loop"), true)
	assert.Equal(t, ELOOP, err)
	_, err = Lookup(Root(), bs("/tmp/loop/x"), true)
	assert.Equal(t, ELOOP, err)
	l, err := Lookup(Root(), bs("/tmp/loop"), false)
	require.Zero(t, err)
	assert.EqualValues(t, ModeSymlink, Mode(l)&ModeType)
	require.Zero(t, Symlink(bs("a"), Root(), bs("/tmp/b"), 0))
	require.Zero(t, Symlink(bs("b"), Root(), bs("/tmp/a"), 0))
	_, err = Open(Root(), bs("/tmp/a"), unix.O_CREAT, 0o600, 0)
	assert.Equal(t, ELOOP, err)

	// A chain of exactly MaxSymlinks links resolves; one more is ELOOP.
	mkfile(t, "/tmp/end", "")
	prev := "end"
	for i := 1; i <= MaxSymlinks+1; i++ {
		name := "c" + strings.Repeat("i", i)
		require.Zero(t, Symlink(bs(prev), Root(), bs("/tmp/"+name), 0))
		prev = name
	}
	_, err = Lookup(Root(), bs("/tmp/c"+strings.Repeat("i", MaxSymlinks)), true)
	assert.Zero(t, err)
	_, err = Lookup(Root(), bs("/tmp/"+prev), true)
	assert.Equal(t, ELOOP, err)

	// Deeply nested intermediate links: each link's target is "x/..", so
	// every level pushes the rest of the path.
	require.Zero(t, Mkdir(Root(), bs("/n"), 0o755, 0))
	require.Zero(t, Mkdir(Root(), bs("/n/x"), 0o755, 0))
	prev = "."
	for i := 1; i <= MaxSymlinks+1; i++ {
		name := "n" + strings.Repeat("i", i)
		require.Zero(t, Symlink(bs(prev+"/x/.."), Root(), bs("/n/"+name), 0))
		prev = name
	}
	got, err := Lookup(Root(), bs("/n/n"+strings.Repeat("i", MaxSymlinks)+"/x"), true)
	require.Zero(t, err)
	assert.Equal(t, lookup(t, "/n/x"), got)
	_, err = Lookup(Root(), bs("/n/"+prev+"/x"), true)
	assert.Equal(t, ELOOP, err)
}

func TestNameLimits(t *testing.T) {
	fresh(t)
	max := strings.Repeat("n", NameMax)
	mkfile(t, "/tmp/"+max, "x")
	_, err := Open(Root(), bs("/tmp/"+max+"n"), unix.O_CREAT, 0o600, 0)
	assert.Equal(t, ENAMETOOLONG, err)
	_, err = Lookup(Root(), bs("/tmp/"+max+"n/x"), true)
	assert.Equal(t, ENAMETOOLONG, err)
	assert.Equal(t, ENAMETOOLONG, Mkdir(Root(), bs("/tmp/"+max+"n"), 0o755, 0))
	long := "/tmp/" + strings.Repeat("./", (PathMax-5)/2)
	long = long[:PathMax-1]
	_, err = Lookup(Root(), bs(long), true)
	assert.NotEqual(t, ENAMETOOLONG, err, "%d bytes is allowed", len(long))
	_, err = Lookup(Root(), bs(long+"/"), true)
	assert.Equal(t, ENAMETOOLONG, err)
}

func TestRename(t *testing.T) {
	fresh(t)
	require.Zero(t, MkdirAll(bs("/r/a/b"), 0o755, 0))
	require.Zero(t, MkdirAll(bs("/r/empty"), 0o755, 0))
	f := mkfile(t, "/r/f", "f")
	g := mkfile(t, "/r/g", "g")
	a, r := lookup(t, "/r/a"), lookup(t, "/r")

	// File over file.
	require.Zero(t, Rename(Root(), bs("/r/f"), Root(), bs("/r/g"), 0, 5))
	assert.Equal(t, f, lookup(t, "/r/g"))
	_, err := Lookup(Root(), bs("/r/f"), true)
	assert.Equal(t, ENOENT, err)
	_ = g // freed: its last link went

	// File into another directory, relative paths.
	require.Zero(t, Rename(r, bs("g"), a, bs("moved"), 0, 6))
	assert.Equal(t, f, lookup(t, "/r/a/moved"))
	assert.EqualValues(t, 6, doStat(t, f).ctime)

	// Directory over empty directory, link counts follow.
	rl := Nlink(r)
	require.Zero(t, Rename(Root(), bs("/r/a"), Root(), bs("/r/empty"), 0, 7))
	assert.Equal(t, a, lookup(t, "/r/empty"))
	assert.Equal(t, rl-1, Nlink(r))
	require.Zero(t, Rename(Root(), bs("/r/empty/"), Root(), bs("/tmp/a/"), 0, 8))
	assert.Equal(t, rl-2, Nlink(r))
	assert.EqualValues(t, 3, Nlink(lookup(t, "/tmp")))
	dd, err := Lookup(a, bs(".."), true)
	require.Zero(t, err)
	assert.Equal(t, lookup(t, "/tmp"), dd, ".. follows the move")
	buf := make([]byte, 64)
	n, err := Path(lookup(t, "/tmp/a/b"), buf)
	require.Zero(t, err)
	assert.Equal(t, "/tmp/a/b", string(buf[:n]))

	// Errors.
	require.Zero(t, Mkdir(Root(), bs("/r/d"), 0o755, 0))
	mkfile(t, "/r/d/x", "")
	mkfile(t, "/r/h", "h")
	assert.Equal(t, ENOENT, Rename(Root(), bs("/r/none"), Root(), bs("/r/z"), 0, 0))
	assert.Equal(t, EINVAL, Rename(Root(), bs("/tmp/a"), Root(), bs("/tmp/a/b/c"), 0, 0))
	assert.Equal(t, EINVAL, Rename(Root(), bs("/tmp/a"), Root(), bs("/tmp/a/c"), 0, 0))
	assert.Equal(t, ENOTEMPTY, Rename(Root(), bs("/tmp/a/b"), Root(), bs("/tmp/a"), 0, 0))
	assert.Equal(t, ENOTEMPTY, Rename(Root(), bs("/tmp/a"), Root(), bs("/r/d"), 0, 0))
	assert.Equal(t, ENOTDIR, Rename(Root(), bs("/tmp/a"), Root(), bs("/r/h"), 0, 0))
	assert.Equal(t, EISDIR, Rename(Root(), bs("/r/h"), Root(), bs("/r/d"), 0, 0))
	assert.Equal(t, ENOTDIR, Rename(Root(), bs("/r/h/"), Root(), bs("/r/h2"), 0, 0))
	assert.Equal(t, ENOTDIR, Rename(Root(), bs("/r/h"), Root(), bs("/r/h2/"), 0, 0))
	assert.Equal(t, EBUSY, Rename(Root(), bs("/"), Root(), bs("/r/x"), 0, 0))
	assert.Equal(t, EBUSY, Rename(Root(), bs("/r/d/."), Root(), bs("/r/x"), 0, 0))
	assert.Equal(t, EBUSY, Rename(Root(), bs("/r/h"), Root(), bs("/r/d/.."), 0, 0))
	assert.Equal(t, ENOENT, Rename(Root(), bs("/r/h"), Root(), bs("/r/none/x"), 0, 0))
	assert.Equal(t, EEXIST, Rename(Root(), bs("/r/h"), Root(), bs("/r/d/x"), RenameNoReplace, 0))
	assert.Equal(t, EINVAL, Rename(Root(), bs("/r/h"), Root(), bs("/r/d/x"), unix.RENAME_EXCHANGE, 0))
	require.Zero(t, Rename(Root(), bs("/r/h"), Root(), bs("/r/d/y"), RenameNoReplace, 0))

	// Same file: nothing happens.
	require.Zero(t, Link(Root(), bs("/r/d/y"), Root(), bs("/r/d/y2"), false, 0))
	require.Zero(t, Rename(Root(), bs("/r/d/y"), Root(), bs("/r/d/y2"), 0, 0))
	lookup(t, "/r/d/y")
	require.Zero(t, Rename(Root(), bs("/r/d"), Root(), bs("/r/d"), 0, 0))

	// Symlinks are renamed, not followed.
	require.Zero(t, Symlink(bs("/r/d"), Root(), bs("/r/sl"), 0))
	require.Zero(t, Rename(Root(), bs("/r/sl"), Root(), bs("/r/sl2"), 0, 0))
	l, err := Lookup(Root(), bs("/r/sl2"), false)
	require.Zero(t, err)
	assert.EqualValues(t, ModeSymlink, Mode(l)&ModeType)
	lookup(t, "/r/d/x")
}

func TestRenameKeepsOpenTarget(t *testing.T) {
	fresh(t)
	mkfile(t, "/tmp/src", "new")
	old, err := Open(Root(), bs("/tmp/dst"), unix.O_CREAT|unix.O_RDWR, 0o600, 0)
	require.Zero(t, err)
	_, err = Write(old, bs("old"), 0, 0)
	require.Zero(t, err)
	require.Zero(t, Rename(Root(), bs("/tmp/src"), Root(), bs("/tmp/dst"), 0, 0))
	assert.Equal(t, "new", readAll(t, lookup(t, "/tmp/dst")))
	assert.Equal(t, "old", readAll(t, old), "replaced file survives while open")
	Unref(old)
}

func TestChdir(t *testing.T) {
	fresh(t)
	mkfile(t, "/tmp/f", "")
	cwd, err := Chdir(Root(), bs("tmp"))
	require.Zero(t, err)
	assert.Equal(t, lookup(t, "/tmp"), cwd)
	_, err = Chdir(cwd, bs("f"))
	assert.Equal(t, ENOTDIR, err)
	_, err = Chdir(cwd, bs("none"))
	assert.Equal(t, ENOENT, err)
	up, err := Chdir(cwd, bs(".."))
	require.Zero(t, err)
	assert.Equal(t, Root(), up)
	Unref(up)
	Unref(cwd)
}

func TestPath(t *testing.T) {
	fresh(t)
	require.Zero(t, MkdirAll(bs("/x/yy/zzz"), 0o755, 0))
	buf := make([]byte, 64)
	n, err := Path(Root(), buf)
	require.Zero(t, err)
	assert.Equal(t, "/", string(buf[:n]))
	z := lookup(t, "/x/yy/zzz")
	n, err = Path(z, buf)
	require.Zero(t, err)
	assert.Equal(t, "/x/yy/zzz", string(buf[:n]))
	n, err = Path(z, buf[:9])
	require.Zero(t, err)
	assert.Equal(t, "/x/yy/zzz", string(buf[:n]))
	_, err = Path(z, buf[:8])
	assert.Equal(t, ERANGE, err)
	_, err = Path(Root(), buf[:0])
	assert.Equal(t, ERANGE, err)
	_, err = Path(mkfile(t, "/x/f", ""), buf)
	assert.Equal(t, ENOTDIR, err)
}

var staticContent = []byte("2097152\n")

func TestStaticFiles(t *testing.T) {
	fresh(t)
	const thp = "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size"
	require.Zero(t, AddStatic(bs(thp), staticContent, 0o444, 0))
	require.Zero(t, AddStaticString("/etc/hostname", "unigo\n", 0o644, 0))
	require.Zero(t, AddStaticString("/etc/empty", "", 0o644, 0))
	assert.Equal(t, EEXIST, AddStaticString("/etc/hostname", "x", 0o644, 0))
	assert.Equal(t, EINVAL, AddStaticString("etc/rel", "x", 0o644, 0))
	assert.Equal(t, ENOTDIR, AddStaticString("/etc/hostname/x", "x", 0o644, 0))

	ino := lookup(t, thp)
	assert.Equal(t, "2097152\n", readAll(t, ino))
	buf := make([]byte, 4)
	n, err := Read(ino, buf, 3)
	require.Zero(t, err)
	assert.Equal(t, "7152", string(buf[:n]))
	n, err = Read(ino, buf, 100)
	require.Zero(t, err)
	assert.Zero(t, n)
	assert.Equal(t, "unigo\n", readAll(t, lookup(t, "/etc/hostname")))
	assert.Equal(t, "", readAll(t, lookup(t, "/etc/empty")))
	st := doStat(t, ino)
	assert.EqualValues(t, ModeRegular|0o444, st.mode)
	assert.EqualValues(t, 8, st.size)
	assert.EqualValues(t, 8, st.blocks)

	_, err = Write(ino, bs("x"), 0, 0)
	assert.Equal(t, EACCES, err)
	assert.Equal(t, EACCES, Truncate(ino, 0, 0))
	_, err = Open(Root(), bs(thp), unix.O_WRONLY, 0, 0)
	assert.Equal(t, EACCES, err)
	_, err = Open(Root(), bs(thp), unix.O_RDONLY|unix.O_TRUNC, 0, 0)
	assert.Equal(t, EACCES, err)
	r, err := Open(Root(), bs(thp), unix.O_RDONLY, 0, 0)
	require.Zero(t, err)
	Unref(r)
	require.Zero(t, Unlink(Root(), bs("/etc/hostname"), 0))

	// Regenerated content: the length follows SetStaticSize; a regular
	// file is left alone.
	gen := []byte("abcdefgh")
	require.Zero(t, AddStatic(bs("/proc/gen"), gen, 0o444, 0))
	g := lookup(t, "/proc/gen")
	SetStaticSize(g, 3)
	assert.Equal(t, "abc", readAll(t, g))
	copy(gen, "xyz")
	SetStaticSize(g, 8)
	assert.Equal(t, "xyzdefgh", readAll(t, g))
	f := mkfile(t, "/plain", "data")
	SetStaticSize(f, 1)
	assert.Equal(t, "data", readAll(t, f))
	SetStaticSize(0, 1)
}

func TestDefaultFiles(t *testing.T) {
	fresh(t)
	require.Zero(t, AddDefaultFiles(0))
	assert.Equal(t, "2097152\n", readAll(t, lookup(t, "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size")))
	assert.Equal(t, "unigo\n", readAll(t, lookup(t, "/etc/hostname")))
	assert.Contains(t, readAll(t, lookup(t, "/etc/passwd")), "root:x:0:0:")
	assert.Contains(t, readAll(t, lookup(t, "/etc/hosts")), "127.0.0.1")
	assert.Equal(t, EEXIST, AddDefaultFiles(0))
}

func TestBadArguments(t *testing.T) {
	fresh(t)
	f := mkfile(t, "/tmp/f", "abc")
	d := lookup(t, "/tmp")
	require.Zero(t, Symlink(bs("f"), Root(), bs("/tmp/l"), 0))
	l, err := Lookup(Root(), bs("/tmp/l"), false)
	require.Zero(t, err)
	buf := make([]byte, 8)
	_, err = Read(f, buf, -1)
	assert.Equal(t, EINVAL, err)
	_, err = Write(f, buf, -1, 0)
	assert.Equal(t, EINVAL, err)
	_, err = Read(d, buf, 0)
	assert.Equal(t, EISDIR, err)
	_, err = Write(d, buf, 0, 0)
	assert.Equal(t, EISDIR, err)
	_, err = Read(l, buf, 0)
	assert.Equal(t, EINVAL, err)
	_, err = Write(l, buf, 0, 0)
	assert.Equal(t, EINVAL, err)
	assert.Equal(t, EISDIR, Truncate(d, 0, 0))
	assert.Equal(t, EINVAL, Truncate(l, 0, 0))
	assert.Equal(t, EINVAL, Truncate(f, -1, 0))
	assert.Equal(t, EFBIG, Truncate(f, MaxFileSize+1, 0))
	_, err = Write(f, buf, MaxFileSize, 0)
	assert.Equal(t, EFBIG, err)
	n, err := Write(f, buf, MaxFileSize-3, 0)
	require.Zero(t, err)
	assert.Equal(t, 3, n, "writes stop at the size limit")
	assert.Equal(t, MaxFileSize, Size(f))
	require.Zero(t, Truncate(f, 0, 0))
	_, _, err = ReadDir(f, 0, buf)
	assert.Equal(t, ENOTDIR, err)
	_, err = ReadlinkInode(f, buf)
	assert.Equal(t, EINVAL, err)
	Unref(f) // no reference held: harmless
	assert.Equal(t, f, lookup(t, "/tmp/f"))
}
