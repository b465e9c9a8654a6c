// Package fuzz is the system-call fuzzer of the sysfuzz guests: from a seed it issues random
// system calls with hostile arguments (NULL, kernel and non-canonical
// addresses, the image's read-only text and rodata, unmapped pages, buffers
// straddling a mapped/unmapped boundary, misaligned pointers, huge lengths,
// valid and invalid descriptors) on one locked OS thread, and after every
// batch checks that the process is still sane: worker goroutines keep
// making progress and their buffers keep their invariants, and nothing the
// kernel must not write (text, rodata, a read-only page) changed.
//
// Usage:
//
//	sysfuzz [-seed N] [-count N] [-batch N] [-set served|all] [-only NAME,...] [-v]
//	sysfuzz -call 'NAME ARG ARG ...'
//
// -v prints every call before it is made, so the last line before a crash
// names it. -call makes one call whose arguments are numbers or the symbols
// the -v lines print (null, kernel, noncanon, unmapped, text, rodata, ro,
// straddle, arena+OFF, victim+OFF, fd:NAME, path:NAME, ts:small, ...).
// It prints "sysfuzz: N calls ok" and exits 0, or names what broke and
// exits 1.
package fuzz

import (
	"flag"
	"fmt"
	"hash/crc64"
	"math/rand/v2"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

const page = 4096

// rodataBlob is read-only data of the image that pointers may aim at; the
// kernel must never write it.
const rodataBlob = "sysfuzz rodata: the kernel must not write here. " +
	"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" +
	"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" +
	"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

var crcTab = crc64.MakeTable(crc64.ECMA)

// Memory the fuzzer owns.
var (
	arena      uintptr // arenaPages RW pages followed by one PROT_NONE guard page
	arenaPages = 16
	victim     uintptr // victimPages RW pages munmap/mprotect/madvise may change
	victimPgs  = 4
	roPage     uintptr // one PROT_READ page with known contents
	roSum      uint64
	unmapped   uintptr // a page-aligned address with nothing mapped
	textAddr   uintptr
	textSum    uint64
	rodataAddr uintptr
	rodataSum  uint64
)

// Symbols for reproducible argument values.
var symbols = map[string]uintptr{}

type fdent struct {
	name string
	fd   int
}

var (
	fds     []fdent // the pool: descriptors the fuzzer made at start (and invalid ones)
	created []int   // descriptors fuzzed calls returned; closed after each batch
	paths   []string
)

func die(format string, a ...any) {
	fmt.Printf("sysfuzz: FAIL: "+format+"\n", a...)
	os.Exit(1)
}

func mmap(n int, prot int) uintptr {
	r, _, e := syscall.RawSyscall6(syscall.SYS_MMAP, 0, uintptr(n), uintptr(prot),
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS, ^uintptr(0), 0)
	if e != 0 {
		die("mmap %d: %v", n, e)
	}
	return r
}

func sum(p uintptr, n int) uint64 {
	return crc64.Checksum(unsafe.Slice((*byte)(unsafe.Pointer(p)), n), crcTab)
}

func setupMemory() {
	arena = mmap((arenaPages+1)*page, syscall.PROT_READ|syscall.PROT_WRITE)
	if _, _, e := syscall.RawSyscall(syscall.SYS_MPROTECT, arena+uintptr(arenaPages*page), page, syscall.PROT_NONE); e != 0 {
		die("mprotect guard: %v", e)
	}
	// The victim region has a page of our own on either side, so that
	// calls reaching past it change nobody else's memory.
	victim = mmap((victimPgs+2)*page, syscall.PROT_READ|syscall.PROT_WRITE) + page
	roPage = mmap(page, syscall.PROT_READ|syscall.PROT_WRITE)
	b := unsafe.Slice((*byte)(unsafe.Pointer(roPage)), page)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	syscall.RawSyscall(syscall.SYS_MPROTECT, roPage, page, syscall.PROT_READ)
	roSum = sum(roPage, page)
	// An unmapped page: map two, unmap the second.
	u := mmap(2*page, syscall.PROT_READ)
	syscall.RawSyscall(syscall.SYS_MUNMAP, u+page, page, 0)
	unmapped = u + page
	textAddr = reflect.ValueOf(checkMemory).Pointer()
	textSum = sum(textAddr, 256)
	rodataAddr = uintptr(unsafe.Pointer(unsafe.StringData(rodataBlob)))
	rodataSum = sum(rodataAddr, len(rodataBlob))

	symbols["null"] = 0
	symbols["kernel"] = 0xffff800000000000
	symbols["kernel2"] = 0xffffffff81000000
	symbols["noncanon"] = 0x0000800000000000
	symbols["top"] = 0x00007ffffffff000
	symbols["minus1"] = ^uintptr(0)
	symbols["low"] = 0x1000
	symbols["unmapped"] = unmapped
	symbols["text"] = textAddr
	symbols["rodata"] = rodataAddr
	symbols["ro"] = roPage
	symbols["arena"] = arena
	symbols["victim"] = victim
	symbols["guard"] = arena + uintptr(arenaPages*page)
}

func setupFDs() {
	for _, e := range fds {
		if e.fd > 2 && e.name != "closed" && e.fd < 1<<20 {
			syscall.Close(e.fd)
		}
	}
	fds = fds[:0]
	os.MkdirAll("/tmp/sysfuzz/d", 0o755)
	os.WriteFile("/tmp/sysfuzz/f", []byte("sysfuzz file contents\n"), 0o644)
	paths = []string{"/tmp/sysfuzz/f", "/tmp/sysfuzz/d", "/tmp/sysfuzz/n", "/tmp/sysfuzz/d/x",
		"/tmp/sysfuzz/l", "/", ".", "..", "", "/dev/null", "/dev/zero", "/dev/urandom", "/tmp",
		"/tmp/sysfuzz/f/x", "/nonexistent/a/b", strings.Repeat("a", 300), "/" + strings.Repeat("b/", 2100)}
	add := func(name string, fd int, err error) {
		if err != nil {
			if !setupReported[name] {
				fmt.Printf("sysfuzz: setup %s: %v\n", name, err)
				setupReported[name] = true
			}
			return
		}
		fds = append(fds, fdent{name, fd})
	}
	fd, err := syscall.Open("/tmp/sysfuzz/f", syscall.O_RDWR|syscall.O_NONBLOCK, 0)
	add("file", fd, err)
	fd, err = syscall.Open("/tmp/sysfuzz/d", syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	add("dir", fd, err)
	fd, err = syscall.Open("/dev/null", syscall.O_RDWR, 0)
	add("null", fd, err)
	var p [2]int
	err = syscall.Pipe2(p[:], syscall.O_NONBLOCK)
	add("pipe-r", p[0], err)
	add("pipe-w", p[1], err)
	var s [2]int
	s, err = syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	add("unix-a", s[0], err)
	add("unix-b", s[1], err)
	fd, err = syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	add("tcp", fd, err)
	fd, err = syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	if err == nil {
		err = syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
		if err == nil {
			err = syscall.Listen(fd, 8)
		}
	}
	add("tcp-listen", fd, err)
	fd, err = syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK, 0)
	add("udp", fd, err)
	fd, err = syscall.EpollCreate1(0)
	add("epoll", fd, err)
	r, _, e := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK, 0)
	if e != 0 {
		add("eventfd", 0, e)
	} else {
		add("eventfd", int(r), nil)
	}
	fd, err = syscall.Open("/dev/null", syscall.O_RDONLY, 0)
	if err == nil {
		syscall.Close(fd)
		fds = append(fds, fdent{"closed", fd})
	}
	fds = append(fds, fdent{"minus1", -1}, fdent{"big", 1 << 20}, fdent{"huge", 0x7fffffff}, fdent{"4096", 4096}, fdent{"neg", -100})
	for _, f := range fds {
		symbols["fd:"+f.name] = uintptr(f.fd)
	}
	if symbols["path:0"] != 0 {
		return
	}
	for i, p := range paths {
		b := append([]byte(p), 0)
		a := arenaAlloc(len(b))
		copy(unsafe.Slice((*byte)(unsafe.Pointer(a)), len(b)), b)
		symbols["path:"+strconv.Itoa(i)] = a
	}
}

