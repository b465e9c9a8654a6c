package arch

import "github.com/unigo-os/unigo/tools/vmm/kvm"

// x86 control register bits used at entry.
const (
	cr0PE = 1 << 0
	cr0ET = 1 << 4
)

// flat32 is a present, 4 GiB, 32-bit (D/B=1), page-granular segment.
func flat32(sel uint16, typ uint8) kvm.Segment {
	return kvm.Segment{
		Base: 0, Limit: 0xFFFF_FFFF, Selector: sel, Type: typ,
		Present: 1, DPL: 0, DB: 1, S: 1, L: 0, G: 1,
	}
}

// PVHSregs returns the special registers of the PVH entry state (PVH boot
// ABI, xen/include/public/arch-x86/hvm/start_info.h): 32-bit protected mode
// with paging off, CS a flat 4 GiB execute/read segment (selector 0x08), the
// data segments flat read/write (0x10), TR a valid 32-bit TSS (VMX requires
// one), CR4 and EFER clear. base is the vCPU's reset state, which keeps the
// LAPIC base and the interrupt bitmap KVM set up. gdt is where Plan put the
// matching descriptors.
func PVHSregs(base kvm.Sregs, gdtAddr uint64) kvm.Sregs {
	s := base
	s.CS = flat32(CodeSelector, 0xB)
	data := flat32(DataSelector, 0x3)
	s.DS, s.ES, s.FS, s.GS, s.SS = data, data, data, data, data
	s.TR = kvm.Segment{Selector: TSSSelector, Limit: 0x67, Type: 0xB, Present: 1}
	s.LDT = kvm.Segment{Type: 0x2, Present: 1, Limit: 0xFFFF}
	s.GDT = kvm.DTable{Base: gdtAddr, Limit: uint16(len(gdt)*8 - 1)}
	s.IDT = kvm.DTable{}
	// ET is hard-wired to 1 on every CPU since the 486; CD/NW (set at
	// reset) are cleared so the guest runs with caches enabled.
	s.CR0 = cr0PE | cr0ET
	s.CR2, s.CR3, s.CR4 = 0, 0, 0
	s.EFER = 0
	return s
}

// PVHRegs returns the general registers of the PVH entry state: EIP at the
// entry, EBX the hvm_start_info address, EFLAGS only the reserved bit 1
// (interrupts off), everything else zero.
func PVHRegs(entry uint32, startInfo uint64) kvm.Regs {
	return kvm.Regs{RIP: uint64(entry), RBX: startInfo, RFLAGS: 0x2}
}
