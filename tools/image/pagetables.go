package image

import "fmt"

// PageTableSymbol is rt's boot data block whose first 4 KiB-aligned pages
// hold the boot page tables (PML4, PDPT, PD0; rt/boot_amd64.s, boot32).
const PageTableSymbol = "github.com/unigo-os/unigo/rt.boot32"

// Boot page-table layout shared with rt/boot_amd64.s: three 4 KiB tables
// from the first page boundary inside the symbol, mapping 0..1 GiB with
// 2 MiB pages, present, writable and user-accessible (the kernel's Go code
// runs at CPL 3).
const (
	ptPage      = 4096
	ptTables    = 3
	ptTableArea = 0x4000 // B32_PT's extent in boot32
	pteLink     = 0x027  // present|writable|user|accessed
	pteHuge2M   = 0x0e7  // present|writable|user|accessed|dirty|2 MiB page
)

// bootPageTables stores the boot identity map in the image's copy of
// boot32, so that pvhEntry, finding PML4[0] set, skips building it at
// emulated CPL 0. The tables are physical addresses: the image is linked
// at a fixed address with paddr = vaddr. It changes nothing when the
// symbol is absent or lies in no file-backed part of a segment (an image
// linked before boot32 had file bytes, or without a symbol table): the
// guest then builds the same tables. Writing them again is harmless.
func (p *parsed) bootPageTables(out []byte) error {
	v, size, ok := p.lookupObject(PageTableSymbol)
	if !ok {
		return nil
	}
	if size < ptTableArea {
		return fmt.Errorf("%s is %d bytes, want at least %#x", PageTableSymbol, size, ptTableArea)
	}
	p.writePageTables(out, v)
	return nil
}

// writePageTables writes the tables at the first page boundary at or above
// v, when the three pages lie in the file bytes of one PT_LOAD.
func (p *parsed) writePageTables(out []byte, v uint64) {
	base := alignUp(v, ptPage)
	if base < v || base-v > ptTableArea-ptTables*ptPage {
		return
	}
	for _, ph := range p.progs {
		if ph.typ != ptLoad || base < ph.vaddr || base+ptTables*ptPage > ph.vaddr+ph.filesz {
			continue
		}
		off := ph.off + (base - ph.vaddr)
		pa := ph.paddr + (base - ph.vaddr)
		t := out[off : off+ptTables*ptPage]
		clear(t)
		le.PutUint64(t[0:], pa+ptPage|pteLink)        // PML4[0] -> PDPT
		le.PutUint64(t[ptPage:], pa+2*ptPage|pteLink) // PDPT[0] -> PD0
		for i := uint64(0); i < 512; i++ {            // PD0: 512 x 2 MiB
			le.PutUint64(t[2*ptPage+i*8:], i<<21|pteHuge2M)
		}
		return
	}
}

// lookupObject returns the value and size of the data symbol named name
// from the static symbol table, or false when there is none.
func (p *parsed) lookupObject(name string) (value, size uint64, ok bool) {
	var symtab *shdr
	for i := range p.sects {
		if p.sects[i].typ == shtSymtab {
			symtab = &p.sects[i]
			break
		}
	}
	if symtab == nil || int(symtab.link) >= len(p.sects) {
		return 0, 0, false
	}
	syms, ok1 := p.sectionData(*symtab)
	strs, ok2 := p.sectionData(p.sects[symtab.link])
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	for off := 0; off+symSize <= len(syms); off += symSize {
		s := syms[off : off+symSize]
		if s[4]&0xf != sttObject {
			continue
		}
		if n, ok := cstring(strs, le.Uint32(s[0:])); ok && string(n) == name {
			return le.Uint64(s[8:]), le.Uint64(s[16:]), true
		}
	}
	return 0, 0, false
}
