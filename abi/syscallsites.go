package abi

// The system-call sites note. The image writer (tools/image) records in an
// ELF note where the Go runtime and the syscall packages execute SYSCALL;
// on hosts where SYSCALL is a trap through the host while a CALL is not
// (the PVM hosts' CPL-3 SYSCALL mode), the kernel rewrites those sites at
// boot into calls to a kernel entry stub. The file's bytes stay unchanged,
// so the image still runs as a Linux process.
//
// The note is named UnigoNoteName, of type NoteSyscallSites, in the same
// PT_NOTE segment as the PVH entry note. Its descriptor is little-endian
// uint32s: SyscallSitesVersion, the site count, then each site's virtual
// address, ascending. A site is one relocatable instruction immediately
// followed by SYSCALL (SyscallSite says which); its address is that of the
// instruction. The kernel treats the note as a hint: it checks each site's
// bounds and bytes again and skips any that do not match.
const (
	UnigoNoteName       = "unigo"
	NoteSyscallSites    = 0x756e0001
	SyscallSitesVersion = 1

	// SyscallSiteMax is the longest site, SYSCALL included.
	SyscallSiteMax = 9
	// SyscallSiteMin is the shortest site: the 5 bytes a CALL rel32 needs.
	SyscallSiteMin = 5
)

// SyscallSite reports whether code starts with a site the kernel knows how
// to rewrite, and the length of the instruction before the SYSCALL (0 when
// it is not a site). The instruction must mean the same when run from a
// stub entered by CALL (which moved the stack pointer): it never reads RSP
// or RIP. Accepted:
//
//	B8 imm32            MOVL $imm, AX           (the runtime's sys_linux_amd64.s)
//	48 C7 C0 imm32      MOVQ $imm, AX
//	REX.W 89/8B modrm   MOVQ reg, reg, neither RSP (internal/runtime/syscall.Syscall6)
//
// Immediates are taken only below 0x10000 (Linux and unigo's private call
// numbers, never the shim's services), and never SYS_exit: the runtime's
// exitThread makes it after handing its stack back, and the CALL would
// write to that stack.
func SyscallSite(code []byte) int {
	isSyscall := func(b []byte) bool { return len(b) >= 2 && b[0] == 0x0f && b[1] == 0x05 }
	switch {
	case len(code) >= 7 && code[0] == 0xb8 && isSyscall(code[5:]):
		if n := le32(code[1:]); n < 0x10000 && n != NRExit {
			return 5
		}
	case len(code) >= 9 && code[0] == 0x48 && code[1] == 0xc7 && code[2] == 0xc0 && isSyscall(code[7:]):
		if n := le32(code[3:]); n < 0x10000 && n != NRExit {
			return 7
		}
	case len(code) >= 5 && code[0]&0xf8 == 0x48 && (code[1] == 0x89 || code[1] == 0x8b) && code[2] >= 0xc0 && isSyscall(code[3:]):
		reg := (code[2]>>3)&7 | (code[0]&4)<<1 // ModRM.reg, REX.R
		rm := code[2]&7 | (code[0]&1)<<3       // ModRM.rm, REX.B
		if reg != 4 && rm != 4 {
			return 3
		}
	}
	return 0
}

// SyscallSitesCount validates a sites note descriptor and returns its
// site count (0 and false for a descriptor of another version or a
// length that does not match its count).
func SyscallSitesCount(desc []byte) (int, bool) {
	if len(desc) < 8 || le32(desc) != SyscallSitesVersion {
		return 0, false
	}
	n := uint64(le32(desc[4:]))
	if n > uint64(len(desc)-8)/4 || uint64(len(desc)) != 8+4*n {
		return 0, false
	}
	return int(n), true
}

// SyscallSiteAddr returns site i of a descriptor SyscallSitesCount accepted.
func SyscallSiteAddr(desc []byte, i int) uint32 { return le32(desc[8+4*i:]) }

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
