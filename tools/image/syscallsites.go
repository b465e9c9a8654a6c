package image

import (
	"bytes"
	"debug/elf"
	"sort"
	"strings"

	"golang.org/x/arch/x86/x86asm"

	"github.com/unigo-os/unigo/abi"
)

// sitePackages are the symbol prefixes whose SYSCALL sites are recorded:
// the Go runtime and the packages programs make system calls through.
// unigo's own rt and kernel are not: their SYSCALLs are the shim's
// services.
var sitePackages = []string{"runtime.", "internal/runtime/syscall.", "internal/runtime/syscall/", "syscall.", "time."}

// SyscallSites returns the addresses of the system-call sites of exe that
// the kernel may rewrite into calls (abi.SyscallSite), ascending. It
// disassembles each function of the listed packages from the ELF symbol
// table and keeps a site only when its SYSCALL follows the accepted
// instruction in the instruction stream and no branch in the function
// lands inside the site (after the rewrite only its first byte starts an
// instruction). An executable without a symbol table has no sites.
func SyscallSites(exe []byte) []uint32 {
	f, err := elf.NewFile(bytes.NewReader(exe))
	if err != nil {
		return nil
	}
	syms, err := f.Symbols()
	if err != nil {
		return nil
	}
	var sites []uint32
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Size == 0 || !recorded(s.Name) {
			continue
		}
		code := funcCode(f, s)
		if code == nil {
			continue
		}
		sites = append(sites, funcSites(code, s.Value)...)
	}
	sort.Slice(sites, func(i, j int) bool { return sites[i] < sites[j] })
	return sites
}

func recorded(name string) bool {
	for _, p := range sitePackages {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// funcCode returns the bytes of function s from an executable section, or
// nil when they are not all in the file or lie above 4 GiB.
func funcCode(f *elf.File, s elf.Symbol) []byte {
	for _, sec := range f.Sections {
		if sec.Type != elf.SHT_PROGBITS || sec.Flags&elf.SHF_EXECINSTR == 0 {
			continue
		}
		if s.Value < sec.Addr || s.Value-sec.Addr >= sec.Size || s.Size > sec.Size-(s.Value-sec.Addr) {
			continue
		}
		if s.Value+s.Size > 1<<32 {
			return nil
		}
		code := make([]byte, s.Size)
		if _, err := sec.ReadAt(code, int64(s.Value-sec.Addr)); err != nil {
			return nil
		}
		return code
	}
	return nil
}

// funcSites finds the sites in one function's code at address base.
func funcSites(code []byte, base uint64) []uint32 {
	type cand struct{ off, n int }
	var cands []cand
	targets := map[int]bool{}
	prev := -1
	for off := 0; off < len(code); {
		in, err := x86asm.Decode(code[off:], 64)
		if err != nil {
			// Not code (padding, data): nothing before it may pair with
			// what follows.
			prev = -1
			off++
			continue
		}
		for _, a := range in.Args {
			if rel, ok := a.(x86asm.Rel); ok {
				targets[off+in.Len+int(rel)] = true
			}
		}
		if in.Op == x86asm.SYSCALL && prev >= 0 {
			if p := abi.SyscallSite(code[prev:]); p != 0 && prev+p == off {
				cands = append(cands, cand{prev, p + 2})
			}
		}
		prev = off
		off += in.Len
	}
	var sites []uint32
	for _, c := range cands {
		ok := true
		for i := c.off + 1; i < c.off+c.n; i++ {
			if targets[i] {
				ok = false
			}
		}
		if ok {
			sites = append(sites, uint32(base)+uint32(c.off))
		}
	}
	return sites
}

// sitesNote is the note abi.NoteSyscallSites describing sites.
func sitesNote(sites []uint32) []byte {
	name := abi.UnigoNoteName + "\x00"
	descOff := alignUp(noteHdrSize+uint64(len(name)), noteAlign)
	desc := 8 + 4*len(sites)
	n := make([]byte, descOff+uint64(desc))
	le.PutUint32(n[0:], uint32(len(name)))
	le.PutUint32(n[4:], uint32(desc))
	le.PutUint32(n[8:], abi.NoteSyscallSites)
	copy(n[noteHdrSize:], name)
	d := n[descOff:]
	le.PutUint32(d[0:], abi.SyscallSitesVersion)
	le.PutUint32(d[4:], uint32(len(sites)))
	for i, s := range sites {
		le.PutUint32(d[8+4*i:], s)
	}
	return n
}

// SyscallSitesNote returns the site addresses recorded in the image read
// from exe, and whether it has the note.
func SyscallSitesNote(exe []byte) ([]uint32, bool) {
	p, err := parse(exe)
	if err != nil {
		return nil, false
	}
	var sites []uint32
	found := false
	for _, ph := range p.progs {
		if ph.typ != ptNote || ph.filesz > maxNoteSegment {
			continue
		}
		abi.ELFNotes(p.b[ph.off:ph.off+ph.filesz], ph.align, func(name []byte, typ uint32, desc []byte, _ uint64) bool {
			if string(name) != abi.UnigoNoteName+"\x00" || typ != abi.NoteSyscallSites {
				return true
			}
			n, ok := abi.SyscallSitesCount(desc)
			if ok {
				found = true
				for i := 0; i < n; i++ {
					sites = append(sites, abi.SyscallSiteAddr(desc, i))
				}
			}
			return false
		})
	}
	return sites, found
}
