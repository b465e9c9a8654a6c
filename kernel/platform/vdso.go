package platform

import (
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/rt"
)

// The vDSO image: the ELF metadata of a shared object whose one symbol,
// __vdso_clock_gettime (version LINUX_2.6), points at rt's
// vdsoClockGettime in this image's text (rt/vdso.go says why). The auxv
// entry AT_SYSINFO_EHDR names it. Go's runtime reads it the way
// runtime/vdso_linux.go does: the first PT_LOAD gives the load offset
// (here the image itself: p_vaddr = p_offset = 0), PT_DYNAMIC the tables;
// it needs a symbol table, its strings, a hash table, and version
// definitions (without DT_VERDEF its version lookup dereferences nil).
// The symbol's value is relative to the load offset, so it may point
// anywhere: st_value = function - image, modulo 2^64.
//
// Layout (offsets into the image):
//
//	0x000 ELF header            0x040 PT_LOAD, PT_DYNAMIC (2 x 56)
//	0x0b0 dynamic section (9 entries)
//	0x140 symbol table (null, __vdso_clock_gettime)
//	0x170 hash table (1 bucket, 2 chains: 5 words)
//	0x188 version symbol table (2 x uint16)
//	0x190 version definitions (base, LINUX_2.6), each with one aux (2 x 28)
//	0x1c8 strings

const (
	vdsoDynOff     = 0x0b0
	vdsoSymOff     = 0x140
	vdsoHashOff    = 0x170
	vdsoVersymOff  = 0x188
	vdsoVerdefOff  = 0x190
	vdsoStrOff     = 0x1c8
	vdsoStrings    = "\x00__vdso_clock_gettime\x00LINUX_2.6\x00linux-vdso.so.1\x00"
	vdsoNameFunc   = 1  // offset of "__vdso_clock_gettime" in vdsoStrings
	vdsoNameVer    = 22 // "LINUX_2.6"
	vdsoNameSoname = 32 // "linux-vdso.so.1"
	vdsoSize       = vdsoStrOff + len(vdsoStrings)
	// vdsoLinuxHash is the ELF hash of "LINUX_2.6", which the runtime
	// compares with vd_hash.
	vdsoLinuxHash = 0x3ae75f6
)

// vdsoImage holds the image; uint64 elements keep it 8-byte aligned for
// the runtime's reads of the 8-byte fields.
var vdsoImage [(vdsoSize + 7) / 8]uint64

// VDSOInit builds the image for the running kernel. Kernel context.
func VDSOInit() uintptr {
	img := kctx.BytesAt(kctx.PtrOf(&vdsoImage[0]), vdsoSize)
	buildVDSO(img, kctx.PtrOf(&vdsoImage[0]), rt.VDSOClockGettimePC())
	return kctx.PtrOf(&vdsoImage[0])
}

// buildVDSO writes the image into img (at least vdsoSize bytes, zeroed),
// which will live at address base, with __vdso_clock_gettime at fn.
func buildVDSO(img []byte, base, fn uintptr) {
	put16 := func(off int, v uint16) { img[off], img[off+1] = byte(v), byte(v>>8) }
	put32 := func(off int, v uint32) { put16(off, uint16(v)); put16(off+2, uint16(v>>16)) }
	put64 := func(off int, v uint64) { put32(off, uint32(v)); put32(off+4, uint32(v>>32)) }

	// ELF header: 64-bit, little-endian, ET_DYN, x86-64.
	img[0], img[1], img[2], img[3] = 0x7f, 'E', 'L', 'F'
	img[4], img[5], img[6] = 2, 1, 1 // ELFCLASS64, ELFDATA2LSB, EV_CURRENT
	put16(16, 3)                     // e_type ET_DYN
	put16(18, 62)                    // e_machine EM_X86_64
	put32(20, 1)                     // e_version
	put64(32, 0x40)                  // e_phoff
	put16(52, 64)                    // e_ehsize
	put16(54, 56)                    // e_phentsize
	put16(56, 2)                     // e_phnum

	// PT_LOAD (R+X) covering the image, and PT_DYNAMIC.
	put32(0x40, 1)
	put32(0x40+4, 5)
	put64(0x40+32, uint64(vdsoSize)) // p_filesz
	put64(0x40+40, uint64(vdsoSize)) // p_memsz
	put64(0x40+48, 8)                // p_align
	put32(0x78, 2)
	put32(0x78+4, 4)
	put64(0x78+8, vdsoDynOff)  // p_offset
	put64(0x78+16, vdsoDynOff) // p_vaddr
	put64(0x78+32, 9*16)
	put64(0x78+40, 9*16)
	put64(0x78+48, 8)

	// Dynamic section.
	for i, d := range [...][2]uint64{
		{4, vdsoHashOff},               // DT_HASH
		{5, vdsoStrOff},                // DT_STRTAB
		{6, vdsoSymOff},                // DT_SYMTAB
		{10, uint64(len(vdsoStrings))}, // DT_STRSZ
		{11, 24},                       // DT_SYMENT
		{0x6ffffff0, vdsoVersymOff},    // DT_VERSYM
		{0x6ffffffc, vdsoVerdefOff},    // DT_VERDEF
		{0x6ffffffd, 2},                // DT_VERDEFNUM
		{0, 0},                         // DT_NULL
	} {
		put64(vdsoDynOff+16*i, d[0])
		put64(vdsoDynOff+16*i+8, d[1])
	}

	// Symbol 1: __vdso_clock_gettime, STB_GLOBAL STT_FUNC, defined.
	sym := vdsoSymOff + 24
	put32(sym, vdsoNameFunc)
	img[sym+4] = 1<<4 | 2
	put16(sym+6, 0xfff1) // SHN_ABS: defined, in no section
	put64(sym+8, uint64(fn-base))

	// Hash: nbucket 1, nchain 2, bucket[0] = 1, chain = {0, 0}.
	put32(vdsoHashOff, 1)
	put32(vdsoHashOff+4, 2)
	put32(vdsoHashOff+8, 1)

	// Versions: symbol 0 local, symbol 1 LINUX_2.6 (index 2).
	put16(vdsoVersymOff+2, 2)
	// Verdef entries (20 bytes) each followed by one Verdaux (8 bytes).
	verdef := func(off int, flags, ndx uint16, hash, name uint32, next uint32) {
		put16(off, 1) // vd_version
		put16(off+2, flags)
		put16(off+4, ndx)
		put16(off+6, 1) // vd_cnt
		put32(off+8, hash)
		put32(off+12, 20) // vd_aux
		put32(off+16, next)
		put32(off+20, name) // vda_name
	}
	verdef(vdsoVerdefOff, 1, 1, 0, vdsoNameSoname, 28) // VER_FLG_BASE: the object itself
	verdef(vdsoVerdefOff+28, 0, 2, vdsoLinuxHash, vdsoNameVer, 0)

	copy(img[vdsoStrOff:], vdsoStrings)
}
