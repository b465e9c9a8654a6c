package memfs

import "unsafe"

// Root returns the root directory.
func Root() Inode { return Inode(fs.root) }

// stdDirs is the tree Init creates, parents first.
var stdDirs = [...]struct {
	path string
	perm uint32
}{
	{"/tmp", 0o1777},
	{"/dev", 0o755},
	{"/proc", 0o555},
	{"/sys", 0o555},
	{"/etc", 0o755},
	{"/root", 0o700},
	{"/home", 0o755},
	{"/var", 0o755},
	{"/var/tmp", 0o1777},
}

// Init creates an empty filesystem with the standard tree (/tmp, /dev,
// /proc, /sys, /etc, /root, /home, /var, /var/tmp) and makes it current.
// It is meant to run once at boot; calling it again starts a new tree and
// abandons the old one without freeing it (tests do this).
func Init(now int64) Errno {
	fs.root, fs.nextIno, fs.inodes = 0, 0, 0
	fs.dataPages, fs.indexPages, fs.metaBytes = 0, 0, 0
	root := newInode(ModeDir|0o755, now)
	if root == 0 {
		return ENOSPC
	}
	r := ip(root)
	r.nlink = 2
	r.parent = root
	r.refs = 1 // never freed
	fs.root = root
	for i := range stdDirs {
		if err := Mkdir(Root(), stringBytes(stdDirs[i].path), stdDirs[i].perm, now); err != 0 {
			return err
		}
	}
	return 0
}

// stringBytes views a string's bytes without copying. The bytes must not be
// written.
func stringBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// MkdirAll creates directory path and any missing parents with permissions
// perm, like mkdir -p. An existing directory is not an error.
func MkdirAll(path []byte, perm uint32, now int64) Errno {
	if len(path) >= PathMax {
		return ENAMETOOLONG
	}
	// Create each prefix ending before a slash, then the whole path.
	for i := 1; i <= len(path); i++ {
		if i < len(path) && (path[i] != '/' || path[i-1] == '/') {
			continue
		}
		err := Mkdir(Root(), path[:i], perm, now)
		if err == EEXIST {
			ino, lerr := Lookup(Root(), path[:i], true)
			if lerr != 0 {
				return lerr
			}
			if !IsDir(ino) {
				return ENOTDIR
			}
			continue
		}
		if err != 0 {
			return err
		}
	}
	return 0
}

// AddStatic creates the read-only regular file path (absolute) with the
// given permission bits whose content is data, creating missing parent
// directories with mode 0755. The file refers to data in place: data must
// live forever and never change (a string literal's bytes, a global array)
// because the filesystem keeps only its address, invisible to the garbage
// collector. Writing or truncating the file fails with EACCES; it can be
// unlinked or renamed like any file.
func AddStatic(path []byte, data []byte, perm uint32, now int64) Errno {
	if len(path) == 0 || path[0] != '/' {
		return EINVAL
	}
	last := len(path) - 1
	for last > 0 && path[last] != '/' {
		last--
	}
	if last > 0 {
		if err := MkdirAll(path[:last], 0o755, now); err != 0 {
			return err
		}
	}
	var r walkResult
	if err := walk(Root(), path, followEntry, &r); err != 0 {
		return err
	}
	if r.node != 0 {
		return EEXIST
	}
	if r.slash {
		return EISDIR
	}
	node := newInode(ModeRegular|perm&ModePerm, now)
	if node == 0 {
		return ENOSPC
	}
	n := ip(node)
	n.flags = flagStatic
	n.size = int64(len(data))
	if len(data) > 0 {
		n.data = uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	}
	_, err := link(r.parent, r.name(), 0, node, now)
	return err
}

// SetStaticSize sets the length of static file ino's content: the first n
// bytes of the byte range AddStatic gave it, which the caller guarantees
// holds n bytes (content regenerated in place, such as /proc/self/maps).
// Other inodes are left alone.
func SetStaticSize(ino Inode, n int) {
	if ino != 0 && ip(uintptr(ino)).flags&flagStatic != 0 {
		ip(uintptr(ino)).size = int64(n)
	}
}

// AddStaticString is AddStatic for content held in a string constant.
func AddStaticString(path string, data string, perm uint32, now int64) Errno {
	return AddStatic(stringBytes(path), stringBytes(data), perm, now)
}

// defaultFiles are the read-only files a Go program (or its libraries)
// commonly reads at startup. The runtime reads the huge page size; os/user,
// net and os.Hostname fall back to these /etc files.
var defaultFiles = [...]struct{ path, data string }{
	{"/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", "2097152\n"},
	{"/etc/hostname", "unigo\n"},
	{"/etc/hosts", "127.0.0.1\tlocalhost unigo\n::1\tlocalhost ip6-localhost ip6-loopback\n"},
	{"/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"},
	{"/etc/group", "root:x:0:\nnogroup:x:65534:\n"},
	{"/etc/nsswitch.conf", "hosts: files dns\n"},
}

// AddDefaultFiles adds the standard static files (defaultFiles) after Init.
func AddDefaultFiles(now int64) Errno {
	for i := range defaultFiles {
		if err := AddStaticString(defaultFiles[i].path, defaultFiles[i].data, 0o444, now); err != 0 {
			return err
		}
	}
	return 0
}
