package mm

// For the external tests (package mm_test, which links the kernel that rt
// needs).

// ResetVMAs empties the VMA table.
func ResetVMAs() { nvmas, nfile = 0, 0 }

const MmapTop = mmapTop
