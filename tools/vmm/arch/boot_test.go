package arch

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/u-root/u-root/pkg/boot/kexec"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/tools/vmm/testguest"
)

func TestRAMAndMapping(t *testing.T) {
	assert.Equal(t, kexec.Ranges{{Start: 0, Size: 128 << 20}}, RAM(128<<20))
	assert.EqualValues(t, 128<<20, MappingSize(128<<20))
	four := uint64(4 << 30)
	assert.Equal(t, kexec.Ranges{{Start: 0, Size: LowMemEnd}, {Start: HighMemStart, Size: 1 << 30}}, RAM(four))
	assert.EqualValues(t, 5<<30, MappingSize(four))
}

func TestCheckMemSize(t *testing.T) {
	require.NoError(t, CheckMemSize(128<<20))
	require.ErrorContains(t, CheckMemSize(1<<20), "too small")
	require.ErrorContains(t, CheckMemSize(2<<40), "too large")
	require.ErrorContains(t, CheckMemSize(3<<20+1), "multiple of 4K")
	assert.Equal(t, "128M", FormatSize(128<<20))
	assert.Equal(t, "4G", FormatSize(4<<30))
	assert.Equal(t, "12K", FormatSize(12<<10))
	assert.Equal(t, "100", FormatSize(100))
}

func TestPlan(t *testing.T) {
	code := testguest.Hello()
	img, err := ParseImage(testguest.Image(code))
	require.NoError(t, err)
	cmdline := `A=1 "B=x y" -- arg`
	l, err := Plan(img, 64<<20, cmdline)
	require.NoError(t, err)

	// The boot block is below 1 MiB, page aligned, above page 0.
	assert.Less(t, l.StartInfo, uint64(0xA0000))
	assert.GreaterOrEqual(t, l.GDT, uint64(0x1000))
	assert.Zero(t, l.GDT%4096)
	assert.Equal(t, l.GDT+64, l.StartInfo)

	// The memory map covers all RAM: the boot block reserved, the rest RAM.
	var total uint64
	for i, e := range l.Memmap {
		total += e.Size
		if i > 0 {
			prev := l.Memmap[i-1]
			assert.Equal(t, prev.Addr+prev.Size, e.Addr, "map is contiguous")
		}
	}
	assert.EqualValues(t, 64<<20, total)
	require.Len(t, l.Memmap, 3)
	assert.EqualValues(t, abi.MemRAM, l.Memmap[0].Type)
	assert.EqualValues(t, abi.MemReserved, l.Memmap[1].Type)
	assert.Equal(t, l.GDT, l.Memmap[1].Addr)
	assert.EqualValues(t, abi.MemRAM, l.Memmap[2].Type)

	mem := make([]byte, 64<<20)
	for i := range mem[:2<<20] {
		mem[i] = 0xAA // Load must clear what it does not copy
	}
	require.NoError(t, l.Load(mem))
	assert.Equal(t, code, mem[testguest.LoadAddr:testguest.LoadAddr+len(code)])
	loaded, fresh := make([]byte, len(mem)), make([]byte, len(mem))
	require.NoError(t, l.Load(loaded))
	require.NoError(t, l.LoadZeroed(fresh))
	assert.True(t, bytes.Equal(loaded, fresh), "LoadZeroed on zeroed memory = Load")
	for _, s := range l.Memory.Segments { // Load cleared the 0xAA in segments
		assert.True(t, bytes.Equal(loaded[s.Phys.Start:s.Phys.End()], mem[s.Phys.Start:s.Phys.End()]))
	}

	si := ReadStartInfo(mem[l.StartInfo:])
	assert.EqualValues(t, abi.HVMStartMagic, si.Magic)
	assert.EqualValues(t, 1, si.Version)
	assert.Zero(t, si.NrModules)
	assert.Zero(t, si.ModlistPaddr)
	assert.Equal(t, l.Cmdline, si.CmdlinePaddr)
	assert.EqualValues(t, len(l.Memmap), si.MemmapEntries)
	end := bytes.IndexByte(mem[si.CmdlinePaddr:], 0)
	assert.Equal(t, cmdline, string(mem[si.CmdlinePaddr:si.CmdlinePaddr+uint64(end)]))
	for i, e := range l.Memmap {
		o := si.MemmapPaddr + uint64(i)*abi.HVMMemmapEntrySize
		assert.Equal(t, e.Addr, binary.LittleEndian.Uint64(mem[o:]))
		assert.Equal(t, e.Size, binary.LittleEndian.Uint64(mem[o+8:]))
		assert.Equal(t, e.Type, binary.LittleEndian.Uint32(mem[o+16:]))
	}
	assert.Equal(t, uint64(0x00CF9B000000FFFF), binary.LittleEndian.Uint64(mem[l.GDT+CodeSelector:]))
}

