package image

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// synth describes a minimal static ELF64 executable laid out the way the Go
// linker lays out its own: ELF header, program headers, section headers in
// the padding, then .text; the symbol and string tables follow outside any
// segment.
type synth struct {
	class, data  byte
	typ, machine uint16
	textOff      uint64 // file offset of .text; also the end of the gap
	textFlags    uint32 // p_flags of the PT_LOAD
	interp       bool   // add a PT_INTERP
	symName      string
	symOffset    uint64 // the symbol's value relative to .text
	base         uint64 // vaddr = paddr of file offset 0
}

func defaultSynth() synth {
	return synth{
		class: elfClass64, data: elfData2LSB, typ: etExec, machine: emX86_64,
		textOff: 0x1000, textFlags: pfR | pfX, symName: "main.pvhEntry", base: 0x400000,
	}
}

func (s synth) bytes() []byte {
	var phs []phdr
	phs = append(phs, phdr{typ: ptPhdr, flags: pfR, off: 0x40, vaddr: s.base + 0x40, paddr: s.base + 0x40, align: 8})
	if s.interp {
		phs = append(phs, phdr{typ: ptInterp, flags: pfR, off: 0x40, filesz: 1, mem: 1, align: 1})
	}
	text := []byte{0xb8, 42, 0, 0, 0, 0xba, 0xf4, 0, 0, 0, 0xef, 0xf4, 0xeb, 0xfd}
	phs = append(phs, phdr{typ: ptLoad, flags: s.textFlags, vaddr: s.base, paddr: s.base,
		filesz: s.textOff + uint64(len(text)), mem: s.textOff + uint64(len(text)), align: 0x1000})
	phs[0].filesz = uint64(len(phs)) * phdrSize
	phs[0].mem = phs[0].filesz

	shstr := []byte("\x00.text\x00.symtab\x00.strtab\x00.shstrtab\x00")
	strtab := []byte("\x00" + s.symName + "\x00")
	sym := make([]byte, 2*symSize) // null symbol, then ours
	sym[symSize+4] = 0x10 | sttFunc
	binary.LittleEndian.PutUint32(sym[symSize:], 1)
	binary.LittleEndian.PutUint16(sym[symSize+6:], 1)
	binary.LittleEndian.PutUint64(sym[symSize+8:], s.base+s.textOff+s.symOffset)

	textEnd := s.textOff + uint64(len(text))
	symOff := (textEnd + 7) &^ 7
	strOff := symOff + uint64(len(sym))
	shstrOff := strOff + uint64(len(strtab))
	size := shstrOff + uint64(len(shstr))

	phoff := uint64(0x40)
	shoff := phoff + uint64(len(phs))*phdrSize
	if shoff+5*shdrSize > s.textOff {
		// No room in the padding: put the table at the end, as other
		// linkers do.
		shoff = (size + 7) &^ 7
		size = shoff + 5*shdrSize
	}
	b := make([]byte, size)
	copy(b, "\x7fELF")
	b[4], b[5], b[6] = s.class, s.data, 1
	le.PutUint16(b[16:], s.typ)
	le.PutUint16(b[18:], s.machine)
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[24:], s.base+s.textOff)
	le.PutUint64(b[32:], phoff)
	le.PutUint64(b[40:], shoff)
	le.PutUint16(b[52:], ehdrSize)
	le.PutUint16(b[54:], phdrSize)
	le.PutUint16(b[56:], uint16(len(phs)))
	le.PutUint16(b[58:], shdrSize)
	le.PutUint16(b[60:], 5)
	le.PutUint16(b[62:], 4)
	for i, p := range phs {
		putPhdr(b[phoff+uint64(i)*phdrSize:], p)
	}
	putShdr := func(i int, name, typ uint32, flags, addr, off, size uint64, link uint32, entsize uint64) {
		h := b[shoff+uint64(i)*shdrSize:]
		le.PutUint32(h[0:], name)
		le.PutUint32(h[4:], typ)
		le.PutUint64(h[8:], flags)
		le.PutUint64(h[16:], addr)
		le.PutUint64(h[24:], off)
		le.PutUint64(h[32:], size)
		le.PutUint32(h[40:], link)
		le.PutUint64(h[48:], 1)
		le.PutUint64(h[56:], entsize)
	}
	putShdr(1, 1, 1, 6, s.base+s.textOff, s.textOff, uint64(len(text)), 0, 0)
	putShdr(2, 7, shtSymtab, 0, 0, symOff, uint64(len(sym)), 3, symSize)
	putShdr(3, 15, 3, 0, 0, strOff, uint64(len(strtab)), 0, 0)
	putShdr(4, 23, 3, 0, 0, shstrOff, uint64(len(shstr)), 0, 0)
	copy(b[s.textOff:], text)
	copy(b[symOff:], sym)
	copy(b[strOff:], strtab)
	copy(b[shstrOff:], shstr)
	return b
}