// The top of the arena past fixedEnd is scratch the calls may write; below
// it are the path strings and argument structures, rebuilt as needed.
var arenaTop uintptr

func arenaAlloc(n int) uintptr {
	if arenaTop == 0 {
		arenaTop = arena
	}
	a := arenaTop
	arenaTop += uintptr((n + 15) &^ 15)
	return a
}

// Argument kinds.
const (
	kInt      = iota // any hostile integer
	kFD              // a descriptor from the pool
	kPtr             // a pointer the kernel reads or writes
	kLen             // a length
	kPath            // a path pointer
	kFlags           // random bits
	kSmall           // 0..64
	kSig             // a harmless signal number (or an invalid one)
	kTS              // a pointer to a short timeout, or a hostile non-readable one
	kZero            // 0
	kSelf            // the fuzzer's own pid/tid, 0, or other numbers
	kAddr            // an address inside the victim region, or a hostile non-mapping one
	kVLen            // a length inside the victim region
	kNewFD           // a descriptor number safe to overwrite
	kSockaddr        // a pointer to a socket address, or hostile
)

type sysc struct {
	name string
	nr   uintptr
	args []int
}

func s(name string, nr uintptr, args ...int) sysc { return sysc{name, nr, args} }

// served lists the calls the kernel serves, with argument kinds chosen so
// that no call ends or blocks the fuzzer or breaks the Go runtime by
// design (see the notes in fixup).
var served = []sysc{
	s("read", 0, kFD, kPtr, kLen),
	s("write", 1, kFD, kPtr, kLen),
	s("open", 2, kPath, kFlags, kInt),
	s("close", 3, kFD),
	s("stat", 4, kPath, kPtr),
	s("fstat", 5, kFD, kPtr),
	s("lstat", 6, kPath, kPtr),
	s("lseek", 8, kFD, kInt, kSmall),
	s("mmap", 9, kAddr, kLen, kFlags, kFlags, kFD, kInt),
	s("mprotect", 10, kAddr, kVLen, kFlags),
	s("munmap", 11, kAddr, kVLen),
	s("mremap", 25, kAddr, kVLen, kVLen, kSmall, kAddr),
	s("brk", 12, kZero),
	s("rt_sigaction", 13, kSig, kTS, kPtr, kSmall),
	s("rt_sigprocmask", 14, kSmall, kTS, kPtr, kSmall),
	s("ioctl", 16, kFD, kInt, kPtr),
	s("pread64", 17, kFD, kPtr, kLen, kInt),
	s("pwrite64", 18, kFD, kPtr, kLen, kInt),
	s("readv", 19, kFD, kPtr, kSmall),
	s("writev", 20, kFD, kPtr, kSmall),
	s("access", 21, kPath, kFlags),
	s("pipe", 22, kPtr),
	s("sched_yield", 24),
	s("mincore", 27, kAddr, kVLen, kPtr),
	s("madvise", 28, kAddr, kVLen, kSmall),
	s("dup", 32, kFD),
	s("dup2", 33, kFD, kNewFD),
	s("nanosleep", 35, kTS, kPtr),
	s("getitimer", 36, kSmall, kPtr),
	s("setitimer", 38, kSmall, kTS, kPtr),
	s("getpid", 39),
	s("sendfile", 40, kFD, kFD, kPtr, kLen),
	s("socket", 41, kSmall, kFlags, kSmall),
	s("connect", 42, kFD, kSockaddr, kLen),
	s("accept", 43, kFD, kPtr, kPtr),
	s("sendto", 44, kFD, kPtr, kLen, kFlags, kSockaddr, kLen),
	s("recvfrom", 45, kFD, kPtr, kLen, kFlags, kPtr, kPtr),
	s("sendmsg", 46, kFD, kPtr, kFlags),
	s("recvmsg", 47, kFD, kPtr, kFlags),
	s("shutdown", 48, kFD, kSmall),
	s("bind", 49, kFD, kSockaddr, kLen),
	s("listen", 50, kFD, kInt),
	s("getsockname", 51, kFD, kPtr, kPtr),
	s("getpeername", 52, kFD, kPtr, kPtr),
	s("socketpair", 53, kSmall, kFlags, kSmall, kPtr),
	s("setsockopt", 54, kFD, kSmall, kSmall, kPtr, kLen),
	s("getsockopt", 55, kFD, kSmall, kSmall, kPtr, kPtr),
	s("kill", 62, kSelf, kSig),
	s("uname", 63, kPtr),
	s("fcntl", 72, kFD, kSmall, kInt),
	s("flock", 73, kFD, kSmall),
	s("fsync", 74, kFD),
	s("fdatasync", 75, kFD),
	s("truncate", 76, kPath, kInt),
	s("ftruncate", 77, kFD, kInt),
	s("getcwd", 79, kPtr, kLen),
	s("chdir", 80, kPath),
	s("fchdir", 81, kFD),
	s("rename", 82, kPath, kPath),
	s("mkdir", 83, kPath, kFlags),
	s("rmdir", 84, kPath),
	s("creat", 85, kPath, kFlags),
	s("link", 86, kPath, kPath),
	s("unlink", 87, kPath),
	s("symlink", 88, kPath, kPath),
	s("readlink", 89, kPath, kPtr, kLen),
	s("chmod", 90, kPath, kFlags),
	s("fchmod", 91, kFD, kFlags),
	s("chown", 92, kPath, kInt, kInt),
	s("fchown", 93, kFD, kInt, kInt),
	s("lchown", 94, kPath, kInt, kInt),
	s("umask", 95, kFlags),
	s("gettimeofday", 96, kPtr, kPtr),
	s("getrlimit", 97, kSmall, kPtr),
	s("getrusage", 98, kSmall, kPtr),
	s("sysinfo", 99, kPtr),
	s("times", 100, kPtr),
	s("getuid", 102),
	s("getgid", 104),
	s("geteuid", 107),
	s("getegid", 108),
	s("getppid", 110),
	s("statfs", 137, kPath, kPtr),
	s("fstatfs", 138, kFD, kPtr),
	s("prctl", 157, kSmall, kInt, kInt, kInt, kInt),
	s("arch_prctl", 158, kSmall, kPtr),
	s("sync", 162),
	s("sethostname", 170, kPtr, kLen),
	s("gettid", 186),
	s("tkill", 200, kSelf, kSig),
	s("futex", 202, kPtr, kSmall, kInt, kTS, kPtr, kInt),
	s("sched_setaffinity", 203, kSelf, kLen, kPtr),
	s("sched_getaffinity", 204, kSelf, kLen, kPtr),
	s("epoll_create", 213, kInt),
	s("getdents64", 217, kFD, kPtr, kLen),
	s("fadvise64", 221, kFD, kInt, kInt, kSmall),
	s("timer_create", 222, kSmall, kTS, kPtr),
	s("timer_settime", 223, kSmall, kFlags, kTS, kPtr),
	s("timer_gettime", 224, kSmall, kPtr),
	s("timer_getoverrun", 225, kSmall),
	s("timer_delete", 226, kSmall),
	s("clock_gettime", 228, kSmall, kPtr),
	s("clock_getres", 229, kSmall, kPtr),
	s("clock_nanosleep", 230, kSmall, kSmall, kTS, kPtr),
	s("epoll_wait", 232, kFD, kPtr, kSmall, kZero),
	s("epoll_ctl", 233, kFD, kSmall, kFD, kPtr),
	s("tgkill", 234, kSelf, kSelf, kSig),
	s("openat", 257, kFD, kPath, kFlags, kInt),
	s("mkdirat", 258, kFD, kPath, kFlags),
	s("fchownat", 260, kFD, kPath, kInt, kInt, kFlags),
	s("newfstatat", 262, kFD, kPath, kPtr, kFlags),
	s("unlinkat", 263, kFD, kPath, kFlags),
	s("renameat", 264, kFD, kPath, kFD, kPath),
	s("linkat", 265, kFD, kPath, kFD, kPath, kFlags),
	s("symlinkat", 266, kPath, kFD, kPath),
	s("readlinkat", 267, kFD, kPath, kPtr, kLen),
	s("fchmodat", 268, kFD, kPath, kFlags, kFlags),
	s("faccessat", 269, kFD, kPath, kFlags, kFlags),
	s("splice", 275, kFD, kPtr, kFD, kPtr, kLen, kFlags),
	s("utimensat", 280, kFD, kPath, kPtr, kFlags),
	s("epoll_pwait", 281, kFD, kPtr, kSmall, kZero, kTS, kSmall),
	s("eventfd", 284, kInt),
	s("fallocate", 285, kFD, kFlags, kInt, kInt),
	s("accept4", 288, kFD, kPtr, kPtr, kFlags),
	s("eventfd2", 290, kInt, kFlags),
	s("epoll_create1", 291, kFlags),
	s("dup3", 292, kFD, kNewFD, kFlags),
	s("pipe2", 293, kPtr, kFlags),
	s("preadv", 295, kFD, kPtr, kSmall, kInt),
	s("pwritev", 296, kFD, kPtr, kSmall, kInt),
	s("prlimit64", 302, kSelf, kSmall, kTS, kPtr),
	s("syncfs", 306, kFD),
	s("renameat2", 316, kFD, kPath, kFD, kPath, kFlags),
	s("getrandom", 318, kPtr, kLen, kFlags),
	s("membarrier", 324, kSmall, kFlags, kInt),
	s("copy_file_range", 326, kFD, kPtr, kFD, kPtr, kLen, kFlags),
	s("statx", 332, kFD, kPath, kFlags, kFlags, kPtr),
	s("rseq", 334, kTS, kLen, kFlags, kInt),
	s("close_range", 436, kNewFD, kNewFD, kFlags),
	s("faccessat2", 439, kFD, kPath, kFlags, kFlags),
	s("epoll_pwait2", 441, kFD, kPtr, kSmall, kTS, kTS, kSmall),
}