func TestPlanHighMemory(t *testing.T) {
	img, err := ParseImage(testguest.Image(testguest.Hello()))
	require.NoError(t, err)
	l, err := Plan(img, 4<<30, "")
	require.NoError(t, err)
	last := l.Memmap[len(l.Memmap)-1]
	assert.EqualValues(t, HighMemStart, last.Addr)
	assert.EqualValues(t, 1<<30, last.Size)
	assert.EqualValues(t, abi.MemRAM, last.Type)
}

func TestPlanErrors(t *testing.T) {
	big := testguest.Spec{Segments: []testguest.Segment{{Paddr: 0x400000, Data: []byte{0xF4}, Memsz: 16 << 20}}, Entry: 0x400000}
	img, err := ParseImage(big.ELF())
	require.NoError(t, err)
	_, err = Plan(img, 8<<20, "")
	require.ErrorIs(t, err, ErrBadImage)
	assert.Contains(t, err.Error(), "outside guest RAM")
	assert.Contains(t, err.Error(), "-m 20M")

	// The size asked for loads every segment, not only the first that
	// does not fit.
	two := testguest.Spec{Segments: []testguest.Segment{
		{Paddr: 0x400000, Data: []byte{0xF4}, Memsz: 8 << 20},
		{Paddr: 0xc00000, Data: []byte{0xF4}, Memsz: 9 << 20},
	}, Entry: 0x400000}
	img, err = ParseImage(two.ELF())
	require.NoError(t, err)
	_, err = Plan(img, 8<<20, "")
	require.ErrorIs(t, err, ErrBadImage)
	assert.Contains(t, err.Error(), "-m 21M or more")

	// An image filling all of low memory leaves no room for the boot block.
	low := testguest.Spec{Segments: []testguest.Segment{{Paddr: 0, Data: []byte{0xF4}, Memsz: 1 << 20}}, Entry: 0}
	img, err = ParseImage(low.ELF())
	require.NoError(t, err)
	_, err = Plan(img, 8<<20, "")
	require.ErrorContains(t, err, "no room below 1 MiB")

	img, err = ParseImage(testguest.Image(testguest.Hello()))
	require.NoError(t, err)
	_, err = Plan(img, 8<<20, string(make([]byte, MaxCmdline)))
	require.ErrorContains(t, err, "command line too long")
	_, err = Plan(img, 1<<20, "")
	require.ErrorContains(t, err, "too small")
}

func TestPVHState(t *testing.T) {
	s := PVHSregs(kvmResetSregs(), 0x1000)
	assert.EqualValues(t, 0x11, s.CR0)
	assert.Zero(t, s.CR4)
	assert.Zero(t, s.EFER)
	assert.EqualValues(t, 0x8, s.CS.Selector)
	assert.EqualValues(t, 1, s.CS.DB)
	assert.EqualValues(t, 0, s.CS.L)
	assert.EqualValues(t, 0xFFFFFFFF, s.CS.Limit)
	assert.EqualValues(t, 0x10, s.SS.Selector)
	assert.EqualValues(t, 0xFEE00900, s.APICBase, "reset APIC base kept")
	assert.EqualValues(t, 0x1000, s.GDT.Base)
	assert.EqualValues(t, 31, s.GDT.Limit)

	r := PVHRegs(0x100000, 0x1040)
	assert.EqualValues(t, 0x100000, r.RIP)
	assert.EqualValues(t, 0x1040, r.RBX)
	assert.EqualValues(t, 2, r.RFLAGS)
}

// LoadMapped gives the guest the same bytes as Load, with the whole pages
// of a segment mapped from the image file copy-on-write.
func TestLoadMapped(t *testing.T) {
	data := make([]byte, 3*4096+100)
	for i := range data {
		data[i] = byte(i*7 + 1)
	}
	spec := testguest.Spec{Segments: []testguest.Segment{{Paddr: 0x200000, Data: data, Memsz: uint64(len(data)) + 8192}}, Entry: 0x200000}
	probe, err := elf.NewFile(bytes.NewReader(spec.ELF()))
	require.NoError(t, err)
	// Make the segment's address congruent with its file offset, so that
	// its pages can be mapped.
	spec.Segments[0].Paddr += probe.Progs[0].Off % 4096
	spec.Entry = spec.Segments[0].Paddr
	image := spec.ELF()
	path := filepath.Join(t.TempDir(), "img")
	require.NoError(t, os.WriteFile(path, image, 0o644))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()

	img, err := ParseImage(image)
	require.NoError(t, err)
	l, err := Plan(img, 4<<20, "")
	require.NoError(t, err)
	want := make([]byte, 4<<20)
	require.NoError(t, l.Load(want))
	mem, err := unix.Mmap(-1, 0, 4<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	require.NoError(t, err)
	defer unix.Munmap(mem)
	require.NoError(t, l.LoadMapped(mem, image, f, nil))
	require.True(t, bytes.Equal(want, mem), "LoadMapped on fresh memory = Load")

	// The segment's whole pages come from the file...
	maps, err := os.ReadFile("/proc/self/maps")
	require.NoError(t, err)
	assert.Contains(t, string(maps), path)
	// ...copy-on-write: the guest's stores never reach it.
	first := (spec.Segments[0].Paddr + 4095) &^ 4095
	mem[first] ^= 0xff
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, image, got)
}

