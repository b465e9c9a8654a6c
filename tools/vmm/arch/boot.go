package arch

import (
	"encoding/binary"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/u-root/u-root/pkg/boot/kexec"

	"github.com/unigo-os/unigo/abi"
)

// MaxCmdline bounds the guest command line (env and args included).
const MaxCmdline = 64 << 10

// Boot block layout, all inside one reserved range below 1 MiB:
//
//	+0    GDT: null, 32-bit flat code (0x08), flat data (0x10), TSS (0x18)
//	+64   hvm_start_info
//	+128  memory map (hvm_memmap_table_entry[])
//	+...  NUL-terminated command line
const (
	gdtOffset       = 0
	startInfoOffset = 64
	memmapOffset    = 128

	// Segment selectors of the PVH entry state.
	CodeSelector = 0x08
	DataSelector = 0x10
	TSSSelector  = 0x18
)

// gdt holds the descriptors the hidden segment state at entry corresponds
// to, so a guest that reloads a selector before installing its own GDT gets
// the same flat segments.
var gdt = [4]uint64{
	0,
	0x00CF_9B00_0000_FFFF, // code: base 0, limit 4G, 32-bit, DPL0, exec/read, accessed
	0x00CF_9300_0000_FFFF, // data: base 0, limit 4G, 32-bit, DPL0, read/write, accessed
	0x0000_8B00_0000_0067, // 32-bit busy TSS, base 0, limit 0x67
}

// Layout is the full guest-physical plan for one boot: the image segments,
// the boot block, and the memory map the guest is told about.
type Layout struct {
	// Memory holds the E820 view (Phys) and everything to copy into guest
	// RAM (Segments: image segments plus the boot block).
	Memory kexec.Memory
	// Entry is the PVH entry point; StartInfo the address passed in EBX.
	Entry     uint32
	StartInfo uint64
	GDT       uint64
	Cmdline   uint64
	// Memmap is what the guest finds at StartInfo.MemmapPaddr.
	Memmap []abi.HVMMemmapEntry
	// FileText are the runs of whole pages of the image's read-only
	// segments (text, read-only data) that LoadMapped mapped from the
	// image file or copied into a text block, in address order; empty
	// until then.
	FileText  []FilePages
	readOnly  kexec.Ranges   // the image's read-only segments (Image.ReadOnly)
	imageSegs kexec.Segments // all its segments (Image.Segments)
	// The image file passed as PVH module 0 (PlanModule), when ModuleSize
	// is not 0: guest-physical [ModuleAddr, ModuleAddr+ModuleSize), page
	// rounded, outside RAM; the memory map calls it reserved, and the
	// monitor maps the file there (vmm's mapModule).
	ModuleAddr, ModuleSize uint64
}

// FilePages is a run of whole guest pages holding the image file's bytes
// from file offset Off: guest-physical Phys, mapped from the file, or
// copied into anonymous memory when Copied (LoadMapped's text blocks).
type FilePages struct {
	Phys   kexec.Range
	Off    uint64
	Copied bool
}

// TextBlocks returns the 2 MiB-aligned ranges of guest memory that the
// kernel maps with one 2 MiB page when told the host backs its image with
// huge pages (abi.HugeImageParam; kernel/mm's imageHugeLeaf) and that
// hold read-only segments only: each lies within the image's extent, and
// every segment meeting it is read-only (gaps between them are zeros).
func (l *Layout) TextBlocks() kexec.Ranges {
	const huge = 2 << 20
	if len(l.imageSegs) == 0 {
		return nil
	}
	lo, hi := uint64(l.imageSegs[0].Phys.Start), uint64(l.imageSegs[0].Phys.End())
	for _, sg := range l.imageSegs {
		lo, hi = min(lo, uint64(sg.Phys.Start)), max(hi, uint64(sg.Phys.End()))
	}
	var blocks kexec.Ranges
	for b := roundUp(lo, huge); b+huge <= hi && b+huge > b; b += huge {
		blk := kexec.Range{Start: uintptr(b), Size: huge}
		ok := false
		for _, r := range l.Memory.Segments {
			if r.Phys.Overlaps(blk) {
				if ok = inside(l.readOnly, r.Phys); !ok {
					break
				}
			}
		}
		if ok {
			blocks = append(blocks, blk)
		}
	}
	return blocks
}

