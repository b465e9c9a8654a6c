package abi

// PVM's paravirtual interface, as the virt-pvm Linux tree defines it
// (arch/x86/include/uapi/asm/pvm_para.h, arch/x86/include/asm/pvm_para.h
// and Documentation/virt/kvm/x86/pvm-spec.rst; docs/ARCHITECTURE.md, "PVM
// paravirtual interface"). Only what a guest needs to detect the interface
// and, once it uses it, to register with it. Older hosts (and Nanos' port)
// share the detection signature but have two more MSRs and another PVCS
// layout: the signature alone does not say which revision a host speaks.

// PVMSyntheticCPUID is "INVLPG [PVMSyntheticCPUIDAddress]; CPUID". At a
// real CPL 0 it is an ordinary CPUID; in PVM supervisor mode (hardware
// CPL 3, where the INVLPG traps) the hypervisor answers it with the guest's
// CPUID table, which a bare CPUID there need not reach.
var PVMSyntheticCPUID = [10]byte{0x0f, 0x01, 0x3c, 0x25, 0x50, 0x56, 0x4d, 0xff, 0x0f, 0xa2}

// PVMSyntheticCPUIDAddress is the INVLPG operand, outside every range a
// PVM guest may map.
const PVMSyntheticCPUIDAddress = 0xffffffffff4d5650

// Detection: KVM's signature leaf, which must reach KVMCPUIDVendorFeatures,
// and that leaf's EBX = PVMSignature ("PVM"). Its EAX is a feature bitmap
// (no bits defined yet). pvm-spec.rst: the guest also checks that it runs
// with hardware CS.RPL = 3 and EFLAGS.IF = 1.
const (
	KVMCPUIDSignature      = 0x4000_0000
	KVMCPUIDVendorFeatures = 0x4000_0002
	PVMSignature           = 0x4d5650
)

// KVMSignatureEBX, ECX, EDX are "KVMKVMKVM\0\0\0" as CPUID returns it.
const (
	KVMSignatureEBX = 0x4b4d564b
	KVMSignatureECX = 0x564b4d56
	KVMSignatureEDX = 0x4d
)

// PVM's MSRs (0x4b564df0-0x4b564dff).
const (
	MSRPVMLinearAddressRange = 0x4b56_4df0 // the guest's allowed upper-half ranges
	MSRPVMVCPUStruct         = 0x4b56_4df1 // guest-physical address of the PVCS page
	MSRPVMEventEntry         = 0x4b56_4df4 // user-mode events; +512 supervisor-mode ones
	MSRPVMRetuRIP            = 0x4b56_4df5 // the SYSCALL there is ERETU
	MSRPVMRetsRIP            = 0x4b56_4df6 // the SYSCALL there is ERETS
)

// PVM hypercalls: SYSCALL in supervisor mode with RAX = number, arguments
// in RBX, RCX (passed in R10), RDX; result in RAX.
const (
	PVMHypercallBase        = 0x1708_8200
	PVMHypercallLoadPgtbl   = PVMHypercallBase + 0 // flags, CR3
	PVMHypercallIRQWin      = PVMHypercallBase + 1
	PVMHypercallIRQHalt     = PVMHypercallBase + 2 // STI; HLT
	PVMHypercallTLBFlush    = PVMHypercallBase + 3
	PVMHypercallTLBFlushCur = PVMHypercallBase + 4
	PVMHypercallTLBInvlpg   = PVMHypercallBase + 5 // address
	PVMHypercallLoadGS      = PVMHypercallBase + 6
	PVMHypercallRdmsr       = PVMHypercallBase + 7 // MSR
	PVMHypercallWrmsr       = PVMHypercallBase + 8 // MSR, value
	PVMHypercallLoadTLS     = PVMHypercallBase + 9
	PVMEventEntrySupervisor = 512 // MSRPVMEventEntry offset for supervisor-mode events
	PVMEventFlagsIP         = 1 << 8
	PVMEventFlagsIF         = 1 << 9
	PVMEventVectorStd       = 1 << 8
	PVMEventVectorNMI       = 1 << 9
	PVMEventVectorMCE       = 1 << 10
	PVMLoadPgtblFlushTLB    = 1 << 0
	PVMLoadPgtblLA57        = 1 << 1
)

// PVMVCPUStruct is struct pvm_vcpu_struct (the PVCS), at the start of the
// page MSRPVMVCPUStruct names. Event delivery saves the interrupted
// context here; ERETU loads the user context from here.
type PVMVCPUStruct struct {
	EventFlags   uint64 // PVMEventFlags*
	CR2          uint64 // the address of a delivered #PF
	_            [6]uint64
	UserCS       uint16
	UserSS       uint16
	EventErrcode uint16
	EventVector  uint16 // PVMEventVector* | vector
	UserGSBase   uint64
	EFlags       uint32
	PKRU         uint32
	RIP          uint64
	RCX          uint64
	R11          uint64
	_            [2]uint64
}