// TestPlanModule checks the image passed as PVH module 0: above RAM in a
// reserved range of the memory map (2 MiB-aligned; above 4 GiB when it
// would reach the device hole), its entry in the boot block, and no
// module when it is larger than MaxModule.
func TestPlanModule(t *testing.T) {
	data := testguest.Image(testguest.Hello())
	img, err := ParseImage(data)
	require.NoError(t, err)
	cmdline := "A=1 -- x"
	l, err := PlanModule(img, 64<<20, cmdline, data)
	require.NoError(t, err)
	require.True(t, l.Module())
	mem := make([]byte, 64<<20)
	require.NoError(t, l.Load(mem))
	si := ReadStartInfo(mem[l.StartInfo:])
	require.EqualValues(t, 1, si.NrModules)
	assert.Zero(t, si.ModlistPaddr%8)
	assert.Less(t, si.ModlistPaddr, uint64(1<<20))
	end := bytes.IndexByte(mem[si.CmdlinePaddr:], 0)
	assert.Equal(t, cmdline, string(mem[si.CmdlinePaddr:si.CmdlinePaddr+uint64(end)]), "the entry leaves the command line alone")
	paddr := binary.LittleEndian.Uint64(mem[si.ModlistPaddr:])
	size := binary.LittleEndian.Uint64(mem[si.ModlistPaddr+8:])
	assert.EqualValues(t, len(data), size)
	assert.Equal(t, uint64(64<<20), paddr, "first 2 MiB boundary above RAM")
	assert.Equal(t, paddr, l.ModuleAddr)
	assert.Equal(t, (size+4095)&^4095, l.ModuleSize)
	// RAM keeps all of -m; the module is a reserved range of its own.
	last := l.Memmap[len(l.Memmap)-1]
	assert.EqualValues(t, abi.MemReserved, last.Type)
	assert.Equal(t, paddr, last.Addr)
	assert.Equal(t, l.ModuleSize, last.Size)
	ramTop := uint64(0)
	for _, e := range l.Memmap {
		if e.Type == abi.MemRAM {
			ramTop = max(ramTop, e.Addr+e.Size)
		}
	}
	assert.Equal(t, uint64(64<<20), ramTop)

	// RAM ending just below the hole: the module goes above 4 GiB.
	l, err = PlanModule(img, LowMemEnd-1<<20, "", data)
	require.NoError(t, err)
	assert.Equal(t, uint64(HighMemStart), l.ModuleAddr)
	// RAM above 4 GiB: above its end.
	l, err = PlanModule(img, 5<<30+3<<20, "", data)
	require.NoError(t, err)
	assert.Equal(t, uint64(HighMemStart+(5<<30+3<<20-LowMemEnd)+1<<20), l.ModuleAddr)

	// Larger than MaxModule: left out, the boot goes on.
	big, err := unix.Mmap(-1, 0, MaxModule+1, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	require.NoError(t, err)
	defer unix.Munmap(big)
	l, err = PlanModule(img, 2<<20, "", big)
	require.NoError(t, err)
	assert.False(t, l.Module())
	mem = make([]byte, 2<<20)
	require.NoError(t, l.Load(mem))
	si = ReadStartInfo(mem[l.StartInfo:])
	assert.Zero(t, si.NrModules)
	assert.Zero(t, si.ModlistPaddr)
}

// TestDataHead: each writable segment's data and the first bytes of its
// BSS, page-rounded and within the segment's last page; read-only
// segments are left out.
func TestDataHead(t *testing.T) {
	const page = 4096
	data := testguest.Spec{
		Segments: []testguest.Segment{
			{Paddr: 0x400000, Data: make([]byte, 3*page)},
			{Paddr: 0x500100, Data: make([]byte, page), Memsz: page + 10*page, Writable: true},
			{Paddr: 0x600000, Data: make([]byte, 100), Memsz: 200, Writable: true},
		},
		Entry: 0x400000,
	}.ELF()
	img, err := ParseImage(data)
	require.NoError(t, err)
	l, err := Plan(img, 16<<20, "")
	require.NoError(t, err)
	assert.Equal(t, kexec.Ranges{
		kexec.RangeFromInterval(0x500000, 0x504000), // data to 0x501100, BSS to 0x503100, to its page's end
		kexec.RangeFromInterval(0x600000, 0x601000), // all of a small one
	}, l.DataHead(2*page))
	assert.Equal(t, kexec.Ranges{
		kexec.RangeFromInterval(0x500000, 0x502000),
		kexec.RangeFromInterval(0x600000, 0x601000),
	}, l.DataHead(0), "the data alone")
}
