package kernel

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/memfs"
	"github.com/unigo-os/unigo/kernel/platform"
	"github.com/unigo-os/unigo/kernel/task"
)

// The ofile kinds backed by a memfs inode: regular files, directories and
// the device stand-ins (/dev/null, /dev/zero, /dev/random). Their data
// and offsets are guarded by fsLock.

var memfileOps = fileOps{
	read:      memfileRead,
	write:     memfileWrite,
	readLimit: memfileReadLimit,
	fionread:  memfileFionread,
	seek:      memfileSeek,
	inode:     true,
}

var dirOps = fileOps{
	read:  isDir,
	write: isDir,
	seek:  dirSeek,
	inode: true,
}

var devNullOps = fileOps{
	read:  devNullRead,
	write: devWrite,
	seek:  devSeek,
	inode: true,
}

var devZeroOps = fileOps{
	read:  devZeroRead,
	write: devWrite,
	seek:  devSeek,
	inode: true,
}

var devRandOps = fileOps{
	read:  devRandRead,
	write: devWrite,
	seek:  devSeek,
	inode: true,
}

// memfileReadLimit validates only what the file can deliver: Go's
// ReadFile offers a buffer larger than the file.
func memfileReadLimit(o *ofile, n uintptr, pos int64) uintptr {
	fsLock.Lock()
	off := pos
	if off < 0 {
		off = o.off
	}
	size := memfs.Size(memfs.Inode(o.obj))
	fsLock.Unlock()
	if off >= size {
		return 0
	}
	if uintptr(size-off) < n {
		return uintptr(size - off)
	}
	return n
}

func memfileRead(f uintptr, o *ofile, buf, n uintptr, pos int64) int64 {
	fsLock.Lock()
	defer fsLock.Unlock()
	off := pos
	if pos < 0 {
		off = o.off
	}
	r, err := memfs.Read(memfs.Inode(o.obj), kctx.BytesAt(buf, int(n)), off)
	if err != 0 {
		return -int64(err)
	}
	if pos < 0 {
		o.off = off + int64(r)
	}
	return int64(r)
}

func memfileWrite(f uintptr, o *ofile, buf, n uintptr, pos int64) int64 {
	fsLock.Lock()
	defer fsLock.Unlock()
	off := pos
	if pos < 0 {
		off = o.off
		if o.flags&oAppend != 0 {
			off = memfs.Size(memfs.Inode(o.obj))
		}
	}
	w, err := memfs.Write(memfs.Inode(o.obj), kctx.BytesAt(buf, int(n)), off, platform.Walltime())
	if err != 0 {
		return -int64(err)
	}
	if pos < 0 {
		o.off = off + int64(w)
	}
	return int64(w)
}

func memfileFionread(o *ofile) int64 {
	fsLock.Lock()
	n := memfsSize(o.obj) - o.off
	fsLock.Unlock()
	if n < 0 {
		n = 0
	}
	return n
}

// Whence values for lseek.
const (
	seekSet = 0
	seekCur = 1
	seekEnd = 2
)

func memfileSeek(o *ofile, off int64, whence int) int64 {
	return seekOfile(o, off, whence, memfs.Size(memfs.Inode(o.obj)))
}

// seekOfile is lseek on a file of the given size: the new offset, set in
// o, or -EINVAL.
func seekOfile(o *ofile, off int64, whence int, size int64) int64 {
	var base int64
	switch whence {
	case seekSet:
	case seekCur:
		base = o.off
	case seekEnd:
		base = size
	default:
		return -abi.EINVAL
	}
	n := base + off
	if n < 0 || (off > 0 && n < base) {
		return -abi.EINVAL
	}
	o.off = n
	return n
}

// dirSeek: directory offsets are ReadDir cookies, so only rewinding and
// returning to a d_off value make sense.
func dirSeek(o *ofile, off int64, whence int) int64 {
	if whence == seekCur && off == 0 {
		return o.off
	}
	if whence != seekSet || off < 0 {
		return -abi.EINVAL
	}
	o.off = off
	return off
}

func isDir(f uintptr, o *ofile, buf, n uintptr, pos int64) int64 { return -abi.EISDIR }

func devWrite(f uintptr, o *ofile, buf, n uintptr, pos int64) int64 { return int64(n) }

func devSeek(o *ofile, off int64, whence int) int64 { return 0 }

func devNullRead(f uintptr, o *ofile, buf, n uintptr, pos int64) int64 { return 0 }

func devZeroRead(f uintptr, o *ofile, buf, n uintptr, pos int64) int64 {
	clear(kctx.BytesAt(buf, int(n)))
	return int64(n)
}

func devRandRead(f uintptr, o *ofile, buf, n uintptr, pos int64) int64 {
	return task.DoGetrandom(buf, n)
}
