package mm

// For the external tests (package mm_test, which links the kernel that rt
// needs).

// ResetVMAs empties the VMA table.
func ResetVMAs() { nvmas, nfile = 0, 0 }

const MmapTop = mmapTop

// ResizeVMAs and MapLike are mremap's VMA-table changes.
func ResizeVMAs(i int, old, oldSize, newSize uintptr) bool {
	return resizeVMAs(i, old, oldSize, newSize)
}

func MapLike(i int, src, dst, size uintptr) bool { return mapLike(i, src, dst, size) }