// DataHead returns the page-rounded guest memory each writable segment of
// the image begins with: its bytes from the file (initialised data) and
// the first zeroed bytes of the zero-filled rest (BSS). A Go program's
// BSS is .bss then .noptrbss, each sorted by size by the linker: its head
// holds the runtime's and the kernel's small variables, its tail large
// buffers, mostly untouched.
func (l *Layout) DataHead(zeroed uint64) kexec.Ranges {
	const page = 4096
	var rs kexec.Ranges
	for _, sg := range l.imageSegs {
		if inside(l.readOnly, sg.Phys) {
			continue
		}
		start := uint64(sg.Phys.Start) &^ (page - 1)
		end := min(uint64(sg.Phys.End()), uint64(sg.Phys.Start)+uint64(len(sg.Buf))+zeroed)
		if end > start {
			rs = append(rs, kexec.RangeFromInterval(uintptr(start), uintptr(roundUp(end, page))))
		}
	}
	return rs
}

// Module reports whether the image file is passed as PVH module 0.
func (l *Layout) Module() bool { return l.ModuleSize != 0 }

// ModuleAlign aligns the module's guest-physical address: 2 MiB, so the
// memory map's RAM and the module never share a guest 2 MiB page.
const ModuleAlign = 2 << 20

// MaxModule bounds the module; a larger image is not passed (the guest
// refuses modules above 1 GiB too).
const MaxModule = 1 << 30

// placeModule returns where a module of n bytes goes: outside RAM, so it
// costs the guest none of its -m, at the first ModuleAlign boundary above
// the highest RAM range, or at HighMemStart when it would reach into the
// hole below 4 GiB that holds the devices.
func placeModule(ram kexec.Ranges, n uint64) uint64 {
	addr := roundUp(uint64(ram[len(ram)-1].End()), ModuleAlign)
	if addr <= LowMemEnd && addr+roundUp(n, 4096) > LowMemEnd {
		addr = HighMemStart
	}
	return addr
}

// Plan places img and the boot block in memSize bytes of guest RAM and
// builds hvm_start_info with cmdline. It fails (ErrBadImage) if a segment
// lies outside RAM.
func Plan(img *Image, memSize uint64, cmdline string) (*Layout, error) {
	return PlanModule(img, memSize, cmdline, nil)
}