func TestSynthIsValidELF(t *testing.T) {
	// The generator itself must produce something debug/elf accepts, or
	// the rejection tests below would prove nothing.
	f, err := elf.NewFile(bytes.NewReader(defaultSynth().bytes()))
	require.NoError(t, err)
	syms, err := f.Symbols()
	require.NoError(t, err)
	require.Len(t, syms, 1)
	assert.Equal(t, "main.pvhEntry", syms[0].Name)
}

func TestWriteSynthetic(t *testing.T) {
	s := defaultSynth()
	s.symOffset = 5
	img, err := Write(s.bytes(), testOpts)
	require.NoError(t, err)
	e, err := PVHEntry(bytes.NewReader(img))
	require.NoError(t, err)
	assert.Equal(t, uint32(0x401005), e)
	f, err := elf.NewFile(bytes.NewReader(img))
	require.NoError(t, err)
	require.Len(t, f.Progs, 3)
	assert.Equal(t, uint64(3*phdrSize), f.Progs[0].Filesz)
	assert.Equal(t, "main.pvhEntry", mustSymbols(t, f)[0].Name)
}

// A section header table already outside the padding stays where it is,
// and a note that exactly fills the padding is accepted.
func TestWriteExactFit(t *testing.T) {
	s := defaultSynth()
	s.textOff = 0x40 + 3*phdrSize + noteSize
	in := s.bytes()
	img, err := Write(in, testOpts)
	require.NoError(t, err)
	assert.Equal(t, le.Uint64(in[offShoff:]), le.Uint64(img[offShoff:]))
	assert.Equal(t, len(in), len(img))
	e, err := PVHEntry(bytes.NewReader(img))
	require.NoError(t, err)
	assert.Equal(t, uint32(0x400000+s.textOff), e)
}

func mustSymbols(t *testing.T, f *elf.File) []elf.Symbol {
	syms, err := f.Symbols()
	require.NoError(t, err)
	return syms
}

// When the padding fits the note but not the section header table, the
// table goes to the end of the file.
func TestWriteMovesSectionHeadersToEnd(t *testing.T) {
	s := defaultSynth()
	// The section header table fits right after the two program headers
	// but not after three of them and the note.
	s.textOff = 0x40 + 2*phdrSize + 5*shdrSize
	in := s.bytes()
	img, err := Write(in, testOpts)
	require.NoError(t, err)
	shoff := le.Uint64(img[offShoff:])
	assert.Equal(t, uint64(len(img))-5*shdrSize, shoff)
	assert.Zero(t, shoff%8)
	f, err := elf.NewFile(bytes.NewReader(img))
	require.NoError(t, err)
	assert.Equal(t, "main.pvhEntry", mustSymbols(t, f)[0].Name)
	text := f.Section(".text")
	require.NotNil(t, text)
	assert.Equal(t, s.textOff, text.Offset)
	// Idempotent from there too.
	again, err := Write(img, testOpts)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(img, again))
}

