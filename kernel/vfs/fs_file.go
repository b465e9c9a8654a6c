package vfs

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/memfs"
	"github.com/unigo-os/unigo/kernel/platform"
	"github.com/unigo-os/unigo/kernel/task"
)

// The ofile kinds backed by a memfs inode: regular files, directories and
// the device stand-ins (/dev/null, /dev/zero, /dev/random). Their data
// and offsets are guarded by FSLock.

var memfileOps = FileOps{
	Read:      memfileRead,
	Write:     memfileWrite,
	readLimit: memfileReadLimit,
	Fionread:  memfileFionread,
	seek:      memfileSeek,
	Inode:     true,
}

var dirOps = FileOps{
	Read:  isDir,
	Write: isDir,
	seek:  dirSeek,
	Inode: true,
}

var devNullOps = FileOps{
	Read:  devNullRead,
	Write: devWrite,
	seek:  devSeek,
	Inode: true,
}

var devZeroOps = FileOps{
	Read:  devZeroRead,
	Write: devWrite,
	seek:  devSeek,
	Inode: true,
}

var devRandOps = FileOps{
	Read:  devRandRead,
	Write: devWrite,
	seek:  devSeek,
	Inode: true,
}

// memfileReadLimit validates only what the file can deliver: Go's
// ReadFile offers a buffer larger than the file.
func memfileReadLimit(o *OFile, n uintptr, pos int64) uintptr {
	FSLock.Lock()
	off := pos
	if off < 0 {
		off = o.off
	}
	size := memfs.Size(memfs.Inode(o.Obj))
	FSLock.Unlock()
	if off >= size {
		return 0
	}
	if uintptr(size-off) < n {
		return uintptr(size - off)
	}
	return n
}

func memfileRead(f uintptr, o *OFile, buf, n uintptr, pos int64) int64 {
	FSLock.Lock()
	defer FSLock.Unlock()
	off := pos
	if pos < 0 {
		off = o.off
	}
	r, err := memfs.Read(memfs.Inode(o.Obj), kctx.BytesAt(buf, int(n)), off)
	if err != 0 {
		return -int64(err)
	}
	if pos < 0 {
		o.off = off + int64(r)
	}
	return int64(r)
}

func memfileWrite(f uintptr, o *OFile, buf, n uintptr, pos int64) int64 {
	FSLock.Lock()
	defer FSLock.Unlock()
	off := pos
	if pos < 0 {
		off = o.off
		if o.Flags&oAppend != 0 {
			off = memfs.Size(memfs.Inode(o.Obj))
		}
	}
	w, err := memfs.Write(memfs.Inode(o.Obj), kctx.BytesAt(buf, int(n)), off, platform.Walltime())
	if err != 0 {
		return -int64(err)
	}
	if pos < 0 {
		o.off = off + int64(w)
	}
	return int64(w)
}

func memfileFionread(o *OFile) int64 {
	FSLock.Lock()
	n := memfsSize(o.Obj) - o.off
	FSLock.Unlock()
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

func memfileSeek(o *OFile, off int64, whence int) int64 {
	return seekOfile(o, off, whence, memfs.Size(memfs.Inode(o.Obj)))
}

// seekOfile is lseek on a file of the given size: the new offset, set in
// o, or -EINVAL.
func seekOfile(o *OFile, off int64, whence int, size int64) int64 {
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
func dirSeek(o *OFile, off int64, whence int) int64 {
	if whence == seekCur && off == 0 {
		return o.off
	}
	if whence != seekSet || off < 0 {
		return -abi.EINVAL
	}
	o.off = off
	return off
}

func isDir(f uintptr, o *OFile, buf, n uintptr, pos int64) int64 { return -abi.EISDIR }

func devWrite(f uintptr, o *OFile, buf, n uintptr, pos int64) int64 { return int64(n) }

func devSeek(o *OFile, off int64, whence int) int64 { return 0 }

func devNullRead(f uintptr, o *OFile, buf, n uintptr, pos int64) int64 { return 0 }

func devZeroRead(f uintptr, o *OFile, buf, n uintptr, pos int64) int64 {
	clear(kctx.BytesAt(buf, int(n)))
	return int64(n)
}

func devRandRead(f uintptr, o *OFile, buf, n uintptr, pos int64) int64 {
	return task.DoGetrandom(buf, n)
}
