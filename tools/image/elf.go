package image

import (
	"encoding/binary"
	"fmt"
)

// This file is a deliberately small ELF64 little-endian reader. The writer
// patches raw bytes, so it needs exact file offsets of every header and
// section, and it must never panic on hostile input (FuzzWrite feeds it
// arbitrary bytes). Every offset read from the file is bounds-checked here
// before use; nothing else in the package indexes the input directly.

var le = binary.LittleEndian

// ELF constants used by the writer (see the System V ABI, ELF64 supplement).
const (
	ehdrSize = 64
	phdrSize = 56
	shdrSize = 64
	symSize  = 24

	elfClass64  = 2
	elfData2LSB = 1
	etExec      = 2
	etDyn       = 3
	emX86_64    = 62
	em386       = 3

	ptLoad    = 1
	ptDynamic = 2
	ptInterp  = 3
	ptNote    = 4
	ptPhdr    = 6

	pfX = 1
	pfR = 4

	shtSymtab = 2
	shtNobits = 8

	sttObject = 1
	sttFunc   = 2

	// pnXNum in e_phnum means the real count lives in section 0; Go never
	// emits it and we refuse it rather than implement it.
	pnXNum = 0xffff
)

// Offsets of the ELF header fields the writer patches.
const (
	offPhoff = 32
	offShoff = 40
	offPhnum = 56
)

type ehdr struct {
	typ, machine uint16
	entry        uint64
	phoff, shoff uint64
	phentsize    uint16
	phnum        uint16
	shentsize    uint16
	shnum        uint16
}

type phdr struct {
	typ, flags                     uint32
	off, vaddr, paddr, filesz, mem uint64
	align                          uint64
}

type shdr struct {
	name, typ  uint32
	addr, off  uint64
	size       uint64
	link, info uint32
	entsize    uint64
}

// parsed is an executable's headers with their file positions.
type parsed struct {
	b     []byte
	eh    ehdr
	progs []phdr
	sects []shdr
}

// parseHeader validates the ELF identification and header in b (at least
// the header's 64 bytes; file-size bounds are checked by the caller). The errors are
// the one-line reasons a user sees for an input that is not a Go static
// executable for x86-64.
func parseHeader(b []byte) (ehdr, error) {
	var eh ehdr
	if len(b) < 4 || string(b[:4]) != "\x7fELF" {
		return eh, fmt.Errorf("not an ELF file")
	}
	if len(b) < ehdrSize {
		return eh, fmt.Errorf("truncated ELF header")
	}
	if b[4] != elfClass64 {
		return eh, fmt.Errorf("not a 64-bit ELF (class %d); unigo images are ELF64 x86-64", b[4])
	}
	if b[5] != elfData2LSB {
		return eh, fmt.Errorf("not a little-endian ELF")
	}
	eh.typ = le.Uint16(b[16:])
	eh.machine = le.Uint16(b[18:])
	eh.entry = le.Uint64(b[24:])
	eh.phoff = le.Uint64(b[32:])
	eh.shoff = le.Uint64(b[40:])
	eh.phentsize = le.Uint16(b[54:])
	eh.phnum = le.Uint16(b[56:])
	eh.shentsize = le.Uint16(b[58:])
	eh.shnum = le.Uint16(b[60:])
	if eh.machine != emX86_64 {
		return eh, fmt.Errorf("not an x86-64 executable (e_machine %d); build with GOARCH=amd64", eh.machine)
	}
	switch eh.typ {
	case etExec:
	case etDyn:
		return eh, fmt.Errorf("position-independent executable (ET_DYN); build without -buildmode=pie")
	default:
		return eh, fmt.Errorf("not an executable (e_type %d)", eh.typ)
	}
	if eh.phnum == 0 || eh.phnum == pnXNum {
		return eh, fmt.Errorf("bad program header count %d", eh.phnum)
	}
	if eh.phentsize != phdrSize {
		return eh, fmt.Errorf("bad program header size %d", eh.phentsize)
	}
	return eh, nil
}

// inFile reports whether [off, off+n) lies within b, without overflowing.
func inFile(b []byte, off, n uint64) bool {
	size := uint64(len(b))
	return off <= size && n <= size-off
}

func parsePhdr(b []byte) phdr {
	return phdr{
		typ:    le.Uint32(b[0:]),
		flags:  le.Uint32(b[4:]),
		off:    le.Uint64(b[8:]),
		vaddr:  le.Uint64(b[16:]),
		paddr:  le.Uint64(b[24:]),
		filesz: le.Uint64(b[32:]),
		mem:    le.Uint64(b[40:]),
		align:  le.Uint64(b[48:]),
	}
}

