package kernel

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kmem"
	"github.com/unigo-os/unigo/kernel/mm"
)

// mmap family. Only anonymous private/shared memory (MAP_ANONYMOUS):
// the Go runtime maps nothing else. Memory is reserved in the VMA table
// and populated on first touch (mm.FaultIn).
const (
	mapShared    = 0x01
	mapPrivate   = 0x02
	mapFixed     = 0x10
	mapAnonymous = 0x20
	mapNoreplace = 0x100000

	madvDontneed = 4
	madvFree     = 8
)

func doMmap(addr, length uintptr, prot, flags, fd int, off uintptr) int64 {
	if length == 0 || addr&(mm.PageSize-1) != 0 {
		return -abi.EINVAL
	}
	if flags&mapAnonymous == 0 {
		return -abi.ENODEV
	}
	size := mm.PageRound(length)
	if size < length {
		return -abi.ENOMEM
	}
	mm.VMLock.Lock()
	defer mm.VMLock.Unlock()
	var va uintptr
	switch {
	case flags&(mapFixed|mapNoreplace) != 0:
		if addr < mm.UserBase || addr+size > mm.UserTop || addr+size < addr {
			return -abi.ENOMEM
		}
		if flags&mapNoreplace != 0 && !mm.RangeFree(addr, addr+size) {
			return -abi.EEXIST
		}
		// Overcommit heuristic: a writable mapping placed over a
		// reservation (how the Go runtime commits heap memory, sysMap)
		// fails when it is larger than the memory left, so exhaustion
		// ends in the runtime's own "out of memory" error rather than a
		// fault on first touch.
		if prot&mm.ProtWrite != 0 && int64(size) > kmem.FreeBytes() {
			return -abi.ENOMEM
		}
		mm.UnmapPages(addr, addr+size, tlbShootdown)
		va = addr
	case addr >= mm.UserBase && addr+size <= mm.UserTop && addr+size > addr && mm.RangeFree(addr, addr+size):
		va = addr
	default:
		va = mm.FindGap(size)
		if va == 0 {
			return -abi.ENOMEM
		}
	}
	if !mm.SetRange(va, va+size, prot&7) {
		return -abi.ENOMEM
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
	mm.VMLock.Lock()
	defer mm.VMLock.Unlock()
	mm.UnmapPages(start, end, tlbShootdown)
	mm.SetRange(start, end, -1)
	return 0
}

func doMprotect(addr, length uintptr, prot int) int64 {
	start, end, ok := checkRange(addr, length)
	if !ok {
		return -abi.EINVAL
	}
	mm.VMLock.Lock()
	defer mm.VMLock.Unlock()
	for va := start; va < end; {
		i := mm.FindVMA(va)
		if i < 0 {
			return -abi.ENOMEM
		}
		va = mm.VMAs[i].End
	}
	if !mm.SetRange(start, end, prot&7) {
		return -abi.ENOMEM
	}
	mm.ProtectPages(start, end, uint32(prot&7), tlbShootdown)
	return 0
}

func doMadvise(addr, length uintptr, advice int) int64 {
	start, end, ok := checkRange(addr, length)
	if !ok {
		return -abi.EINVAL
	}
	if advice == madvDontneed || advice == madvFree {
		mm.VMLock.Lock()
		mm.UnmapPages(start, end, tlbShootdown)
		mm.VMLock.Unlock()
	}
	return 0
}
