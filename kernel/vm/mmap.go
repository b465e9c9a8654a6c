package vm

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kmem"
	"github.com/unigo-os/unigo/kernel/memfs"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/kernel/platform"
	"github.com/unigo-os/unigo/kernel/task"
	"github.com/unigo-os/unigo/kernel/vfs"
	"github.com/unigo-os/unigo/rt"
)

// mmap family. Anonymous memory and regular memfs files. Memory is
// reserved in the VMA table and populated on first touch (mm.Fault). A
// file mapping maps the file's own pages (memfs.PageAt): MAP_SHARED with
// the mapping's protection, MAP_PRIVATE read-only with copy on write. So
// read, write and the mappings of a file all see the same bytes.
//
// Locking: a file VMA holds a reference on its inode and a fault on it
// reads the file's page tree, so creating, changing or removing file VMAs
// and faulting file pages in need FSLock, taken before mm.VMLock (lockVM).
// A file that shrinks is unmapped beyond its new end (unmapShrunk, memfs's
// shrink hook, under FSLock) before memfs frees the pages.
const (
	mapShared    = 0x01
	mapPrivate   = 0x02
	mapType      = 0x0f
	mapFixed     = 0x10
	mapAnonymous = 0x20
	mapPopulate  = 0x8000
	mapNoreplace = 0x100000

	madvDontneed   = 4
	madvFree       = 8
	madvHugepage   = 14
	madvNohugepage = 15

	msAsync      = 1
	msInvalidate = 2
	msSync       = 4
)

// Init installs the hooks mm and memfs call back into the kernel with.
func Init() {
	mm.SetHooks(task.TLBShootdown, lockFilesForVM, unlockFilesForVM)
	memfs.SetShrinkHook(unmapShrunk)
}

// lockVM takes mm.VMLock, and FSLock before it when file mappings exist
// or file is set; it reports whether it took FSLock. The count of file
// VMAs changes only under both locks, so reading it again under VMLock
// settles a race with a concurrent file mmap.
func lockVM(file bool) bool {
	if !file && mm.FileVMAs() == 0 {
		mm.VMLock.Lock()
		if mm.FileVMAs() == 0 {
			return false
		}
		mm.VMLock.Unlock()
	}
	vfs.FSLock.Lock()
	mm.VMLock.Lock()
	return true
}

func unlockVM(fs bool) {
	mm.VMLock.Unlock()
	if fs {
		vfs.FSLock.Unlock()
	}
}

// lockFilesForVM is mm.UserOK's way to FSLock when a system call touches
// a file page not yet mapped. A caller that already holds FSLock (a path
// copied under it) cannot be told from another CPU holding it, so the
// wait is bounded: after it the access fails with EFAULT.
func lockFilesForVM() bool {
	deadline := platform.Nanotime() + 20e6
	for !vfs.FSLock.TryLock() {
		if platform.Nanotime() > deadline {
			return false
		}
		task.ServiceTLB()
		rt.Pause()
	}
	return true
}

func unlockFilesForVM() { vfs.FSLock.Unlock() }

// unmapShrunk is memfs's shrink hook: ino is about to shrink to size.
// Caller holds FSLock.
func unmapShrunk(ino memfs.Inode, size int64) {
	mm.VMLock.Lock()
	if mm.FileVMAs() != 0 {
		mm.UnmapFile(uintptr(ino), uintptr(size), task.TLBShootdown)
	}
	mm.VMLock.Unlock()
}

// PageFault serves a #PF from user mode: SIGSEGV for an invalid access,
// SIGBUS for a file page beyond the end of the file.
func PageFault(f *rt.Frame) {
	va := uintptr(f.CR2)
	write := f.ErrorCode&2 != 0
	mm.VMLock.Lock()
	r := mm.Fault(va, write, false)
	if r == mm.FaultNeedFile {
		mm.VMLock.Unlock()
		vfs.FSLock.Lock()
		mm.VMLock.Lock()
		r = mm.Fault(va, write, true)
		vfs.FSLock.Unlock()
	}
	inVMA := mm.FindVMA(va) >= 0
	mm.VMLock.Unlock()
	switch r {
	case mm.FaultOK:
	case mm.FaultBus:
		task.FaultSignal(f, task.SigBUS, task.BusAdrerr, f.CR2)
	default:
		code := task.SegvMaperr
		if inVMA {
			code = task.SegvAccerr
		}
		task.FaultSignal(f, task.SigSEGV, code, f.CR2)
	}
}

