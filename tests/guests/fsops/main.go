// Command fsops exercises the file system calls beyond fileio's basics:
// symlinks and hard links, chdir and relative paths, O_APPEND, seek and
// positioned I/O, truncate, chmod and chtimes, unlink of an open file,
// /dev/null, and, when booted on unigo (uname release ending in
// "-unigo"), the files the kernel provides as Linux would (the huge page
// size, /proc/self/exe, /etc/passwd via os/user, the hostname, statfs, and
// a console that is a terminal). It prints "fsops: ok", or the first failed
// check and exits 1.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fsops:", err)
		os.Exit(1)
	}
	fmt.Println("fsops: ok")
}

func run() error {
	root, err := os.MkdirTemp("", "unigo-fsops-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	for _, step := range []struct {
		name string
		fn   func(string) error
	}{
		{"links", links},
		{"chdir", chdir},
		{"append and seek", appendSeek},
		{"metadata", metadata},
		{"unlinked open file", unlinkedOpen},
		{"dev null", devNull},
		{"unigo files", unigoFiles},
		{"ids and modes", idsModes},
		{"fallocate", fallocate},
	} {
		dir := filepath.Join(root, strings.ReplaceAll(step.name, " ", "_"))
		if err := os.Mkdir(dir, 0o755); err != nil {
			return err
		}
		if err := step.fn(dir); err != nil {
			return fmt.Errorf("%s: %w", step.name, err)
		}
		fmt.Printf("fsops: %s ok\n", step.name)
	}
	return nil
}

func links(dir string) error {
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("data"), 0o644); err != nil {
		return err
	}
	sym := filepath.Join(dir, "sym")
	if err := os.Symlink("target", sym); err != nil {
		return err
	}
	if got, err := os.Readlink(sym); err != nil || got != "target" {
		return fmt.Errorf("Readlink = %q, %v", got, err)
	}
	if fi, err := os.Lstat(sym); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return fmt.Errorf("Lstat = %v, %v; want a symlink", fi, err)
	}
	if b, err := os.ReadFile(sym); err != nil || string(b) != "data" {
		return fmt.Errorf("ReadFile through symlink = %q, %v", b, err)
	}
	hard := filepath.Join(dir, "hard")
	if err := os.Link(target, hard); err != nil {
		return err
	}
	fi1, err := os.Stat(target)
	if err != nil {
		return err
	}
	fi2, err := os.Stat(hard)
	if err != nil {
		return err
	}
	if !os.SameFile(fi1, fi2) {
		return errors.New("hard link is not the same file")
	}
	if st, ok := fi1.Sys().(*syscall.Stat_t); !ok || st.Nlink != 2 {
		return fmt.Errorf("nlink = %v, want 2", fi1.Sys())
	}
	if err := os.Remove(target); err != nil {
		return err
	}
	if _, err := os.Stat(sym); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("Stat of a dangling symlink: %v", err)
	}
	if b, err := os.ReadFile(hard); err != nil || string(b) != "data" {
		return fmt.Errorf("ReadFile of the remaining link = %q, %v", b, err)
	}
	return nil
}

func chdir(dir string) error {
	old, err := os.Getwd()
	if err != nil {
		return err
	}
	defer os.Chdir(old)
	if err := os.Chdir(dir); err != nil {
		return err
	}
	if err := os.MkdirAll("sub/deeper", 0o755); err != nil {
		return err
	}
	if err := os.WriteFile("sub/deeper/f", []byte("rel"), 0o644); err != nil {
		return err
	}
	if err := os.Chdir("sub"); err != nil {
		return err
	}
	wd, err := os.Getwd()
	if err != nil || wd != filepath.Join(dir, "sub") {
		return fmt.Errorf("Getwd = %q, %v", wd, err)
	}
	if b, err := os.ReadFile("deeper/../deeper/f"); err != nil || string(b) != "rel" {
		return fmt.Errorf("relative ReadFile = %q, %v", b, err)
	}
	if err := os.Chdir("deeper/f"); err == nil {
		return errors.New("Chdir to a file succeeded")
	}
	return nil
}

