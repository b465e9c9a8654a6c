package abi

// PVH boot protocol (Xen's "direct boot" for HVM guests, also implemented by
// QEMU, Firecracker and Cloud Hypervisor). See xen/include/public/arch-x86/
// hvm/start_info.h and xen/include/public/elfnote.h.
//
// The image carries an ELF note named "Xen" of type XenElfnotePhys32Entry
// whose descriptor is the 32-bit physical address of the entry point. The
// monitor enters it in 32-bit protected mode with paging disabled, flat 4 GiB
// code and data segments, interrupts disabled, and EBX holding the physical
// address of an HVMStartInfo.
const (
	XenNoteName           = "Xen"
	XenElfnotePhys32Entry = 18

	HVMStartMagic = 0x336ec578

	// StartInfoVersion is the version that carries a memory map.
	StartInfoVersion = 1

	HVMStartInfoSize   = 56
	HVMMemmapEntrySize = 24
	HVMModlistSize     = 32
)

// HVMStartInfo is struct hvm_start_info (version 1). All addresses are
// guest-physical.
type HVMStartInfo struct {
	Magic         uint32
	Version       uint32
	Flags         uint32
	NrModules     uint32
	ModlistPaddr  uint64
	CmdlinePaddr  uint64
	RSDPPaddr     uint64
	MemmapPaddr   uint64
	MemmapEntries uint32
	Reserved      uint32
}

// HVMMemmapEntry is struct hvm_memmap_table_entry (E820-style).
type HVMMemmapEntry struct {
	Addr     uint64
	Size     uint64
	Type     uint32
	Reserved uint32
}

// HVMModlistEntry is struct hvm_modlist_entry.
type HVMModlistEntry struct {
	Paddr        uint64
	Size         uint64
	CmdlinePaddr uint64
	Reserved     uint64
}

// Memory map entry types (E820).
const (
	MemRAM      = 1
	MemReserved = 2
	MemACPI     = 3
	MemNVS      = 4
	MemUnusable = 5
)