// never are numbers -set all leaves out: they end, stop or block the
// fuzzer, or change the process in ways the Go runtime cannot survive,
// whether the kernel serves them today or not.
var never = map[uintptr]bool{
	7: true, 11: true, 10: true, 12: true, 13: true, 14: true, 15: true, 23: true, 25: true, 28: true,
	34: true, 56: true, 57: true, 58: true, 59: true, 60: true, 61: true, 62: true, 130: true,
	128: true, 129: true, 131: true, 158: true, 200: true, 202: true, 218: true, 231: true,
	234: true, 247: true, 270: true, 271: true, 297: true, 322: true, 334: true, 435: true,
	35: true, 230: true, 232: true, 281: true, 441: true, 0: true, 1: true, 3: true, 9: true,
	33: true, 292: true, 436: true, 70: true, 243: true, 208: true, 64: true, 65: true, 66: true,
	101: true, 169: true, 310: true, 311: true, 165: true, 166: true, 167: true, 168: true,
	155: true, 161: true, 163: true, 175: true, 176: true, 313: true, 317: true, 320: true,
	321: true, 323: true, 425: true, 426: true, 427: true, 434: true, 438: true, 424: true,
	112: true, 109: true, 105: true, 106: true, 113: true, 114: true, 117: true, 119: true,
	150: true, 151: true, 152: true, 149: true, 325: true, 26: true, 216: true, 272: true,
	308: true, 298: true, 164: true, 227: true, 159: true, 305: true, 160: true,
	221: true, 213: true, 291: true,
}

