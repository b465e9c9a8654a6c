package vmm

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugeAlign is the host's transparent huge page size on x86-64, and the
// guest's large page: guest RAM starts on such a boundary, so that each
// 2 MiB guest-physical page can be one host huge page (KVM maps a huge
// page only where guest-physical and host addresses are congruent modulo
// its size).
const hugeAlign = 2 << 20

// mapGuestRAM maps size bytes of anonymous guest RAM at a 2 MiB-aligned
// address. MAP_NORESERVE: a large -m costs nothing until the guest
// touches it. With huge, the range is advised MADV_HUGEPAGE (the hosts'
// usual THP setting is madvise): a first touch then faults in a whole
// 2 MiB page, and KVM maps 2 MiB that a host huge page backs with one
// entry: always in EPT/NPT, in shadow page tables (PVM) where the guest
// maps them with one 2 MiB page too. The cost
// is host memory: every 2 MiB region the guest touches becomes resident
// whole. Free page reporting still works (MADV_DONTNEED of 4 KiB ranges
// splits the huge page). Unmap with unmapGuestRAM.
func mapGuestRAM(size uint64, huge bool) ([]byte, error) {
	if size == 0 || size > 1<<62 {
		return nil, unix.EINVAL
	}
	// Reserve size+2 MiB, then trim the unaligned head and the tail.
	total := uintptr(size) + hugeAlign
	p, err := unix.MmapPtr(-1, 0, nil, total, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, err
	}
	base := uintptr(p)
	head := (hugeAlign - base%hugeAlign) % hugeAlign
	if head > 0 {
		unix.MunmapPtr(p, head)
	}
	if tail := total - head - uintptr(size); tail > 0 {
		unix.MunmapPtr(unsafe.Add(p, head+uintptr(size)), tail)
	}
	mem := unsafe.Slice((*byte)(unsafe.Add(p, head)), size)
	if huge {
		if err := unix.Madvise(mem, unix.MADV_HUGEPAGE); err != nil {
			unmapGuestRAM(mem)
			return nil, err
		}
	}
	return mem, nil
}

// unmapGuestRAM unmaps what mapGuestRAM mapped.
func unmapGuestRAM(mem []byte) {
	if len(mem) > 0 {
		unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(mem)), uintptr(len(mem)))
	}
}
