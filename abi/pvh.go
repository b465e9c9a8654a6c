package abi

import "strconv"

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

// ELFNotes walks the notes of one PT_NOTE segment, calling fn with each
// note's name (with its NUL), type, descriptor and the descriptor's offset
// in seg, until fn returns false. Each note is a 12-byte header (namesz,
// descsz, type), the name and the descriptor, each padded to the
// segment's alignment: 4, or 8 when p_align says so (the gABI rule, as
// Linux and glibc read GNU property notes: the descriptor starts at the
// header plus name rounded up to the alignment). It returns an error for
// a note that runs past the segment.
func ELFNotes(seg []byte, align uint64, fn func(name []byte, typ uint32, desc []byte, descOff uint64) bool) error {
	if align != 8 {
		align = 4
	}
	up := func(n uint64) uint64 { return (n + align - 1) &^ (align - 1) }
	le32 := func(b []byte) uint64 { return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 }
	size := uint64(len(seg))
	for off := uint64(0); off < size; {
		if size-off < 12 {
			return errTruncatedNote
		}
		namesz, descsz, typ := le32(seg[off:]), le32(seg[off+4:]), uint32(le32(seg[off+8:]))
		nameOff := off + 12
		if namesz > size-nameOff {
			return errTruncatedNote
		}
		descOff := up(nameOff + namesz)
		if descOff > size || descsz > size-descOff {
			return errTruncatedNote
		}
		if !fn(seg[nameOff:nameOff+namesz], typ, seg[descOff:descOff+descsz], descOff) {
			return nil
		}
		off = up(descOff + descsz)
	}
	return nil
}

type noteError string

func (e noteError) Error() string { return string(e) }

const errTruncatedNote = noteError("truncated ELF note")

// PVHEntryNote finds the PVH entry note (XenNoteName, type
// XenElfnotePhys32Entry, a 4- or 8-byte descriptor) in one PT_NOTE
// segment and returns its entry address.
func PVHEntryNote(seg []byte, align uint64) (entry uint64, found bool, err error) {
	var bad error
	err = ELFNotes(seg, align, func(name []byte, typ uint32, desc []byte, _ uint64) bool {
		for len(name) > 0 && name[len(name)-1] == 0 {
			name = name[:len(name)-1]
		}
		if string(name) != XenNoteName || typ != XenElfnotePhys32Entry {
			return true
		}
		found = true
		switch len(desc) {
		case 4, 8:
			for i := len(desc) - 1; i >= 0; i-- {
				entry = entry<<8 | uint64(desc[i])
			}
		default:
			bad = noteError("PVH entry note has a " + strconv.Itoa(len(desc)) + "-byte descriptor (want 4 or 8)")
		}
		return false
	})
	if bad != nil {
		return 0, false, bad
	}
	return entry, found, err
}