// PlanModule is Plan passing module (the image file itself, which the
// guest serves as /init and /proc/self/exe) as PVH module 0, placed above
// RAM (placeModule) in a range the memory map calls reserved. The bytes
// are not part of Memory: the monitor maps them (vmm's mapModule). A module
// larger than MaxModule is left out (Module reports whether it is in).
func PlanModule(img *Image, memSize uint64, cmdline string, module []byte) (*Layout, error) {
	if err := CheckMemSize(memSize); err != nil {
		return nil, err
	}
	if len(cmdline)+1 > MaxCmdline {
		return nil, fmt.Errorf("guest command line too long (%d bytes, max %d)", len(cmdline), MaxCmdline-1)
	}
	ram := RAM(memSize)
	var m kexec.Memory
	for _, r := range ram {
		m.Phys = append(m.Phys, kexec.TypedRange{Range: r, Type: kexec.RangeRAM})
	}
	var top uint64 // the highest segment end: the -m that loads them all
	for _, s := range img.Segments {
		top = max(top, uint64(s.Phys.End()))
	}
	for _, s := range img.Segments {
		if !inside(ram, s.Phys) {
			return nil, fmt.Errorf("%w: segment %v lies outside guest RAM %v (needs -m %s or more, or a different link address)",
				ErrBadImage, s.Phys, ram, FormatSize(roundUp(top, 1<<20)))
		}
		m.Segments.Insert(s)
	}

	// The reservation splits at most one RAM range in two, so the final
	// map has at most len(Phys)+2 entries.
	var mod kexec.Range
	if n := uint64(len(module)); n > 0 && n <= MaxModule {
		mod = kexec.Range{Start: uintptr(placeModule(ram, n)), Size: uint(roundUp(n, 4096))}
		m.Phys = append(m.Phys, kexec.TypedRange{Range: mod, Type: kexec.RangeReserved})
	}

	maxEntries := len(m.Phys) + 2
	size := memmapOffset + maxEntries*abi.HVMMemmapEntrySize + len(cmdline) + 1
	if mod.Size > 0 {
		size = int(roundUp(uint64(size), 8)) + abi.HVMModlistSize
	}
	limit := kexec.RangeFromInterval(bootInfoMin, bootInfoLimit)
	block, err := m.ReservePhys(uint(size), limit)
	if err != nil {
		return nil, fmt.Errorf("%w: no room below 1 MiB for the %d-byte boot block (image segments occupy it)", ErrBadImage, size)
	}

	l := &Layout{
		readOnly:  img.ReadOnly,
		imageSegs: img.Segments,
		Entry:     img.Entry,
		GDT:       uint64(block.Start) + gdtOffset,
		StartInfo: uint64(block.Start) + startInfoOffset,
	}
	for _, tr := range m.Phys {
		typ := uint32(abi.MemReserved)
		if tr.Type == kexec.RangeRAM {
			typ = abi.MemRAM
		}
		l.Memmap = append(l.Memmap, abi.HVMMemmapEntry{Addr: uint64(tr.Start), Size: uint64(tr.Size), Type: typ})
	}
	memmapAddr := uint64(block.Start) + memmapOffset
	l.Cmdline = memmapAddr + uint64(len(l.Memmap))*abi.HVMMemmapEntrySize

	buf := make([]byte, block.Size)
	le := binary.LittleEndian
	for i, d := range gdt {
		le.PutUint64(buf[gdtOffset+8*i:], d)
	}
	si := abi.HVMStartInfo{
		Magic:         abi.HVMStartMagic,
		Version:       abi.StartInfoVersion,
		CmdlinePaddr:  l.Cmdline,
		MemmapPaddr:   memmapAddr,
		MemmapEntries: uint32(len(l.Memmap)),
	}
	if mod.Size > 0 {
		ml := roundUp(l.Cmdline+uint64(len(cmdline))+1, 8)
		o := ml - uint64(block.Start)
		le.PutUint64(buf[o:], uint64(mod.Start))
		le.PutUint64(buf[o+8:], uint64(len(module)))
		si.NrModules, si.ModlistPaddr = 1, ml
		l.ModuleAddr, l.ModuleSize = uint64(mod.Start), uint64(mod.Size)
	}
	putStartInfo(buf[startInfoOffset:], &si)
	for i, e := range l.Memmap {
		o := memmapOffset + i*abi.HVMMemmapEntrySize
		le.PutUint64(buf[o:], e.Addr)
		le.PutUint64(buf[o+8:], e.Size)
		le.PutUint32(buf[o+16:], e.Type)
	}
	copy(buf[l.Cmdline-uint64(block.Start):], cmdline)
	m.Segments.Insert(kexec.NewSegment(buf, block))
	l.Memory = m
	return l, nil
}

var _ [abi.HVMStartInfoSize - unsafe.Sizeof(abi.HVMStartInfo{})]struct{}
var _ [unsafe.Sizeof(abi.HVMStartInfo{}) - abi.HVMStartInfoSize]struct{}

func putStartInfo(b []byte, si *abi.HVMStartInfo) {
	le := binary.LittleEndian
	le.PutUint32(b[0:], si.Magic)
	le.PutUint32(b[4:], si.Version)
	le.PutUint32(b[8:], si.Flags)
	le.PutUint32(b[12:], si.NrModules)
	le.PutUint64(b[16:], si.ModlistPaddr)
	le.PutUint64(b[24:], si.CmdlinePaddr)
	le.PutUint64(b[32:], si.RSDPPaddr)
	le.PutUint64(b[40:], si.MemmapPaddr)
	le.PutUint32(b[48:], si.MemmapEntries)
}

// ReadStartInfo decodes an hvm_start_info (used by tests and diagnostics).
func ReadStartInfo(b []byte) abi.HVMStartInfo {
	le := binary.LittleEndian
	return abi.HVMStartInfo{
		Magic:         le.Uint32(b[0:]),
		Version:       le.Uint32(b[4:]),
		Flags:         le.Uint32(b[8:]),
		NrModules:     le.Uint32(b[12:]),
		ModlistPaddr:  le.Uint64(b[16:]),
		CmdlinePaddr:  le.Uint64(b[24:]),
		RSDPPaddr:     le.Uint64(b[32:]),
		MemmapPaddr:   le.Uint64(b[40:]),
		MemmapEntries: le.Uint32(b[48:]),
	}
}

// Load copies every segment of the layout into guest memory, where the
// guest-physical address is the offset into mem, and zero-fills the part of
// each segment beyond its file bytes (mem may be reused).
func (l *Layout) Load(mem []byte) error { return l.load(mem, true) }

