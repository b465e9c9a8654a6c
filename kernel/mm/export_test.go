package mm

import (
	"unsafe"

	"github.com/unigo-os/unigo/kernel/kmem"
)

// For the external tests (package mm_test, which links the kernel that rt
// needs).

// The tests build page tables in ordinary memory: no CR3, no INVLPG.
func init() { hostTest = true }

// ResetVMAs empties the VMA table.
func ResetVMAs() { nvmas, nfile = 0, 0 }

const MmapTop = mmapTop

const PteAccessed, PteDirty = pteAccessed, pteDirty

// TableEntries returns the entries on the walk to va above its leaf,
// PML4 first (fewer when a 2 MiB page or nothing lies under them).
func TableEntries(va uintptr) []uint64 {
	var es []uint64
	t := PML4
	for shift := uint(39); shift > 12; shift -= 9 {
		e := *(*uint64)(unsafe.Pointer(t + (va>>shift)&511*8))
		if e&PtePresent == 0 || e&pteHuge != 0 {
			break
		}
		es = append(es, e)
		t = uintptr(e & PteAddr)
	}
	return es
}

// NewPageTable gives the tests an empty address space in kmem memory.
func NewPageTable() { PML4 = kmem.AllocPage() }

// Leaf returns the entry mapping va (0 if none) and whether it is a 2 MiB
// page's.
func Leaf(va uintptr) (uint64, bool) {
	pde := pdeFor(va, false)
	return leafFor(va), pde != nil && *pde&(PtePresent|pteHuge) == PtePresent|pteHuge
}

// HasPageTable reports whether a page table (not a 2 MiB page) serves va.
func HasPageTable(va uintptr) bool {
	pde := pdeFor(va, false)
	return pde != nil && *pde&PtePresent != 0 && *pde&pteHuge == 0
}

// ResizeVMAs and MapLike are mremap's VMA-table changes.
func ResizeVMAs(i int, old, oldSize, newSize uintptr) bool {
	return resizeVMAs(i, old, oldSize, newSize)
}

func MapLike(i int, src, dst, size uintptr) bool { return mapLike(i, src, dst, size) }

// MapIdentityHuge maps [start, end) with 2 MiB identity pages, writable
// and user-accessible, as the boot's identity map does.
func MapIdentityHuge(start, end uintptr) {
	for va := start; va < end; va += HugeSize {
		*pdeFor(va, true) = uint64(va) | pteRAM | pteHuge
	}
}

const PteNX = pteNX
