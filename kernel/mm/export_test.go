package mm

// For the external tests (package mm_test, which links the kernel that rt
// needs).

// ResetVMAs empties the VMA table.
func ResetVMAs() { nvmas, nfile = 0, 0 }

// NumVMAs is the number of VMAs.
func NumVMAs() int { return nvmas }

const MmapTop = mmapTop