type fuzzer struct {
	r       *rand.Rand
	verbose bool
	pid     int
	tid     int
	calls   int
	last    atomic.Pointer[string]
	// Only calls numbered from..to are made (-exec); the others are
	// generated all the same, so that a range of a seed's sequence can be
	// bisected.
	from, to int
}

// ptr picks a hostile or valid pointer for n bytes (n may be 0: unknown).
func (f *fuzzer) ptr() (uintptr, string) {
	scratch := arenaTop
	scratchLen := arena + uintptr(arenaPages*page) - scratch
	switch f.r.IntN(16) {
	case 0:
		return 0, "null"
	case 1:
		return 0xffff800000000000, "kernel"
	case 2:
		o := uintptr(f.r.IntN(8))
		return 0x0000800000000000 - o, fmt.Sprintf("noncanon-%d", o)
	case 3:
		return unmapped, "unmapped"
	case 4:
		o := uintptr(f.r.IntN(64))
		return textAddr + o, fmt.Sprintf("text+%d", o)
	case 5:
		o := uintptr(f.r.IntN(len(rodataBlob) / 2))
		return rodataAddr + o, fmt.Sprintf("rodata+%d", o)
	case 6:
		o := uintptr(f.r.IntN(page))
		return roPage + o, fmt.Sprintf("ro+%d", o)
	case 7, 8:
		// Straddling the arena's guard page.
		o := uintptr(1 + f.r.IntN(64))
		return arena + uintptr(arenaPages*page) - o, fmt.Sprintf("straddle-%d", o)
	case 9:
		o := uintptr(1 + 2*f.r.IntN(int(scratchLen/2)-8))
		return scratch + o, fmt.Sprintf("arena+%d", scratch+o-arena)
	case 10:
		return ^uintptr(0) - uintptr(f.r.IntN(16)), "minus"
	case 11:
		return 0xffffffff81000000, "kernel2"
	case 12:
		return 0x00007ffffffff000 + uintptr(f.r.IntN(page)), "top"
	default:
		o := uintptr(f.r.IntN(int(scratchLen)-512)) &^ 7
		return scratch + o, fmt.Sprintf("arena+%d", scratch+o-arena)
	}
}

func (f *fuzzer) integer() uintptr {
	switch f.r.IntN(10) {
	case 0:
		return 0
	case 1:
		return ^uintptr(0)
	case 2:
		return uintptr(f.r.IntN(16))
	case 3:
		return 1 << uint(f.r.IntN(64))
	case 4:
		return uintptr(f.r.Uint64())
	case 5:
		return uintptr(f.r.Uint32())
	case 6:
		return 0x7fffffff
	case 7:
		return 0x80000000
	case 8:
		return ^uintptr(0) - uintptr(f.r.IntN(4096))
	default:
		return uintptr(f.r.IntN(4097))
	}
}

func (f *fuzzer) length() uintptr {
	switch f.r.IntN(8) {
	case 0:
		return 0
	case 1:
		return ^uintptr(0)
	case 2:
		return 1 << 62
	case 3:
		return uintptr(f.r.IntN(128))
	case 4:
		return page + uintptr(f.r.IntN(3*page))
	case 5:
		return 0x7fffffff
	case 6:
		return 1 << uint(f.r.IntN(40))
	default:
		return uintptr(f.r.IntN(600))
	}
}

// fill writes random bytes and plausible structures into the scratch part
// of the arena, so that pointers into it find iovecs, msghdrs, sockaddrs,
// epoll events and timespecs with hostile fields.
func (f *fuzzer) fill() {
	scratch := arenaTop
	n := int(arena + uintptr(arenaPages*page) - scratch)
	words := unsafe.Slice((*uint64)(unsafe.Pointer(scratch)), n/8)
	for i := range words {
		switch f.r.IntN(8) {
		case 0, 1:
			p, _ := f.ptr()
			words[i] = uint64(p)
		case 2:
			words[i] = uint64(f.length())
		case 3:
			words[i] = uint64(f.r.IntN(64))
		case 4:
			// sockaddr_in 127.0.0.1 or AF_UNIX
			if f.r.IntN(2) == 0 {
				words[i] = 0x0100007f_5000_0002
			} else {
				words[i] = 0x7a7a2f706d742f01
			}
		default:
			words[i] = f.r.Uint64()
		}
	}
}

