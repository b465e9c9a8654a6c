package platform_test

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/unigo-os/unigo/kernel" // rt needs the kernel linked
	"github.com/unigo-os/unigo/kernel/platform"
)

// TestVDSOImage reads the vDSO image the way Go's runtime does
// (runtime/vdso_linux.go: first PT_LOAD for the load offset, PT_DYNAMIC
// for the tables, the DT_HASH chain, the LINUX_2.6 version definition)
// and checks that it finds __vdso_clock_gettime at the function's address.
func TestVDSOImage(t *testing.T) {
	const base, fn = 0x7f0000001000, 0x401234 // the function lies below the image
	img := make([]byte, platform.VDSOSize)
	platform.BuildVDSO(img, base, fn)
	le := binary.LittleEndian
	u16 := func(off uint64) uint16 { return le.Uint16(img[off:]) }
	u32 := func(off uint64) uint32 { return le.Uint32(img[off:]) }
	u64 := func(off uint64) uint64 { return le.Uint64(img[off:]) }
	cstr := func(off uint64) string {
		end := off
		for img[end] != 0 {
			end++
		}
		return string(img[off:end])
	}

	require.Equal(t, "\x7fELF", string(img[:4]))
	phoff, phnum := u64(32), u16(56)
	var loadOffset, dyn uint64
	var haveLoad, haveDyn bool
	for i := uint64(0); i < uint64(phnum); i++ {
		ph := phoff + 56*i
		switch u32(ph) {
		case 1:
			if !haveLoad {
				haveLoad = true
				loadOffset = base + u64(ph+8) - u64(ph+16)
				assert.GreaterOrEqual(t, u64(ph+40), uint64(platform.VDSOSize), "PT_LOAD covers the image")
			}
		case 2:
			haveDyn, dyn = true, u64(ph+8)
		}
	}
	require.True(t, haveLoad && haveDyn, "PT_LOAD and PT_DYNAMIC")

	tables := map[uint64]uint64{}
	for d := dyn; ; d += 16 {
		tag := u64(d)
		if tag == 0 {
			break
		}
		tables[tag] = u64(d+8) + loadOffset - base // back to an image offset
	}
	for _, tag := range []uint64{4, 5, 6, 0x6ffffff0, 0x6ffffffc} {
		require.Contains(t, tables, tag, "dynamic tag %#x", tag)
	}
	strtab, symtab, hash, versym, verdef := tables[5], tables[6], tables[4], tables[0x6ffffff0], tables[0x6ffffffc]

	// The version index of LINUX_2.6 (the runtime's vdsoFindVersion).
	version := -1
	for def := verdef; ; {
		if u16(def+2)&1 == 0 { // not VER_FLG_BASE
			aux := def + uint64(u32(def+12))
			if u32(def+8) == 0x3ae75f6 && cstr(strtab+uint64(u32(aux))) == "LINUX_2.6" {
				version = int(u16(def+4) & 0x7fff)
			}
		}
		if u32(def+16) == 0 {
			break
		}
		def += uint64(u32(def + 16))
	}
	require.Equal(t, 2, version, "LINUX_2.6 version index")

	// The runtime's hash for "__vdso_clock_gettime" is 0xd35ec75.
	nbucket := uint64(u32(hash))
	found := uint64(0)
	for i := uint64(u32(hash + 8 + 4*(0xd35ec75%nbucket))); i != 0; i = uint64(u32(hash + 8 + 4*nbucket + 4*i)) {
		sym := symtab + 24*i
		info, shndx := img[sym+4], u16(sym+6)
		if info&0xf != 2 || info>>4 != 1 || shndx == 0 {
			continue
		}
		if cstr(strtab+uint64(u32(sym))) != "__vdso_clock_gettime" || int(u16(versym+2*i)&0x7fff) != version {
			continue
		}
		found = loadOffset + u64(sym+8)
		break
	}
	assert.Equal(t, uint64(fn), found, "__vdso_clock_gettime")
}