func appendSeek(dir string) error {
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("hello"), 0o644); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	f.Write([]byte(", world"))
	f.Close()
	f, err = os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if off, err := f.Seek(-5, io.SeekEnd); err != nil || off != 7 {
		return fmt.Errorf("Seek = %d, %v", off, err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(f, buf); err != nil || string(buf) != "world" {
		return fmt.Errorf("read after seek = %q, %v", buf, err)
	}
	if _, err := f.WriteAt([]byte("J"), 0); err != nil {
		return err
	}
	if _, err := f.ReadAt(buf, 0); err != nil || string(buf) != "Jello" {
		return fmt.Errorf("ReadAt = %q, %v", buf, err)
	}
	if err := f.Truncate(3); err != nil {
		return err
	}
	// A write past the end leaves a hole of zeros.
	if _, err := f.WriteAt([]byte("!"), 6); err != nil {
		return err
	}
	b, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(b, []byte("Jel\x00\x00\x00!")) {
		return fmt.Errorf("content = %q, %v", b, err)
	}
	if _, err := f.Seek(-1, io.SeekStart); err == nil {
		return errors.New("Seek to a negative offset succeeded")
	}
	return nil
}

func metadata(dir string) error {
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		return err
	}
	if err := os.Chmod(p, 0o640); err != nil {
		return err
	}
	mt := time.Date(2001, 2, 3, 4, 5, 6, 7000, time.UTC)
	if err := os.Chtimes(p, mt, mt); err != nil {
		return err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.Mode().Perm() != 0o640 || !fi.ModTime().Equal(mt) {
		return fmt.Errorf("mode %v mtime %v, want 0640 %v", fi.Mode(), fi.ModTime(), mt)
	}
	if err := os.Mkdir(p, 0o755); !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("Mkdir over a file: %v", err)
	}
	if _, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("O_EXCL on an existing file: %v", err)
	}
	return nil
}