func (f *fuzzer) arg(kind int) (uintptr, string) {
	switch kind {
	case kFD:
		if f.r.IntN(6) == 0 && len(created) > 0 {
			fd := created[f.r.IntN(len(created))]
			return uintptr(fd), strconv.Itoa(fd)
		}
		e := fds[f.r.IntN(len(fds))]
		return uintptr(e.fd), "fd:" + e.name
	case kPtr:
		return f.ptr()
	case kLen:
		v := f.length()
		return v, fmt.Sprintf("%#x", v)
	case kPath:
		if f.r.IntN(4) == 0 {
			return f.ptr()
		}
		i := f.r.IntN(len(paths))
		return symbols["path:"+strconv.Itoa(i)], "path:" + strconv.Itoa(i)
	case kFlags:
		var v uintptr
		switch f.r.IntN(4) {
		case 0:
			v = 0
		case 1:
			v = uintptr(f.r.Uint32())
		case 2:
			v = 1 << uint(f.r.IntN(32))
		default:
			v = uintptr(f.r.Uint32()) & uintptr(f.r.Uint32()) & 0xfff
		}
		return v, fmt.Sprintf("%#x", v)
	case kSmall:
		var v uintptr
		if f.r.IntN(8) == 0 {
			v = f.integer()
		} else {
			v = uintptr(f.r.IntN(64))
		}
		return v, fmt.Sprintf("%#x", v)
	case kSig:
		sigs := []uintptr{0, 23, 28, 17, 65, 1000, ^uintptr(0), 10, 12}
		v := sigs[f.r.IntN(len(sigs))]
		return v, fmt.Sprintf("%#x", v)
	case kTS:
		switch f.r.IntN(7) {
		case 0:
			return 0, "null"
		case 1:
			return 0xffff800000000000, "kernel"
		case 2:
			return unmapped, "unmapped"
		case 3:
			return arena + uintptr(arenaPages*page) - 8, "straddle-8"
		case 4:
			return symbols["ts:zero"] + 1, "ts:zero+1"
		case 5:
			return symbols["ts:zero"], "ts:zero"
		default:
			return symbols["ts:small"], "ts:small"
		}
	case kZero:
		return 0, "0"
	case kSelf:
		switch f.r.IntN(6) {
		case 0:
			return 0, "0"
		case 1:
			return uintptr(f.pid), "pid"
		case 2:
			return uintptr(f.tid), "tid"
		case 3:
			return ^uintptr(0), "minus1"
		case 4:
			return 1 << 30, "0x40000000"
		default:
			v := uintptr(f.r.IntN(64))
			return v, fmt.Sprintf("%#x", v)
		}
	case kAddr:
		switch f.r.IntN(8) {
		case 0:
			return 0, "null"
		case 1:
			return 0xffff800000000000, "kernel"
		case 2:
			return 0x0000800000000000, "noncanon"
		case 3:
			o := uintptr(1 + f.r.IntN(page-1))
			return victim + o, fmt.Sprintf("victim+%d", o)
		case 4:
			return ^uintptr(0) &^ (page - 1), "minuspage"
		default:
			o := uintptr(f.r.IntN(victimPgs)) * page
			return victim + o, fmt.Sprintf("victim+%d", o)
		}
	case kVLen:
		switch f.r.IntN(6) {
		case 0:
			return 0, "0"
		case 1:
			v := uintptr(1 + f.r.IntN(page))
			return v, fmt.Sprintf("%#x", v)
		default:
			v := uintptr(1+f.r.IntN(victimPgs)) * page
			return v, fmt.Sprintf("%#x", v)
		}
	case kNewFD:
		switch f.r.IntN(5) {
		case 0:
			e := fds[f.r.IntN(len(fds))]
			return uintptr(e.fd), "fd:" + e.name
		case 1:
			return ^uintptr(0), "minus1"
		case 2:
			return 0x7fffffff, "0x7fffffff"
		default:
			v := uintptr(900 + f.r.IntN(100))
			return v, strconv.Itoa(int(v))
		}
	case kSockaddr:
		if f.r.IntN(2) == 0 {
			return f.ptr()
		}
		names := []string{"sa:in", "sa:in-0", "sa:unix", "sa:in6", "sa:bad"}
		n := names[f.r.IntN(len(names))]
		return symbols[n], n
	}
	v := f.integer()
	return v, fmt.Sprintf("%#x", v)
}

