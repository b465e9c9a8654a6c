package image

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/unigo-os/unigo/abi"
)

// EntrySymbol is the assembly TEXT symbol in package rt that monitors enter
// through the PVH protocol, in 32-bit protected mode with paging off.
const EntrySymbol = "github.com/unigo-os/unigo/rt.pvhEntry"

// Options tunes Write.
type Options struct {
	// EntrySymbol overrides the symbol whose address becomes the PVH entry.
	// Empty means the package constant EntrySymbol. Tests use it to mark a
	// symbol in a package main of their own.
	EntrySymbol string
	// EntryAddr, when not zero, is the entry symbol's virtual address as
	// the caller found it, for an executable without a symbol table (go
	// test strips the binaries it runs; the address is then read from
	// the Go function table, .gopclntab).
	EntryAddr uint64
}

// The note Write emits: a 12-byte header, the name "Xen\0" (4 bytes, so no
// padding is needed for either 4- or 8-byte note alignment) and an 8-byte
// little-endian descriptor holding the physical entry address. QEMU reads
// the descriptor at 12 + align_up(namesz, p_align) = 16 for p_align 4.
const (
	noteName    = abi.XenNoteName + "\x00"
	noteHdrSize = 12
	noteDescOff = noteHdrSize + uint64(len(noteName))
	noteSize    = noteDescOff + 8
	noteAlign   = 4

	// maxNoteSegment bounds the PT_NOTE segments the reader and writer
	// look at; real note segments are a few hundred bytes.
	maxNoteSegment = 64 << 10
)

// Write returns a copy of the static Go executable exe that also carries a
// PVH entry note pointing at opt's entry symbol. The ELF entry point and all
// loaded bytes are unchanged, so the result still runs as a Linux process.
//
// The new PT_NOTE program header is appended to the program header table
// and the note itself placed right after it, both in the zero padding the
// Go linker leaves before the first section of the first PT_LOAD. Go puts
// the section header table there too; it is moved down behind the note, or
// to the end of the file when the padding is too small. Anything else in
// the way is an error, never silently overwritten.
//
// Write also stores the boot page tables in rt's boot data
// (bootPageTables), so that the PVH entry need not build them.
//
// Write is idempotent: for an input that already has a PVH note, it only
// rewrites that note's descriptor and the page tables.
func Write(exe []byte, opt Options) ([]byte, error) {
	p, err := parse(exe)
	if err != nil {
		return nil, err
	}
	sym := opt.EntrySymbol
	if sym == "" {
		sym = EntrySymbol
	}
	entry, err := p.pvhEntryFor(sym, opt.EntryAddr)
	if err != nil {
		return nil, err
	}

	out := bytes.Clone(exe)
	if err := p.bootPageTables(out); err != nil {
		return nil, err
	}
	if descOff, descSize, ok := p.findXenNote(); ok {
		switch descSize {
		case 8:
			le.PutUint64(out[descOff:], uint64(entry))
		case 4:
			le.PutUint32(out[descOff:], entry)
		default:
			return nil, fmt.Errorf("existing Xen PVH note has a %d-byte descriptor", descSize)
		}
		return out, nil
	}
	// The system-call sites note goes into the same segment when there is
	// room; without it the kernel simply rewrites no site.
	if sites := SyscallSites(exe); len(sites) > 0 {
		if img, err := p.addNote(bytes.Clone(out), entry, sitesNote(sites)); err == nil {
			return img, nil
		}
	}
	return p.addNote(out, entry, nil)
}

// pvhEntryFor resolves sym to a physical address a 32-bit monitor can jump
// to: it must be inside an executable PT_LOAD and below 4 GiB.
// A non-zero addr is sym's virtual address, not looked up.
func (p *parsed) pvhEntryFor(sym string, addr uint64) (uint32, error) {
	v := addr
	if v == 0 {
		var err error
		if v, err = p.lookupFunc(sym); err != nil {
			return 0, err
		}
	}
	for _, ph := range p.progs {
		if ph.typ != ptLoad || v < ph.vaddr || v-ph.vaddr >= ph.filesz {
			continue
		}
		if ph.flags&pfX == 0 {
			return 0, fmt.Errorf("%s at %#x is not in an executable segment", sym, v)
		}
		pa := ph.paddr + (v - ph.vaddr)
		if pa < ph.paddr || pa >= 1<<32 || pa == 0 {
			return 0, fmt.Errorf("%s at physical %#x is not addressable in 32-bit mode", sym, pa)
		}
		return uint32(pa), nil
	}
	return 0, fmt.Errorf("%s at %#x is not inside any loaded segment", sym, v)
}