func putPhdr(b []byte, p phdr) {
	le.PutUint32(b[0:], p.typ)
	le.PutUint32(b[4:], p.flags)
	le.PutUint64(b[8:], p.off)
	le.PutUint64(b[16:], p.vaddr)
	le.PutUint64(b[24:], p.paddr)
	le.PutUint64(b[32:], p.filesz)
	le.PutUint64(b[40:], p.mem)
	le.PutUint64(b[48:], p.align)
}

// parse reads the header, all program headers and, when present, all
// section headers. Program headers whose file range falls outside the file
// are rejected: a loader would fail on them anyway.
func parse(b []byte) (*parsed, error) {
	eh, err := parseHeader(b)
	if err != nil {
		return nil, err
	}
	if !inFile(b, eh.phoff, uint64(eh.phnum)*phdrSize) {
		return nil, fmt.Errorf("program headers lie outside the file")
	}
	p := &parsed{b: b, eh: eh}
	for i := uint64(0); i < uint64(eh.phnum); i++ {
		ph := parsePhdr(b[eh.phoff+i*phdrSize:])
		switch ph.typ {
		case ptInterp, ptDynamic:
			return nil, fmt.Errorf("dynamically linked executable; build with CGO_ENABLED=0")
		}
		if ph.typ != 0 && !inFile(b, ph.off, ph.filesz) {
			return nil, fmt.Errorf("program header %d lies outside the file", i)
		}
		p.progs = append(p.progs, ph)
	}
	if eh.shnum > 0 {
		if eh.shentsize != shdrSize {
			return nil, fmt.Errorf("bad section header size %d", eh.shentsize)
		}
		if !inFile(b, eh.shoff, uint64(eh.shnum)*shdrSize) {
			return nil, fmt.Errorf("section headers lie outside the file")
		}
		for i := uint64(0); i < uint64(eh.shnum); i++ {
			s := b[eh.shoff+i*shdrSize:]
			p.sects = append(p.sects, shdr{
				name:    le.Uint32(s[0:]),
				typ:     le.Uint32(s[4:]),
				addr:    le.Uint64(s[16:]),
				off:     le.Uint64(s[24:]),
				size:    le.Uint64(s[32:]),
				link:    le.Uint32(s[40:]),
				info:    le.Uint32(s[44:]),
				entsize: le.Uint64(s[56:]),
			})
		}
	}
	return p, nil
}

// sectionData returns a section's bytes, or false when they are not in the
// file.
func (p *parsed) sectionData(s shdr) ([]byte, bool) {
	if s.typ == shtNobits || !inFile(p.b, s.off, s.size) {
		return nil, false
	}
	return p.b[s.off : s.off+s.size], true
}

// lookupFunc returns the value of the function symbol named name from the
// static symbol table. A Go assembly TEXT symbol that is also referenced
// from Go code gets an ABIInternal wrapper carrying the plain name, and the
// assembly body itself is then called name+".abi0" in the ELF symbol table;
// the body is what the monitor must jump to, so that spelling wins.
func (p *parsed) lookupFunc(name string) (uint64, error) {
	var symtab *shdr
	for i := range p.sects {
		if p.sects[i].typ == shtSymtab {
			symtab = &p.sects[i]
			break
		}
	}
	if symtab == nil {
		return 0, fmt.Errorf("no symbol table (was the program linked with -ldflags=-s?)")
	}
	syms, ok := p.sectionData(*symtab)
	if !ok {
		return 0, fmt.Errorf("symbol table lies outside the file")
	}
	if int(symtab.link) >= len(p.sects) {
		return 0, fmt.Errorf("symbol table has a bad string table link")
	}
	strs, ok := p.sectionData(p.sects[symtab.link])
	if !ok {
		return 0, fmt.Errorf("symbol string table lies outside the file")
	}
	abi0 := name + ".abi0"
	var plain, body uint64
	var havePlain, haveBody bool
	for off := 0; off+symSize <= len(syms); off += symSize {
		s := syms[off : off+symSize]
		if s[4]&0xf != sttFunc {
			continue
		}
		n, ok := cstring(strs, le.Uint32(s[0:]))
		if !ok {
			continue
		}
		// string(n) in a switch does not allocate.
		switch string(n) {
		case abi0:
			body, haveBody = le.Uint64(s[8:]), true
		case name:
			plain, havePlain = le.Uint64(s[8:]), true
		}
	}
	switch {
	case haveBody:
		return body, nil
	case havePlain:
		return plain, nil
	}
	return 0, fmt.Errorf("no function symbol %s (does the program import github.com/unigo-os/unigo/kernel?)", name)
}

// cstring returns the NUL-terminated string at off in tab.
func cstring(tab []byte, off uint32) ([]byte, bool) {
	if uint64(off) >= uint64(len(tab)) {
		return nil, false
	}
	t := tab[off:]
	for i, c := range t {
		if c == 0 {
			return t[:i], true
		}
	}
	return nil, false
}