// fixup keeps a generated call inside what the fuzzer can survive: what
// it changes is the fuzzer's own business, and Linux would let a program
// kill itself the same way.
func fixup(c sysc, a *[6]uintptr) {
	switch c.name {
	case "munmap", "mprotect", "madvise", "mincore":
		// Within the victim region and its own guard pages only.
		end := victim + uintptr((victimPgs+1)*page)
		if a[0] >= victim && a[0] < end && a[0]+a[1] > end {
			a[1] = end - a[0]
		}
	case "sendfile", "copy_file_range":
		// A copy of gigabytes from /dev/urandom is slow, not wrong.
		n := 3
		if c.name == "copy_file_range" {
			n = 4
		}
		a[n] = min(a[n], 1<<20)
	case "mremap":
		// The source, and a MREMAP_FIXED destination, within the victim
		// region and its guard page only; growing in place takes only
		// free pages, and a move goes to fresh ones.
		end := victim + uintptr((victimPgs+1)*page)
		if a[0] >= victim && a[0] < end && a[0]+a[1] > end {
			a[1] = end - a[0]
		}
		if a[3]&2 != 0 && a[4] >= victim && a[4] < end && a[4]+a[2] > end {
			a[2] = end - a[4]
		}
	case "mmap":
		a[3] &^= syscall.MAP_FIXED // never over the runtime's memory
		a[3] |= syscall.MAP_PRIVATE
		a[3] &^= 0x100 // MAP_GROWSDOWN
	case "rt_sigaction":
		// Only queries, or new actions the kernel cannot read.
		if a[1] == symbols["ts:small"] || a[1] == symbols["ts:zero"] || a[1] == symbols["ts:zero"]+1 {
			a[1] = 0
		}
	case "rt_sigprocmask":
		a[0] = 0 // with a hostile or empty set
		if a[1] != 0 && a[1] != 0xffff800000000000 && a[1] != unmapped {
			a[1] = symbols["ts:zero"]
		}
	case "prlimit64":
		if a[2] == symbols["ts:small"] || a[2] == symbols["ts:zero"] || a[2] == symbols["ts:zero"]+1 {
			a[2] = 0
		}
	case "setitimer":
		if a[1] == symbols["ts:small"] {
			a[1] = symbols["ts:zero"]
		}
	case "ioctl":
		if a[1] == 0x5421 { // FIONBIO
			a[2] = symbols["one"]
		}
	case "getrandom":
		a[2] |= 1 // GRND_NONBLOCK
	case "fcntl":
		if a[1] == syscall.F_SETFL {
			a[2] |= syscall.O_NONBLOCK
		}
		if a[1] == syscall.F_SETLKW {
			a[1] = syscall.F_SETLK
		}
	case "flock":
		a[1] |= syscall.LOCK_NB
	case "open", "openat":
		a[len(c.args)-2] |= syscall.O_NONBLOCK
	case "socket", "socketpair":
		a[1] |= syscall.SOCK_NONBLOCK
	case "accept4":
		a[3] |= syscall.SOCK_NONBLOCK
	case "pipe2":
		a[1] |= syscall.O_NONBLOCK
	case "eventfd2":
		a[1] |= syscall.O_NONBLOCK
	case "recvfrom", "recvmsg", "sendto", "sendmsg":
		a[3-btoi(c.name == "recvmsg" || c.name == "sendmsg")] |= syscall.MSG_DONTWAIT
	case "futex":
		op := a[1] &^ 128
		a[1] = op | 128 // private only
		switch op {
		case 0, 9, 6, 11, 13: // waits and PI locks: always with a timeout
			if a[3] != symbols["ts:small"] && a[3] != symbols["ts:zero"] {
				a[3] = symbols["ts:small"]
			}
			if op == 9 {
				a[5] |= 1
			}
		}
	case "clock_nanosleep":
		a[0] &= 15
	case "arch_prctl":
		a[0] = 0x1003 + uintptr(a[0]&1)*1 // ARCH_GET_FS or ARCH_GET_GS (0x1004)
	case "prctl":
		// refused today; keep away from PR_SET_SECCOMP/NO_NEW_PRIVS (22, 38), PR_SET_PDEATHSIG (1)
		if a[0] == 22 || a[0] == 38 || a[0] == 1 || a[0] == 4 {
			a[0] = 16
		}
	case "close_range":
		if a[0] < 900 {
			a[0] = 900
		}
	case "dup2", "dup3":
		if a[1] < 900 {
			// Only pool descriptors, and never a runtime one.
			ok := false
			for _, e := range fds {
				if uintptr(e.fd) == a[1] {
					ok = true
				}
			}
			if !ok {
				a[1] = 901
			}
		}
	case "timer_create":
		if a[1] == 0 || a[1] == symbols["ts:small"] || a[1] == symbols["ts:zero"]+1 || a[1] == symbols["ts:zero"] {
			a[1] = symbols["sev:none"]
		}
	case "kill", "tgkill", "tkill":
		// kill(0 or -1, sig) reaches the whole process: harmless signals only, which kSig gives.
	case "epoll_pwait2":
		if a[3] != symbols["ts:zero"] {
			a[3] = 0xffff800000000000
		}
	case "epoll_pwait", "epoll_wait":
		a[3] = 0
	case "nanosleep":
	case "rseq":
		a[0] = 0
	case "sethostname":
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// returnsFD says whether a successful result is a new descriptor.
var returnsFD = map[string]bool{"open": true, "openat": true, "creat": true, "dup": true, "socket": true,
	"accept": true, "accept4": true, "epoll_create": true, "epoll_create1": true, "eventfd": true, "eventfd2": true}

func (f *fuzzer) do(c sysc, a [6]uintptr, desc string) {
	if f.verbose {
		fmt.Printf("sysfuzz: call %d: %s\n", f.calls, desc)
	}
	f.last.Store(&desc)
	nCreated := len(created)
	r, _, e := syscall.Syscall6(c.nr, a[0], a[1], a[2], a[3], a[4], a[5])
	f.calls++
	if e == 0 {
		if returnsFD[c.name] && int(r) > 2 {
			created = append(created, int(r))
		}
		if c.name == "fcntl" && (a[1] == syscall.F_DUPFD || a[1] == syscall.F_DUPFD_CLOEXEC) {
			created = append(created, int(r))
		}
		if c.name == "mmap" {
			mapped = append(mapped, [2]uintptr{r, a[1]})
		}
		if c.name == "pipe" || c.name == "pipe2" || c.name == "socketpair" {
			p := a[0]
			if c.name == "socketpair" {
				p = a[3]
			}
			fdp := (*[2]int32)(unsafe.Pointer(p))
			created = append(created, int(fdp[0]), int(fdp[1]))
		}
		// Descriptors the fuzzer reads must not block it.
		for _, fd := range created[nCreated:] {
			fl, _, e := syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFL, 0)
			if e == 0 {
				syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_SETFL, fl|syscall.O_NONBLOCK)
			}
		}
	}
}

var mapped [][2]uintptr

var setupReported = map[string]bool{}