func unlinkedOpen(dir string) error {
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("still here"), 0o644); err != nil {
		return err
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := os.Remove(p); err != nil {
		return err
	}
	b, err := io.ReadAll(f)
	if err != nil || string(b) != "still here" {
		return fmt.Errorf("read of an unlinked open file = %q, %v", b, err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 0 {
		return fmt.Errorf("ReadDir = %v, %v; want empty", ents, err)
	}
	return nil
}

func devNull(string) error {
	if err := os.WriteFile(os.DevNull, []byte("discarded"), 0o666); err != nil {
		return err
	}
	if b, err := os.ReadFile(os.DevNull); err != nil || len(b) != 0 {
		return fmt.Errorf("ReadFile(/dev/null) = %q, %v", b, err)
	}
	fi, err := os.Stat(os.DevNull)
	if err != nil || fi.Mode()&fs.ModeCharDevice == 0 {
		return fmt.Errorf("Stat(/dev/null) = %v, %v; want a character device", fi, err)
	}
	return nil
}

func onUnigo() bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	return strings.HasSuffix(unix.ByteSliceToString(u.Release[:]), "-unigo")
}

func unigoFiles(string) error {
	if !onUnigo() {
		return nil
	}
	if b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size"); err != nil || string(b) != "2097152\n" {
		return fmt.Errorf("hpage_pmd_size = %q, %v", b, err)
	}
	if exe, err := os.Executable(); err != nil || exe != "/init" {
		return fmt.Errorf("Executable = %q, %v", exe, err)
	}
	if b, err := os.ReadFile("/proc/self/status"); err != nil || !bytes.Contains(b, []byte("\nPid:\t1\n")) ||
		!bytes.Contains(b, []byte("\nUid:\t0\t0\t0\t0\n")) || !bytes.HasPrefix(b, []byte("Name:\t")) {
		return fmt.Errorf("/proc/self/status = %q, %v", b, err)
	}
	if b, err := os.ReadFile("/proc/sys/fs/pipe-max-size"); err != nil || string(b) != "1048576\n" {
		return fmt.Errorf("pipe-max-size = %q, %v", b, err)
	}
	if err := procInfo(); err != nil {
		return err
	}
	if h, err := os.Hostname(); err != nil || h != "unigo" {
		return fmt.Errorf("Hostname = %q, %v", h, err)
	}
	if u, err := user.Current(); err != nil || u.Username != "root" || u.HomeDir != "/root" {
		return fmt.Errorf("user.Current = %+v, %v", u, err)
	}
	if g, err := user.LookupGroupId("0"); err != nil || g.Name != "root" {
		return fmt.Errorf("LookupGroupId(0) = %+v, %v", g, err)
	}
	if b, err := os.ReadFile("/etc/hosts"); err != nil || !bytes.Contains(b, []byte("localhost")) {
		return fmt.Errorf("/etc/hosts = %q, %v", b, err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs("/tmp", &st); err != nil || st.Type != unix.TMPFS_MAGIC || st.Bfree == 0 {
		return fmt.Errorf("Statfs = %+v, %v", st, err)
	}
	// The console is a terminal when the host's stdout is one (the
	// launcher says so with unigo.tty); the harness checks that the
	// output has CRLF line ends exactly then.
	_, err := unix.IoctlGetTermios(1, unix.TCGETS)
	if err != nil && err != unix.ENOTTY {
		return fmt.Errorf("TCGETS on stdout: %v", err)
	}
	fmt.Printf("fsops: console tty=%v\n", err == nil)
	if _, err := unix.IoctlGetTermios(int(mustOpen("/etc/hostname").Fd()), unix.TCGETS); err != unix.ENOTTY {
		return fmt.Errorf("TCGETS on a file: %v, want ENOTTY", err)
	}
	ents, err := os.ReadDir("/")
	if err != nil {
		return err
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	for _, want := range []string{"dev", "etc", "proc", "sys", "tmp"} {
		if !strings.Contains(" "+strings.Join(names, " ")+" ", " "+want+" ") {
			return fmt.Errorf("ReadDir(/) = %q, no %s", names, want)
		}
	}
	return nil
}

// idsModes checks what programs ask of users and modes: getgroups (root
// with no supplementary groups on unigo), fchmodat2 with its flags,
// os.Root.Chmod and the chown calls.
func idsModes(dir string) error {
	gs, err := syscall.Getgroups()
	if err != nil {
		return fmt.Errorf("getgroups: %v", err)
	}
	if onUnigo() && !(len(gs) == 0 || len(gs) == 1 && gs[0] == 0) {
		return fmt.Errorf("getgroups = %v, want [] or [0]", gs)
	}
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		return err
	}
	l := filepath.Join(dir, "l")
	if err := os.Symlink("f", l); err != nil {
		return err
	}
	perm := func(want fs.FileMode) error {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != want {
			return fmt.Errorf("mode %v, %v; want %v", fi.Mode(), err, want)
		}
		return nil
	}
	fchmodat2 := func(path string, mode uint32, flags int) error {
		b, _ := unix.BytePtrFromString(path)
		_, _, e := unix.Syscall6(unix.SYS_FCHMODAT2, uintptr(atFDCWD), uintptr(unsafe.Pointer(b)), uintptr(mode), uintptr(flags), 0, 0)
		if e != 0 {
			return e
		}
		return nil
	}
	switch err := fchmodat2(p, 0o604, 0); err {
	case unix.ENOSYS:
		if onUnigo() {
			return fmt.Errorf("fchmodat2: ENOSYS")
		}
		// A host kernel older than 6.6.
	case nil:
		if err := perm(0o604); err != nil {
			return fmt.Errorf("fchmodat2: %v", err)
		}
		if err := fchmodat2(l, 0o600, unix.AT_SYMLINK_NOFOLLOW); err != unix.EOPNOTSUPP {
			return fmt.Errorf("fchmodat2(symlink, AT_SYMLINK_NOFOLLOW) = %v, want EOPNOTSUPP", err)
		}
		if err := fchmodat2(p, 0o606, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("fchmodat2(file, AT_SYMLINK_NOFOLLOW) = %v", err)
		}
		if err := perm(0o606); err != nil {
			return fmt.Errorf("fchmodat2 nofollow: %v", err)
		}
	default:
		return fmt.Errorf("fchmodat2: %v", err)
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := r.Chmod("f", 0o640); err != nil {
		return fmt.Errorf("Root.Chmod: %v", err)
	}
	if err := perm(0o640); err != nil {
		return fmt.Errorf("Root.Chmod: %v", err)
	}
	if err := r.Chmod("l", 0o644); err != nil {
		return fmt.Errorf("Root.Chmod through a symlink: %v", err)
	}
	if err := perm(0o644); err != nil {
		return fmt.Errorf("Root.Chmod through a symlink: %v", err)
	}
	uid, gid := os.Getuid(), os.Getgid()
	if err := os.Chown(p, uid, gid); err != nil {
		return fmt.Errorf("Chown: %v", err)
	}
	if err := os.Lchown(l, uid, gid); err != nil {
		return fmt.Errorf("Lchown: %v", err)
	}
	if err := r.Chown("f", uid, gid); err != nil {
		return fmt.Errorf("Root.Chown: %v", err)
	}
	if err := r.Lchown("l", uid, gid); err != nil {
		return fmt.Errorf("Root.Lchown: %v", err)
	}
	return nil
}

// fallocate: mode 0 grows the file with zeros, FALLOC_FL_KEEP_SIZE
// leaves the size, a range inside the file changes nothing.
func fallocate(dir string) error {
	f, err := os.Create(filepath.Join(dir, "f"))
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteString("head"); err != nil {
		return err
	}
	size := func() int64 {
		fi, err := f.Stat()
		if err != nil {
			return -1
		}
		return fi.Size()
	}
	fd := int(f.Fd())
	if err := unix.Fallocate(fd, 0, 0, 8192); err != nil {
		return fmt.Errorf("fallocate(0, 0, 8192): %v", err)
	}
	if n := size(); n != 8192 {
		return fmt.Errorf("size after fallocate %d, want 8192", n)
	}
	if err := unix.Fallocate(fd, unix.FALLOC_FL_KEEP_SIZE, 8192, 4096); err != nil {
		return fmt.Errorf("fallocate(KEEP_SIZE): %v", err)
	}
	if err := unix.Fallocate(fd, 0, 100, 10); err != nil {
		return fmt.Errorf("fallocate inside the file: %v", err)
	}
	if n := size(); n != 8192 {
		return fmt.Errorf("size after KEEP_SIZE and an inner range %d, want 8192", n)
	}
	b, err := os.ReadFile(f.Name())
	if err != nil || len(b) != 8192 || string(b[:4]) != "head" || !bytes.Equal(b[4:], make([]byte, 8188)) {
		return fmt.Errorf("content after fallocate: %d bytes, %v", len(b), err)
	}
	if err := unix.Fallocate(fd, 0, 0, 0); err != unix.EINVAL {
		return fmt.Errorf("fallocate(length 0) = %v, want EINVAL", err)
	}
	r := mustOpen(f.Name())
	defer r.Close()
	if err := unix.Fallocate(int(r.Fd()), 0, 0, 10); err != unix.EBADF {
		return fmt.Errorf("fallocate on a read-only fd = %v, want EBADF", err)
	}
	return nil
}

func mustOpen(p string) *os.File {
	f, err := os.Open(p)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fsops:", err)
		os.Exit(1)
	}
	return f
}

var atFDCWD = unix.AT_FDCWD

// meminfoKB returns a /proc/meminfo value in kB.
func meminfoKB(name string) (uint64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			var n uint64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &n); err != nil {
				return 0, fmt.Errorf("/proc/meminfo %s: %q: %v", name, line, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("/proc/meminfo has no %s line: %q", name, b)
}

// procInfo checks /proc/meminfo, /proc/cpuinfo and the sysfs CPU list
// against what the program sees (true natively and booted alike), and,
// booted, that meminfo follows the memory in use.
func procInfo() error {
	total, err := meminfoKB("MemTotal")
	if err != nil {
		return err
	}
	avail, err := meminfoKB("MemAvailable")
	if err != nil {
		return err
	}
	if total == 0 || avail > total {
		return fmt.Errorf("/proc/meminfo: MemTotal %d kB, MemAvailable %d kB", total, avail)
	}
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return err
	}
	cpus := strings.Count(string(b), "\nprocessor\t: ") + strings.Count(string(b[:min(len(b), 12)]), "processor\t: ")
	if cpus < runtime.NumCPU() || !strings.Contains(string(b), "\nvendor_id\t: ") || !strings.Contains(string(b), " sse2") ||
		!strings.Contains(string(b), " lm") || !strings.Contains(string(b), " pni") {
		return fmt.Errorf("/proc/cpuinfo: %d processors for %d CPUs: %.300q", cpus, runtime.NumCPU(), b)
	}
	online, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return err
	}
	var lo, hi int
	if n, _ := fmt.Sscanf(string(online), "%d-%d", &lo, &hi); n == 1 {
		hi = lo
	}
	if lo != 0 || hi+1 < runtime.NumCPU() {
		return fmt.Errorf("/sys/devices/system/cpu/online = %q for %d CPUs", online, runtime.NumCPU())
	}
	if err := procMaps(); err != nil {
		return err
	}
	if err := procFds(); err != nil {
		return err
	}
	if stat, _ := os.ReadFile("/proc/self/stat"); !bytes.HasPrefix(stat, []byte("1 (init) ")) {
		return nil // a Linux process: the rest is the unikernel's
	}
	if cpus != runtime.NumCPU() {
		return fmt.Errorf("/proc/cpuinfo: %d processors for %d CPUs", cpus, runtime.NumCPU())
	}
	free, err := meminfoKB("MemFree")
	if err != nil {
		return err
	}
	keep := make([]byte, 16<<20)
	for i := range keep {
		keep[i] = 1
	}
	after, err := meminfoKB("MemFree")
	if err != nil {
		return err
	}
	if after+8<<10 > free {
		return fmt.Errorf("/proc/meminfo: MemFree %d kB before touching 16 MiB, %d kB after", free, after)
	}
	runtime.KeepAlive(keep)
	return nil
}

// procMaps checks /proc/self/maps: the code of this function lies in an
// r-x mapping and a fresh heap object in an rw- one.
func procMaps() error {
	heap := make([]byte, 1<<20) // before the read: its memory is mapped then
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return err
	}
	want := map[uintptr]string{
		reflect.ValueOf(procMaps).Pointer():             "r-x",
		uintptr(unsafe.Pointer(unsafe.SliceData(heap))): "rw-",
	}
	for addr, perm := range want {
		found := false
		for _, line := range strings.Split(string(b), "\n") {
			var lo, hi uintptr
			var perms string
			if n, _ := fmt.Sscanf(line, "%x-%x %s", &lo, &hi, &perms); n == 3 && lo <= addr && addr < hi {
				found = strings.HasPrefix(perms, perm)
				break
			}
		}
		if !found {
			return fmt.Errorf("/proc/self/maps: no %s mapping holds %#x:\n%s", perm, addr, b)
		}
	}
	runtime.KeepAlive(heap)
	return nil
}

// procFds checks /proc/self/fd: an open descriptor is listed and links to
// something, and is gone once closed; a directory links to its path.
func procFds() error {
	f, err := os.Open("/etc/hosts")
	if err != nil {
		return err
	}
	d, err := os.Open("/")
	if err != nil {
		return err
	}
	defer d.Close()
	name := fmt.Sprintf("/proc/self/fd/%d", f.Fd())
	if l, err := os.Readlink(name); err != nil || l == "" {
		return fmt.Errorf("readlink %s = %q, %v", name, l, err)
	}
	if l, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", d.Fd())); err != nil || l != "/" {
		return fmt.Errorf("readlink of the root directory's descriptor = %q, %v", l, err)
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil || len(ents) < 5 {
		return fmt.Errorf("/proc/self/fd: %d entries, %v", len(ents), err)
	}
	f.Close()
	if _, err := os.Readlink(name); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("readlink %s after close: %v, want ENOENT", name, err)
	}
	return nil
}
