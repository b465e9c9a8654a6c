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

func syscallLandingPCs() (entry, cpl3 uintptr)

// SyscallEntryMax bounds the size of syscallEntry (LSTAR): Go aligns
// functions to 32 bytes, so no other function starts within it.
const SyscallEntryMax = 32

// SyscallLanding reports whether pc is where a SYSCALL has landed in
// CPL-3 mode but the shim has not yet marked the CPU in-kernel: in
// syscallEntry (LSTAR) or on cpl3Syscall's first instruction. The context
// is then the caller's, with RCX = return RIP and R11 = its RFLAGS.
func SyscallLanding(pc uintptr) bool {
	entry, cpl3 := syscallLandingPCs()
	return pc-entry < SyscallEntryMax || pc == cpl3
}
