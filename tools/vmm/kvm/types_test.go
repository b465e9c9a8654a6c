package kvm

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// The sizes are those of linux/kvm.h on x86-64; a mismatch would corrupt
// memory in the kernel's copy_from_user.
func TestStructSizes(t *testing.T) {
	require.EqualValues(t, 32, unsafe.Sizeof(UserspaceMemoryRegion{}))
	require.EqualValues(t, 144, unsafe.Sizeof(Regs{}))
	require.EqualValues(t, 24, unsafe.Sizeof(Segment{}))
	require.EqualValues(t, 16, unsafe.Sizeof(DTable{}))
	require.EqualValues(t, 312, unsafe.Sizeof(Sregs{}))
	require.EqualValues(t, 40, unsafe.Sizeof(CPUIDEntry{}))
	require.EqualValues(t, 32, unsafe.Sizeof(irqfd{}))
	require.EqualValues(t, 64, unsafe.Sizeof(ioeventfd{}))
	require.EqualValues(t, 32, unsafe.Sizeof(runHeader{}))
	require.EqualValues(t, 16, unsafe.Sizeof(IOExit{}))
	require.EqualValues(t, 0xC008AE05, kvmGetSupportedCPUID)
	require.EqualValues(t, 0x4020AE46, kvmSetUserMemoryRegion)
	require.EqualValues(t, 0x8138AE83, kvmGetSregs)
	require.EqualValues(t, 0x4040AE79, kvmIOEventFD)
	require.EqualValues(t, 0x4020AE76, kvmIRQFD)
}

func TestExitName(t *testing.T) {
	require.Equal(t, "KVM_EXIT_IO", ExitName(ExitIO))
	require.Equal(t, "KVM_EXIT_123", ExitName(123))
}