// findXenNote locates the descriptor of an existing PVH entry note.
func (p *parsed) findXenNote() (descOff uint64, descSize uint32, ok bool) {
	for _, ph := range p.progs {
		if ph.typ != ptNote || ph.filesz > maxNoteSegment {
			continue
		}
		seg := p.b[ph.off : ph.off+ph.filesz]
		abi.ELFNotes(seg, ph.align, func(name []byte, typ uint32, desc []byte, off uint64) bool {
			if string(name) == noteName && typ == abi.XenElfnotePhys32Entry {
				descOff, descSize, ok = ph.off+off, uint32(len(desc)), true
				return false
			}
			return true
		})
		if ok {
			return
		}
	}
	return 0, 0, false
}

// addNote lays out and writes the new program header and note into out, a
// copy of p.b, with the notes in extra (whole, 4-byte aligned notes)
// after the PVH note in the same segment.
func (p *parsed) addNote(out []byte, entry uint32, extra []byte) ([]byte, error) {
	eh := p.eh
	phEnd := eh.phoff + uint64(eh.phnum)*phdrSize
	newPhEnd := phEnd + phdrSize

	// The program header table must sit in a PT_LOAD (the kernel hands
	// its address to the program as AT_PHDR, and the Go runtime reads it)
	// and the new entry must stay there, so the gap we use is bounded by
	// the end of that segment's file bytes.
	var load *phdr
	for i := range p.progs {
		ph := &p.progs[i]
		if ph.typ == ptLoad && ph.off <= eh.phoff && phEnd <= ph.off+ph.filesz {
			load = ph
			break
		}
	}
	if load == nil {
		return nil, fmt.Errorf("program header table is not inside a loaded segment")
	}
	limit := load.off + load.filesz

	// Find the first bytes after the table that belong to something:
	// section contents and non-LOAD segments (Go's own build-ID note).
	// The section header table is not counted: it is moved.
	shStart := eh.shoff
	shLen := uint64(eh.shnum) * shdrSize
	shEnd := shStart + shLen
	occupied := func(off, n uint64) error {
		if n == 0 {
			return nil
		}
		end := off + n
		if end <= phEnd || off >= limit {
			return nil
		}
		if off < phEnd {
			return fmt.Errorf("file bytes %#x-%#x overlap the program header table", off, end)
		}
		limit = off
		return nil
	}
	for _, s := range p.sects {
		if s.typ == shtNobits {
			continue
		}
		if err := occupied(s.off, s.size); err != nil {
			return nil, err
		}
	}
	for _, ph := range p.progs {
		if ph.typ == ptLoad || ph.typ == ptPhdr {
			continue
		}
		if err := occupied(ph.off, ph.filesz); err != nil {
			return nil, err
		}
	}
	if eh.phoff < ehdrSize {
		return nil, fmt.Errorf("program header table overlaps the ELF header")
	}

	moveSh := shLen > 0 && shEnd > phEnd && shStart < limit
	if moveSh && shStart < phEnd {
		return nil, fmt.Errorf("section header table overlaps the program header table")
	}

	noteOff := alignUp(newPhEnd, 8)
	segSize := noteSize + uint64(len(extra))
	noteEnd := noteOff + segSize
	if noteEnd > limit {
		return nil, fmt.Errorf("no room for the PVH note: %d bytes free after the program headers, need %d", sat(limit, phEnd), noteEnd-phEnd)
	}
	usedEnd := noteEnd
	newShoff := eh.shoff
	if moveSh {
		newShoff = alignUp(noteEnd, 8)
		if newShoff+shLen <= limit {
			usedEnd = newShoff + shLen
		} else {
			newShoff = alignUp(uint64(len(out)), 8)
		}
	}

	// Everything we are about to overwrite must be padding, apart from the
	// section header table we are moving out of the way.
	var sh []byte
	if moveSh {
		sh = bytes.Clone(out[shStart:shEnd])
		clear(out[shStart:shEnd])
	}
	for i := phEnd; i < usedEnd; i++ {
		if out[i] != 0 {
			return nil, fmt.Errorf("header padding at file offset %#x is not zero; refusing to overwrite it", i)
		}
	}
	if moveSh {
		if newShoff >= uint64(len(out)) {
			out = append(out, make([]byte, newShoff-uint64(len(out)))...)
			out = append(out, sh...)
		} else {
			copy(out[newShoff:], sh)
		}
		le.PutUint64(out[offShoff:], newShoff)
	}

	putPhdr(out[phEnd:], phdr{
		typ:    ptNote,
		flags:  pfR,
		off:    noteOff,
		vaddr:  load.vaddr + (noteOff - load.off),
		paddr:  load.paddr + (noteOff - load.off),
		filesz: segSize,
		mem:    segSize,
		align:  noteAlign,
	})
	le.PutUint16(out[offPhnum:], eh.phnum+1)
	for i, ph := range p.progs {
		if ph.typ == ptPhdr {
			ph.filesz += phdrSize
			ph.mem += phdrSize
			putPhdr(out[eh.phoff+uint64(i)*phdrSize:], ph)
		}
	}

	n := out[noteOff:noteEnd]
	le.PutUint32(n[0:], uint32(len(noteName)))
	le.PutUint32(n[4:], 8)
	le.PutUint32(n[8:], abi.XenElfnotePhys32Entry)
	copy(n[noteHdrSize:], noteName)
	le.PutUint64(n[noteDescOff:], uint64(entry))
	copy(n[noteSize:], extra)
	return out, nil
}

