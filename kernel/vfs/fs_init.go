package vfs

import (
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/memfs"
	"github.com/unigo-os/unigo/kernel/platform"
)

// The root filesystem at boot: memfs's standard tree plus the files the Go
// runtime and standard library read, with the content Linux would give.
// Device nodes are ordinary empty memfs files whose inodes are recognised
// at open time (see openDevice).

var devInodes struct {
	null, zero, random, urandom memfs.Inode
}

// staticFiles are read-only files (content in string constants, which
// live forever as AddStatic requires).
var staticFiles = [...]struct{ path, data string }{
	{"/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", "2097152\n"},
	{"/sys/kernel/mm/transparent_hugepage/enabled", "always [madvise] never\n"},
	{"/etc/hostname", "unigo\n"},
	{"/etc/hosts", "127.0.0.1\tlocalhost unigo\n::1\tlocalhost ip6-localhost ip6-loopback\n"},
	{"/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"},
	{"/etc/group", "root:x:0:\n"},
	{"/etc/resolv.conf", "# unigo: no name servers configured\n"},
	{"/etc/nsswitch.conf", "hosts: files dns\n"},
	{"/proc/sys/kernel/hostname", "unigo\n"},
	{"/proc/sys/net/core/somaxconn", "4096\n"},
	{"/proc/sys/fs/pipe-max-size", "1048576\n"},
	{"/proc/self/status", "Name:\tinit\nUmask:\t0022\nState:\tR (running)\nTgid:\t1\nPid:\t1\nPPid:\t0\n" +
		"Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\n"},
	{"/proc/self/cmdline", "/init\x00"},
	{"/proc/self/comm", "init\n"},
	{"/proc/self/stat", "1 (init) R 0 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 0 0 0\n"},
}

// fsSetup builds the tree. Caller holds FSLock.
func fsSetup() {
	now := platform.Walltime()
	if err := memfs.Init(now); err != 0 {
		kctx.Print("unigo: memfs: cannot initialise the root filesystem\n")
		return
	}
	cwd = memfs.Root()
	memfs.Ref(cwd)
	for i := range staticFiles {
		memfs.AddStaticString(staticFiles[i].path, staticFiles[i].data, 0o444, now)
	}
	// /proc/cmdline: the boot command line, as Linux shows it (the
	// netstack reads its unigo.ip/gw/dns parameters there). The buffer
	// is static and keeps a byte free for the newline.
	kctx.Cmdline[kctx.CmdlineLen] = '\n'
	memfs.AddStatic(kctx.StringBytes("/proc/cmdline"), kctx.Cmdline[:kctx.CmdlineLen+1], 0o444, now)
	memfs.MkdirAll(kctx.StringBytes("/dev/shm"), 0o1777, now)
	exeFileHook(now)
	memfs.Symlink(kctx.StringBytes("/init"), memfs.Root(), kctx.StringBytes("/proc/self/exe"), now)
	memfs.Symlink(kctx.StringBytes("/"), memfs.Root(), kctx.StringBytes("/proc/self/cwd"), now)
	memfs.Symlink(kctx.StringBytes("/proc/self/fd/0"), memfs.Root(), kctx.StringBytes("/dev/stdin"), now)
	memfs.Symlink(kctx.StringBytes("/proc/self/fd/1"), memfs.Root(), kctx.StringBytes("/dev/stdout"), now)
	memfs.Symlink(kctx.StringBytes("/proc/self/fd/2"), memfs.Root(), kctx.StringBytes("/dev/stderr"), now)
	devInodes.null = devNode("/dev/null", now)
	devInodes.zero = devNode("/dev/zero", now)
	devInodes.random = devNode("/dev/random", now)
	devInodes.urandom = devNode("/dev/urandom", now)
	procFilesInit(now)
}

// devNode creates an empty file standing for a device and returns its
// inode (kept alive by its link).
func devNode(path string, now int64) memfs.Inode {
	ino, err := memfs.Open(memfs.Root(), kctx.StringBytes(path), oCreat|ORdwr, 0o666, now)
	if err != 0 {
		return 0
	}
	memfs.Unref(ino)
	return ino
}

// deviceKind returns the ofile kind for an opened inode: a device kind for
// the device stand-ins, else fdFile or fdDir.
func deviceKind(ino memfs.Inode) uint32 {
	switch {
	case ino == 0:
	case ino == devInodes.null:
		return fdDevNull
	case ino == devInodes.zero:
		return FdDevZero
	case ino == devInodes.random, ino == devInodes.urandom:
		return fdDevRand
	}
	if memfs.IsDir(ino) {
		return fdDir
	}
	return FdFile
}

// deviceMode returns st_mode and st_rdev for a device stand-in, or 0.
func deviceMode(ino memfs.Inode) (uint32, uint64) {
	switch {
	case ino == 0:
	case ino == devInodes.null:
		return 0o20666, 1<<8 | 3
	case ino == devInodes.zero:
		return 0o20666, 1<<8 | 5
	case ino == devInodes.random:
		return 0o20666, 1<<8 | 8
	case ino == devInodes.urandom:
		return 0o20666, 1<<8 | 9
	}
	return 0, 0
}

func memfsSize(obj uintptr) int64 { return memfs.Size(memfs.Inode(obj)) }