func (f *fuzzer) fuzzOne(set []sysc) {
	c := set[f.r.IntN(len(set))]
	var a [6]uintptr
	var names [6]string
	n := len(c.args)
	if c.args == nil && c.name[0] == '#' {
		n = 6
	}
	for i := 0; i < n; i++ {
		kind := kInt
		if c.args != nil {
			kind = c.args[i]
		} else if f.r.IntN(2) == 0 {
			kind = kPtr
		}
		a[i], names[i] = f.arg(kind)
	}
	fixup(c, &a)
	var b strings.Builder
	b.WriteString(c.name)
	for i := 0; i < n; i++ {
		b.WriteByte(' ')
		if a[i] == symbols[names[i]] || strings.HasPrefix(names[i], "arena+") || strings.HasPrefix(names[i], "victim+") ||
			strings.HasPrefix(names[i], "text+") || strings.HasPrefix(names[i], "rodata+") || strings.HasPrefix(names[i], "ro+") ||
			strings.HasPrefix(names[i], "straddle-") || names[i] == fmt.Sprintf("%#x", a[i]) || names[i] == strconv.Itoa(int(a[i])) {
			b.WriteString(names[i])
		} else {
			fmt.Fprintf(&b, "%#x", a[i])
		}
	}
	if f.calls < f.from || f.calls > f.to {
		f.calls++ // generated, as with every seed, but not made
		return
	}
	f.do(c, a, b.String())
}

// cleanup closes what the calls made, remaps the victim region and
// refills the scratch structures.
func (f *fuzzer) cleanup() {
	for _, fd := range created {
		isPool := false
		for _, e := range fds {
			if e.fd == fd {
				isPool = true
			}
		}
		if !isPool && fd > 2 {
			syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(fd), 0, 0)
		}
	}
	created = created[:0]
	for _, m := range mapped {
		syscall.RawSyscall(syscall.SYS_MUNMAP, m[0], m[1], 0)
	}
	mapped = mapped[:0]
	r, _, e := syscall.RawSyscall6(syscall.SYS_MMAP, victim-page, uintptr((victimPgs+2)*page), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_FIXED, ^uintptr(0), 0)
	if e != 0 || r != victim-page {
		die("remapping the victim region: %v", e)
	}
	for w := uintptr(1); w <= 2; w++ {
		syscall.RawSyscall(syscall.SYS_SETITIMER, w, symbols["ts:zero"], 0)
	}
	for id := uintptr(0); id < 64; id++ {
		syscall.RawSyscall(syscall.SYS_TIMER_DELETE, id, 0, 0)
	}
	syscall.RawSyscall(syscall.SYS_CHDIR, symbols["path:5"], 0, 0)
	setupFDs()
	// The arena and guard must be as they were.
	syscall.RawSyscall(syscall.SYS_MPROTECT, arena, uintptr(arenaPages*page), syscall.PROT_READ|syscall.PROT_WRITE)
	f.fill()
}

// Workers: goroutines doing known work whose state the fuzzing thread
// must never disturb.
type worker struct {
	progress atomic.Uint64
	bad      atomic.Uint64
}

func (w *worker) run(id int) {
	buf := make([]uint64, 4096)
	var gen uint64
	for {
		gen++
		for i := range buf {
			buf[i] = gen*uint64(id+1)*0x9e3779b97f4a7c15 + uint64(i)
		}
		runtime.Gosched()
		for i := range buf {
			if buf[i] != gen*uint64(id+1)*0x9e3779b97f4a7c15+uint64(i) {
				w.bad.Add(1)
			}
		}
		m := map[int]string{}
		for i := 0; i < 64; i++ {
			m[i] = strconv.Itoa(i)
		}
		for i := 0; i < 64; i++ {
			if m[i] != strconv.Itoa(i) {
				w.bad.Add(1)
			}
		}
		w.progress.Add(1)
		if gen%16 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
}

func setupStructs() {
	put := func(name string, words ...uint64) {
		a := arenaAlloc(len(words) * 8)
		copy(unsafe.Slice((*uint64)(unsafe.Pointer(a)), len(words)), words)
		symbols[name] = a
	}
	put("ts:zero", 0, 0, 0, 0)
	put("one", 1)
	put("ts:small", 0, 1000, 0, 1000)           // also an itimerspec/itimerval of 1µs
	put("sev:none", 0, 1<<32, 0, 0, 0, 0, 0, 0) // sigev_notify SIGEV_NONE (1)
	put("sa:in", 0x0100007f_5000_0002, 0)
	put("sa:in-0", 0x0100007f_0000_0002, 0)
	put("sa:unix", 0x7a7a2f706d742f01, 0x66667a7a75662f73&^0xff00000000000000, 0)
	put("sa:in6", 0x0000_5000_000a, 0, 1<<56, 0)
	put("sa:bad", 0xffff, ^uint64(0), ^uint64(0), ^uint64(0))
}

func parseCall(line string) (sysc, [6]uintptr, error) {
	var a [6]uintptr
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return sysc{}, a, fmt.Errorf("empty call")
	}
	var c sysc
	for _, x := range served {
		if x.name == fields[0] {
			c = x
		}
	}
	if c.name == "" {
		n, err := strconv.ParseUint(strings.TrimPrefix(fields[0], "#"), 0, 64)
		if err != nil {
			return c, a, fmt.Errorf("unknown call %q", fields[0])
		}
		c = sysc{name: fields[0], nr: uintptr(n)}
	}
	for i, t := range fields[1:] {
		if i >= 6 {
			break
		}
		base, off := t, uintptr(0)
		neg := false
		if j := strings.IndexAny(t, "+-"); j > 0 && !strings.HasPrefix(t, "fd:") && !strings.HasPrefix(t, "path:") {
			base = t[:j]
			o, err := strconv.ParseUint(t[j+1:], 0, 64)
			if err != nil {
				return c, a, fmt.Errorf("argument %q", t)
			}
			off, neg = uintptr(o), t[j] == '-'
		}
		if base == "straddle" {
			base, neg = "guard", true
		}
		if v, ok := symbols[base]; ok {
			if neg {
				a[i] = v - off
			} else {
				a[i] = v + off
			}
			continue
		}
		if v, err := strconv.ParseInt(t, 0, 64); err == nil {
			a[i] = uintptr(v)
			continue
		}
		v, err := strconv.ParseUint(t, 0, 64)
		if err != nil {
			return c, a, fmt.Errorf("argument %q", t)
		}
		a[i] = uintptr(v)
	}
	return c, a, nil
}

