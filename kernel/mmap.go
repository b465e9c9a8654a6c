package kernel

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kmem"
)

// mmap family. Only anonymous private/shared memory (MAP_ANONYMOUS):
// the Go runtime maps nothing else. Memory is reserved in the VMA table
// and populated on first touch (faultIn).
const (
	mapShared    = 0x01
	mapPrivate   = 0x02
	mapFixed     = 0x10
	mapAnonymous = 0x20
	mapNoreplace = 0x100000

	madvDontneed = 4
	madvFree     = 8
)

func pageRound(n uintptr) uintptr { return (n + pageSize - 1) &^ (pageSize - 1) }

func doMmap(addr, length uintptr, prot, flags, fd int, off uintptr) int64 {
	if length == 0 || addr&(pageSize-1) != 0 {
		return -abi.EINVAL
	}
	if flags&mapAnonymous == 0 {
		return -abi.ENODEV
	}
	size := pageRound(length)
	if size < length {
		return -abi.ENOMEM
	}
	vmLock.Lock()
	defer vmLock.Unlock()
	var va uintptr
	switch {
	case flags&(mapFixed|mapNoreplace) != 0:
		if addr < userBase || addr+size > userTop || addr+size < addr {
			return -abi.ENOMEM
		}
		if flags&mapNoreplace != 0 && !rangeFree(addr, addr+size) {
			return -abi.EEXIST
		}
		// Overcommit heuristic: a writable mapping placed over a
		// reservation (how the Go runtime commits heap memory, sysMap)
		// fails when it is larger than the memory left, so exhaustion
		// ends in the runtime's own "out of memory" error rather than a
		// fault on first touch.
		if prot&protWrite != 0 && int64(size) > kmem.FreeBytes() {
			return -abi.ENOMEM
		}
		unmapPages(addr, addr+size)
		va = addr
	case addr >= userBase && addr+size <= userTop && addr+size > addr && rangeFree(addr, addr+size):
		va = addr
	default:
		va = findGap(size)
		if va == 0 {
			return -abi.ENOMEM
		}
	}
	if !setRange(va, va+size, prot&7) {
		return -abi.ENOMEM
	}
	return int64(va)
}

func checkRange(addr, length uintptr) (uintptr, uintptr, bool) {
	if addr&(pageSize-1) != 0 {
		return 0, 0, false
	}
	end := addr + pageRound(length)
	if end < addr || addr < userBase || end > userTop {
		return 0, 0, false
	}
	return addr, end, true
}

func doMunmap(addr, length uintptr) int64 {
	start, end, ok := checkRange(addr, length)
	if !ok || length == 0 {
		return -abi.EINVAL
	}
	vmLock.Lock()
	defer vmLock.Unlock()
	unmapPages(start, end)
	setRange(start, end, -1)
	return 0
}

func doMprotect(addr, length uintptr, prot int) int64 {
	start, end, ok := checkRange(addr, length)
	if !ok {
		return -abi.EINVAL
	}
	vmLock.Lock()
	defer vmLock.Unlock()
	for va := start; va < end; {
		i := findVMA(va)
		if i < 0 {
			return -abi.ENOMEM
		}
		va = vmas[i].end
	}
	if !setRange(start, end, prot&7) {
		return -abi.ENOMEM
	}
	protectPages(start, end, uint32(prot&7))
	return 0
}

func doMadvise(addr, length uintptr, advice int) int64 {
	start, end, ok := checkRange(addr, length)
	if !ok {
		return -abi.EINVAL
	}
	if advice == madvDontneed || advice == madvFree {
		vmLock.Lock()
		unmapPages(start, end)
		vmLock.Unlock()
	}
	return 0
}