func TestWriteRejects(t *testing.T) {
	mod := func(f func(*synth)) []byte {
		s := defaultSynth()
		f(&s)
		return s.bytes()
	}
	cases := []struct {
		name string
		in   []byte
		err  string
	}{
		{"empty", nil, "not an ELF file"},
		{"text", []byte("#!/bin/sh\necho hi\n"), "not an ELF file"},
		{"truncated", defaultSynth().bytes()[:40], "truncated ELF header"},
		{"32-bit", mod(func(s *synth) { s.class = 1 }), "not a 64-bit ELF (class 1); unigo images are ELF64 x86-64"},
		{"big-endian", mod(func(s *synth) { s.data = 2 }), "not a little-endian ELF"},
		{"arm64", mod(func(s *synth) { s.machine = 183 }), "not an x86-64 executable (e_machine 183); build with GOARCH=amd64"},
		{"pie", mod(func(s *synth) { s.typ = etDyn }), "position-independent executable (ET_DYN); build without -buildmode=pie"},
		{"object", mod(func(s *synth) { s.typ = 1 }), "not an executable (e_type 1)"},
		{"dynamic", mod(func(s *synth) { s.interp = true }), "dynamically linked executable; build with CGO_ENABLED=0"},
		{"no room", mod(func(s *synth) { s.textOff = 0x40 + 3*phdrSize + 8 }), "no room for the PVH note: 64 bytes free after the program headers, need 80"},
		{"not executable", mod(func(s *synth) { s.textFlags = pfR }), "main.pvhEntry at 0x401000 is not in an executable segment"},
		{"above 4 GiB", mod(func(s *synth) { s.base = 1 << 32 }), "main.pvhEntry at physical 0x100001000 is not addressable in 32-bit mode"},
		{"outside segments", mod(func(s *synth) { s.symOffset = 0x100 }), "main.pvhEntry at 0x401100 is not inside any loaded segment"},
		{"wrong symbol", mod(func(s *synth) { s.symName = "main.other" }), "no function symbol main.pvhEntry"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Write(c.in, testOpts)
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), c.err), "got %q, want prefix %q", err, c.err)
			assert.NotContains(t, err.Error(), "\n")
		})
	}
}

func TestPVHEntryRejects(t *testing.T) {
	_, err := PVHEntry(bytes.NewReader(defaultSynth().bytes()))
	require.EqualError(t, err, "no Xen PVH entry note")
	_, err = PVHEntry(bytes.NewReader([]byte("hello")))
	require.EqualError(t, err, "not an ELF file")
	_, err = PVHEntry(bytes.NewReader(nil))
	require.EqualError(t, err, "not an ELF file")
}

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/FuzzWrite from the synthetic generator")

// fuzzSeeds are small inputs that reach every branch of the writer.
func fuzzSeeds() [][]byte {
	ok := defaultSynth().bytes()
	patched, _ := Write(ok, testOpts)
	tight := defaultSynth()
	tight.textOff = 0x40 + 2*phdrSize + 5*shdrSize
	dyn := defaultSynth()
	dyn.interp = true
	return [][]byte{ok, patched, tight.bytes(), dyn.bytes(), ok[:ehdrSize]}
}

func TestUpdateFuzzSeeds(t *testing.T) {
	if !*updateSeeds {
		t.Skip("run with -update-seeds to regenerate the committed seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzWrite")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for i, s := range fuzzSeeds() {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("synth%d", i)), []byte(body), 0o644))
	}
}

// FuzzWrite feeds arbitrary bytes to the writer and the reader: they must
// never panic, and whatever Write accepts must come out readable and be a
// fixed point of a second Write.
func FuzzWrite(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		_, _ = PVHEntry(bytes.NewReader(in))
		img, err := Write(in, testOpts)
		if err != nil {
			return
		}
		e, err := PVHEntry(bytes.NewReader(img))
		if err != nil {
			t.Fatalf("Write output has no readable note: %v", err)
		}
		again, err := Write(img, testOpts)
		if err != nil {
			t.Fatalf("second Write failed: %v", err)
		}
		if !bytes.Equal(img, again) {
			t.Fatalf("Write is not idempotent")
		}
		if e2, _ := PVHEntry(bytes.NewReader(again)); e2 != e {
			t.Fatalf("entry changed %#x -> %#x", e, e2)
		}
	})
}