func doMmap(addr, length uintptr, prot, flags, fd int, off uintptr) int64 {
	if length == 0 || addr&(mm.PageSize-1) != 0 {
		return -abi.EINVAL
	}
	switch flags & mapType {
	case mapShared, mapPrivate, mapShared | mapPrivate: // 3: MAP_SHARED_VALIDATE
	default:
		return -abi.EINVAL
	}
	size := mm.PageRound(length)
	if size < length {
		return -abi.ENOMEM
	}
	var file uintptr // the ofile of a file mapping
	if flags&mapAnonymous == 0 {
		if off&(mm.PageSize-1) != 0 || off+size < off || int64(off+size) < 0 {
			return -abi.EINVAL
		}
		file = vfs.Fget(fd)
		if file == 0 {
			return -abi.EBADF
		}
		defer vfs.Fput(file) // runs after unlockVM: Fput takes FSLock
		o := vfs.Of(file)
		switch {
		case o.Flags&vfs.OPath != 0:
			return -abi.EBADF
		case o.Kind == vfs.FdDevZero:
			// /dev/zero maps anonymous memory, as on Linux.
			return mmapAnon(addr, size, prot, flags)
		case o.Kind != vfs.FdFile || !memfs.Mappable(memfs.Inode(o.Obj)):
			return -abi.ENODEV
		case o.Flags&vfs.OAccMode == vfs.OWronly:
			return -abi.EACCES
		case flags&mapShared != 0 && prot&mm.ProtWrite != 0 && o.Flags&vfs.OAccMode != vfs.ORdwr:
			return -abi.EACCES
		}
	}
	if file == 0 {
		return mmapAnon(addr, size, prot, flags)
	}
	return mmapLocked(addr, size, prot, flags, file, off)
}

func mmapAnon(addr, size uintptr, prot, flags int) int64 {
	return mmapLocked(addr, size, prot, flags, 0, 0)
}

// mmapLocked places the mapping (file: its ofile, 0 for anonymous memory)
// under the VM locks.
func mmapLocked(addr, size uintptr, prot, flags int, file, off uintptr) int64 {
	fs := lockVM(file != 0)
	defer unlockVM(fs)
	var va uintptr
	switch {
	case flags&(mapFixed|mapNoreplace) != 0:
		if addr < mm.UserBase || addr+size > mm.UserTop || addr+size < addr {
			return -abi.ENOMEM
		}
		if flags&mapNoreplace != 0 && !mm.RangeFree(addr, addr+size) {
			return -abi.EEXIST
		}
		// Overcommit heuristic: a writable anonymous mapping placed
		// over a reservation (how the Go runtime commits heap memory,
		// sysMap) fails when it is larger than the memory left, so
		// exhaustion ends in the runtime's own "out of memory" error
		// rather than a fault on first touch.
		if file == 0 && prot&mm.ProtWrite != 0 && int64(size) > kmem.FreeBytes() {
			return -abi.ENOMEM
		}
		if !mm.SplitHuge(addr, addr+size) {
			return -abi.ENOMEM
		}
		mm.UnmapPages(addr, addr+size, task.TLBShootdown)
		va = addr
	case addr >= mm.UserBase && addr+size <= mm.UserTop && addr+size > addr && mm.RangeFree(addr, addr+size):
		va = addr
	default:
		va = mm.FindGap(size)
		if va == 0 {
			return -abi.ENOMEM
		}
	}
	if file == 0 {
		if !mm.SetRange(va, va+size, prot&7) {
			return -abi.ENOMEM
		}
		return int64(va)
	}
	o := vfs.Of(file)
	ino := o.Obj
	shared := flags&mapShared != 0
	if !mm.MapFile(va, va+size, prot&7, ino, off, shared, shared && o.Flags&vfs.OAccMode != vfs.ORdwr) {
		return -abi.ENOMEM
	}
	if flags&mapPopulate != 0 {
		// Map the pages the file holds now (best effort, as Linux).
		end := va + size
		if fsz := memfs.Size(memfs.Inode(ino)); int64(off+size) > fsz {
			end = va + mm.PageRound(uintptr(fsz)-off)
			if int64(off) >= fsz {
				end = va
			}
		}
		for p := va; p < end; p += mm.PageSize {
			if mm.Fault(p, false, true) != mm.FaultOK {
				break
			}
		}
	}
	return int64(va)
}