// Main runs the fuzzer with the command line's flags.
func Main() {
	seed := flag.Uint64("seed", 1, "random seed")
	count := flag.Int("count", 10000, "system calls to make")
	batch := flag.Int("batch", 200, "calls between sanity checks")
	set := flag.String("set", "served", "served: the calls the kernel serves; all: also every other number 0-460 not known to end or block the fuzzer")
	only := flag.String("only", "", "comma-separated call names to restrict to")
	skip := flag.String("skip", "", "comma-separated call names to leave out")
	verbose := flag.Bool("v", false, "print every call before making it")
	call := flag.String("call", "", "make this one call (NAME ARG...) and exit")
	exec := flag.String("exec", "", "FROM-TO: make only the calls so numbered (from 0), to bisect a seed")
	hang := flag.Duration("hang", 10*time.Second, "report a call that takes longer than this as a hang")
	flag.Parse()

	runtime.LockOSThread()
	setupMemory()
	setupStructs()
	setupFDs()
	f := &fuzzer{r: rand.New(rand.NewPCG(*seed, 0x5eed)), verbose: *verbose, pid: os.Getpid(), tid: syscall.Gettid()}
	f.fill()
	f.to = int(^uint(0) >> 1)
	if *exec != "" {
		a, b, _ := strings.Cut(*exec, "-")
		var err1, err2 error
		f.from, err1 = strconv.Atoi(a)
		f.to, err2 = strconv.Atoi(b)
		if err1 != nil || err2 != nil {
			die("-exec %q: want FROM-TO", *exec)
		}
	}

	if *call != "" {
		c, a, err := parseCall(*call)
		if err != nil {
			die("%v", err)
		}
		fmt.Printf("sysfuzz: call: %s = %#x %#x %#x %#x %#x %#x\n", *call, a[0], a[1], a[2], a[3], a[4], a[5])
		r, _, e := syscall.Syscall6(c.nr, a[0], a[1], a[2], a[3], a[4], a[5])
		fmt.Printf("sysfuzz: result %#x errno %d (%v)\n", r, e, e)
		// What a batch's end does: close what the call made, rebuild the
		// descriptor pool (closing its sockets), then let the netstack run.
		f.cleanup()
		time.Sleep(100 * time.Millisecond)
		checkMemory()
		fmt.Println("sysfuzz: 1 calls ok")
		return
	}

	var calls []sysc
	for _, c := range served {
		calls = append(calls, c)
	}
	if *set == "all" {
		have := map[uintptr]bool{}
		for _, c := range served {
			have[c.nr] = true
		}
		for nr := uintptr(0); nr <= 460; nr++ {
			if !have[nr] && !never[nr] {
				calls = append(calls, sysc{name: "#" + strconv.Itoa(int(nr)), nr: nr})
			}
		}
	}
	if *only != "" {
		names := strings.Split(*only, ",")
		calls = slices.DeleteFunc(calls, func(c sysc) bool { return !slices.Contains(names, c.name) })
	}
	if *skip != "" {
		names := strings.Split(*skip, ",")
		calls = slices.DeleteFunc(calls, func(c sysc) bool { return slices.Contains(names, c.name) })
	}
	if len(calls) == 0 {
		die("no calls to make")
	}

	workers := make([]*worker, 2)
	for i := range workers {
		workers[i] = &worker{}
		go workers[i].run(i)
	}
	// The watchdog: a call that does not return is a hang.
	var done atomic.Int64
	go func() {
		last, since := int64(-1), time.Now()
		for {
			time.Sleep(500 * time.Millisecond)
			d := done.Load()
			if d != last {
				last, since = d, time.Now()
				continue
			}
			if time.Since(since) > *hang {
				p := f.last.Load()
				desc := "?"
				if p != nil {
					desc = *p
				}
				fmt.Printf("sysfuzz: FAIL: HANG: seed %d call %d did not return in %v: %s\n", *seed, d, *hang, desc)
				os.Exit(3)
			}
		}
	}()

	fmt.Printf("sysfuzz: seed %d, %d calls, %d system calls in the set\n", *seed, *count, len(calls))
	start := time.Now()
	for i := 0; i < *count; {
		prog := make([]uint64, len(workers))
		for j, w := range workers {
			prog[j] = w.progress.Load()
		}
		for k := 0; k < *batch && i < *count; k++ {
			f.fuzzOne(calls)
			i++
			done.Store(int64(i))
		}
		f.cleanup()
		checkMemory()
		// Workers must still make progress, and correctly.
		deadline := time.Now().Add(5 * time.Second)
		for j, w := range workers {
			for w.progress.Load() == prog[j] {
				if time.Now().After(deadline) {
					die("seed %d: after call %d worker %d made no progress", *seed, i, j)
				}
				time.Sleep(time.Millisecond)
			}
			if b := w.bad.Load(); b != 0 {
				die("seed %d: after call %d worker %d saw %d corrupted values", *seed, i, j, b)
			}
		}
		if tid := syscall.Gettid(); tid != f.tid {
			die("the fuzzing goroutine moved from thread %d to %d", f.tid, tid)
		}
		if i%(*batch*10) == 0 || i == *count {
			fmt.Printf("sysfuzz: %d calls (%v)\n", i, time.Since(start).Round(time.Millisecond))
		}
	}
	fmt.Printf("sysfuzz: %d calls ok\n", f.calls)
}

func checkMemory() {
	if sum(textAddr, 256) != textSum {
		die("text changed")
	}
	if sum(rodataAddr, len(rodataBlob)) != rodataSum {
		die("rodata changed")
	}
	if sum(roPage, page) != roSum {
		die("the read-only page changed")
	}
}
