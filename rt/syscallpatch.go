package rt

// SyscallStubsSize is the size of the stub area (syscallStubs in
// shim_amd64.s), SyscallStubSize that of one stub.
const (
	SyscallStubsSize = 4096
	SyscallStubSize  = 16
)

func syscallStubArea() (stubs, entry uintptr)

// SyscallStubArea returns the address of the stub area, SyscallStubsSize
// bytes of INT3 in the text, and of the entry the stubs jump to
// (syscallCallEntry: SYSCALL's work, then cpl3Syscall). The kernel writes
// the stubs at boot, before the text is write-protected.
func SyscallStubArea() (stubs, entry uintptr) { return syscallStubArea() }