func checkRange(addr, length uintptr) (uintptr, uintptr, bool) {
	if addr&(mm.PageSize-1) != 0 {
		return 0, 0, false
	}
	end := addr + mm.PageRound(length)
	if end < addr || addr < mm.UserBase || end > mm.UserTop {
		return 0, 0, false
	}
	return addr, end, true
}

func doMunmap(addr, length uintptr) int64 {
	start, end, ok := checkRange(addr, length)
	if !ok || length == 0 {
		return -abi.EINVAL
	}
	fs := lockVM(false)
	defer unlockVM(fs)
	if !mm.SplitHuge(start, end) {
		return -abi.ENOMEM
	}
	mm.UnmapPages(start, end, task.TLBShootdown)
	if !mm.SetRange(start, end, -1) {
		return -abi.ENOMEM
	}
	return 0
}

// mapped reports whether every page of [start, end) is in a VMA. Caller
// holds VMLock.
func mapped(start, end uintptr) bool {
	for va := start; va < end; {
		i := mm.FindVMA(va)
		if i < 0 {
			return false
		}
		va = mm.VMAs[i].End
	}
	return true
}

func doMprotect(addr, length uintptr, prot int) int64 {
	start, end, ok := checkRange(addr, length)
	if !ok {
		return -abi.EINVAL
	}
	fs := lockVM(false)
	defer unlockVM(fs)
	if !mapped(start, end) {
		return -abi.ENOMEM
	}
	if !mm.MayProtect(start, end, uint32(prot)) {
		return -abi.EACCES
	}
	if !mm.SplitHuge(start, end) {
		return -abi.ENOMEM
	}
	if !mm.Protect(start, end, uint32(prot&7)) {
		return -abi.ENOMEM
	}
	mm.ProtectPages(start, end, uint32(prot&7), task.TLBShootdown)
	return 0
}

// doMadvise: MADV_DONTNEED and MADV_FREE drop the pages (anonymous memory
// reads as zeros again, a private file mapping loses its copies and sees
// the file, a shared one maps the file's pages again on the next touch);
// MADV_HUGEPAGE and MADV_NOHUGEPAGE steer 2 MiB pages (mm.Advise); other
// advice is a hint and ignored.
func doMadvise(addr, length uintptr, advice int) int64 {
	start, end, ok := checkRange(addr, length)
	if !ok {
		return -abi.EINVAL
	}
	if advice == madvDontneed || advice == madvFree {
		mm.VMLock.Lock()
		ok = mm.SplitHuge(start, end)
		if ok {
			mm.UnmapPages(start, end, task.TLBShootdown)
		}
		mm.VMLock.Unlock()
		if !ok {
			return -abi.ENOMEM
		}
	}
	if advice == madvHugepage || advice == madvNohugepage {
		fs := lockVM(false)
		ok = mm.Advise(start, end, int8(2*(madvNohugepage-advice)-1)) // 1 or -1
		unlockVM(fs)
		if !ok {
			return -abi.ENOMEM
		}
	}
	return 0
}

// doMsync: shared mappings are the file's pages, so there is nothing to
// write back; it checks its arguments and that the range is mapped.
func doMsync(addr, length uintptr, flags int) int64 {
	if flags&^(msAsync|msInvalidate|msSync) != 0 || flags&(msAsync|msSync) == msAsync|msSync {
		return -abi.EINVAL
	}
	start, end, ok := checkRange(addr, length)
	if !ok {
		if addr&(mm.PageSize-1) != 0 {
			return -abi.EINVAL
		}
		return -abi.ENOMEM
	}
	mm.VMLock.Lock()
	defer mm.VMLock.Unlock()
	if !mapped(start, end) {
		return -abi.ENOMEM
	}
	return 0
}

// MapAnon maps size bytes of private anonymous read-write memory in the
// program's address space (kernel/vfs's sendfile bounce buffers): the
// address, or a negated errno.
func MapAnon(size uintptr) int64 {
	return doMmap(0, size, mm.ProtRead|mm.ProtWrite, mapPrivate|mapAnonymous, -1, 0)
}

// Unmap is munmap(addr, size).
func Unmap(addr, size uintptr) int64 { return doMunmap(addr, size) }