// LoadZeroed is Load for mem known to be all zeros (a fresh anonymous
// mapping): the part of each segment beyond its file bytes, the image's
// BSS, is left untouched, so it costs neither page faults nor resident
// memory until the guest uses it (examples/httpd has 33 MiB of BSS, most
// of it a crypto package's buffer it never touches).
func (l *Layout) LoadZeroed(mem []byte) error { return l.load(mem, false) }

// LoadMapped is LoadZeroed for mem that is an mmap'd region (a fresh
// anonymous mapping) and an image read from file f, whose contents data
// are (the segments alias data). The whole pages of each segment's file
// bytes are mapped from f over mem, private and copy-on-write, instead of
// copied: guests booted from one image share its text and read-only data
// in the host's page cache until they write a page, and booting touches no
// memory for them. The rest (partial pages, segments whose file offset and
// address are not congruent modulo the page size, what is not in data) is
// copied as LoadZeroed does, and so are the pages inside blocks (some of
// TextBlocks, which the caller backs with huge pages). f must not be
// modified in place while a guest runs from it (unigo build and go build
// replace the file instead). The whole pages of read-only segments, mapped
// or copied into blocks, are recorded in FileText.
func (l *Layout) LoadMapped(mem, data []byte, f *os.File, blocks kexec.Ranges) error {
	const page = 4096
	l.FileText = nil
	for _, s := range l.Memory.Segments {
		end := uint64(s.Phys.End())
		if end > uint64(len(mem)) {
			return fmt.Errorf("segment %v beyond guest memory (%#x bytes)", s.Phys, len(mem))
		}
		off, ok := offsetIn(data, s.Buf)
		phys := uint64(s.Phys.Start)
		first, last := roundUp(phys, page), (phys+uint64(len(s.Buf)))&^(page-1)
		if !ok || (phys-off)%page != 0 || last <= first {
			copy(mem[phys:end], s.Buf)
			continue
		}
		readOnly := inside(l.readOnly, s.Phys)
		// [first, last) in pieces, each wholly inside a block or outside all.
		for a := first; a < last; {
			b, copied := last, false
			for _, blk := range blocks {
				bs, be := uint64(blk.Start), uint64(blk.End())
				switch {
				case a >= bs && a < be:
					b, copied = min(last, be), true
				case bs > a:
					b = min(b, bs)
				}
			}
			if copied {
				copy(mem[a:b], s.Buf[a-phys:b-phys])
			} else if _, err := unix.MmapPtr(int(f.Fd()), int64(off+a-phys), unsafe.Pointer(&mem[a]), uintptr(b-a),
				unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED); err != nil {
				return fmt.Errorf("mapping the image into guest memory: %w", err)
			}
			if readOnly {
				l.FileText = append(l.FileText, FilePages{
					Phys:   kexec.RangeFromInterval(uintptr(a), uintptr(b)),
					Off:    off + a - phys,
					Copied: copied,
				})
			}
			a = b
		}
		copy(mem[phys:first], s.Buf)
		copy(mem[last:end], s.Buf[last-phys:])
	}
	return nil
}

// offsetIn returns the offset of sub within data, if sub is a non-empty
// slice of data.
func offsetIn(data, sub []byte) (uint64, bool) {
	if len(sub) == 0 || len(data) == 0 {
		return 0, false
	}
	base, p := uintptr(unsafe.Pointer(unsafe.SliceData(data))), uintptr(unsafe.Pointer(unsafe.SliceData(sub)))
	if p < base || p-base+uintptr(len(sub)) > uintptr(len(data)) {
		return 0, false
	}
	return uint64(p - base), true
}

func (l *Layout) load(mem []byte, zero bool) error {
	for _, s := range l.Memory.Segments {
		end := uint64(s.Phys.End())
		if end > uint64(len(mem)) {
			return fmt.Errorf("segment %v beyond guest memory (%#x bytes)", s.Phys, len(mem))
		}
		dst := mem[s.Phys.Start:end]
		n := copy(dst, s.Buf)
		if zero {
			clear(dst[n:])
		}
	}
	return nil
}

func inside(rs kexec.Ranges, r kexec.Range) bool {
	for _, q := range rs {
		if q.IsSupersetOf(r) {
			return true
		}
	}
	return false
}

func roundUp(n, a uint64) uint64 { return (n + a - 1) &^ (a - 1) }