func alignUp(n, a uint64) uint64 { return (n + a - 1) &^ (a - 1) }

// sat is a-b, or 0 when b > a.
func sat(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

// WriteFile reads the executable at in and writes the image to out
// (replacing it atomically; in and out may be the same path).
func WriteFile(in, out string, opt Options) error {
	exe, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	img, err := Write(exe, opt)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	if err := writeAtomic(out, img); err != nil {
		// Name the file the user asked for, not the temporary one.
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("cannot write %s: %w", out, err)
	}
	return nil
}

// writeAtomic writes an executable file through a temporary file in the
// same directory and a rename, so a failed or concurrent write never
// leaves a half-written image at path.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".unigo-image-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// PVHEntry returns the 32-bit physical PVH entry address recorded in the
// Xen note of the ELF image read from r.
func PVHEntry(r io.ReaderAt) (uint32, error) {
	var hdr [ehdrSize]byte
	n, err := r.ReadAt(hdr[:], 0)
	if n < ehdrSize && err != nil && err != io.EOF {
		return 0, err
	}
	eh, err := parseHeader(hdr[:n])
	if err != nil {
		return 0, err
	}
	phs := make([]byte, uint64(eh.phnum)*phdrSize)
	if _, err := r.ReadAt(phs, int64(eh.phoff)); err != nil {
		return 0, fmt.Errorf("reading program headers: %w", err)
	}
	var buf []byte
	for i := 0; i < int(eh.phnum); i++ {
		ph := parsePhdr(phs[i*phdrSize:])
		if ph.typ != ptNote || ph.filesz > maxNoteSegment || ph.off > 1<<62 {
			continue
		}
		if uint64(cap(buf)) < ph.filesz {
			buf = make([]byte, ph.filesz)
		}
		seg := buf[:ph.filesz]
		if _, err := r.ReadAt(seg, int64(ph.off)); err != nil {
			return 0, fmt.Errorf("reading note segment: %w", err)
		}
		entry, found, err := abi.PVHEntryNote(seg, ph.align)
		if err != nil {
			return 0, err
		}
		if found {
			if entry >= 1<<32 {
				return 0, fmt.Errorf("PVH entry %#x is above 4 GiB", entry)
			}
			return uint32(entry), nil
		}
	}
	return 0, fmt.Errorf("no Xen PVH entry note")
}
