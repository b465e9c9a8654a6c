package crash

import (
	"debug/elf"
	"debug/gosym"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
)

// Symbols maps program counters of an image to functions and source lines.
// It is immutable after loading and safe for concurrent use.
type Symbols struct {
	tab  *gosym.Table          // nil when .gopclntab is missing or unparsable
	funs []elf.Symbol          // STT_FUNC symbols sorted by address, the fallback
	objs map[string]elf.Symbol // STT_OBJECT symbols (data) by name

	textStart, textEnd uint64
}

// Frame is a symbolized program counter. Func is empty when the PC lies
// outside every known function; File and Line are empty when only the ELF
// symbol table knew the function.
type Frame struct {
	PC    uint64
	Func  string
	Entry uint64
	File  string
	Line  int
}

// String formats f as "function+0xoff (file:line)", or just the hex PC when
// it is unknown.
func (f Frame) String() string {
	if f.Func == "" {
		return fmt.Sprintf("%#x ?", f.PC)
	}
	s := f.Func
	if f.PC != f.Entry {
		s += fmt.Sprintf("+%#x", f.PC-f.Entry)
	}
	if f.File != "" {
		s += fmt.Sprintf(" (%s:%d)", f.File, f.Line)
	}
	return s
}

// LoadSymbols reads the symbol information of the ELF image at path.
func LoadSymbols(path string) (*Symbols, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return NewSymbols(f)
}

// NewSymbols reads the symbol information of an ELF image. It fails only
// when the image has neither a usable .gopclntab nor ELF function symbols.
func NewSymbols(r io.ReaderAt) (s *Symbols, err error) {
	// debug/elf and debug/gosym are not hardened against every corrupt
	// input; a panic in them means a corrupt image, not a bug of ours.
	defer func() {
		if p := recover(); p != nil {
			s, err = nil, fmt.Errorf("corrupt image: %v", p)
		}
	}()
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, err
	}
	s = &Symbols{}
	if text := f.Section(".text"); text != nil {
		s.textStart, s.textEnd = text.Addr, text.Addr+text.Size
	}
	if syms, err := f.Symbols(); err == nil {
		for _, sym := range syms {
			switch typ := elf.ST_TYPE(sym.Info); {
			case typ == elf.STT_FUNC && sym.Value != 0:
				s.funs = append(s.funs, sym)
			case typ == elf.STT_OBJECT && sym.Value != 0:
				if s.objs == nil {
					s.objs = map[string]elf.Symbol{}
				}
				s.objs[sym.Name] = sym
			}
		}
		sort.SliceStable(s.funs, func(i, j int) bool { return s.funs[i].Value < s.funs[j].Value })
	}
	s.tab = loadPclntab(f, s.textStart)
	if s.tab == nil && len(s.funs) == 0 {
		return nil, errors.New("image has neither .gopclntab nor function symbols")
	}
	return s, nil
}

// loadPclntab parses the Go line table, returning nil if it is absent or
// debug/gosym cannot read this toolchain's format.
func loadPclntab(f *elf.File, textStart uint64) (tab *gosym.Table) {
	defer func() {
		if recover() != nil {
			tab = nil
		}
	}()
	sec := f.Section(".gopclntab")
	if sec == nil {
		return nil
	}
	pcln, err := sec.Data()
	if err != nil {
		return nil
	}
	var symtab []byte
	if sec := f.Section(".gosymtab"); sec != nil {
		symtab, _ = sec.Data() // empty since Go 1.3; the pclntab has it all
	}
	tab, err = gosym.NewTable(symtab, gosym.NewLineTable(pcln, textStart))
	if err != nil || len(tab.Funcs) == 0 {
		return nil
	}
	return tab
}

// HasLines reports whether file:line information is available.
func (s *Symbols) HasLines() bool { return s != nil && s.tab != nil }

// Lookup symbolizes pc. A nil *Symbols knows nothing.
func (s *Symbols) Lookup(pc uint64) Frame {
	fr := Frame{PC: pc}
	if s == nil {
		return fr
	}
	if s.lookupTable(pc, &fr) {
		return fr
	}
	i := sort.Search(len(s.funs), func(i int) bool { return s.funs[i].Value > pc }) - 1
	if i < 0 {
		return fr
	}
	sym := s.funs[i]
	if sym.Size != 0 && pc-sym.Value >= sym.Size {
		return fr
	}
	if sym.Size == 0 && (pc < s.textStart || pc >= s.textEnd) {
		return fr
	}
	fr.Func, fr.Entry = sym.Name, sym.Value
	return fr
}

func (s *Symbols) lookupTable(pc uint64, fr *Frame) (ok bool) {
	if s.tab == nil {
		return false
	}
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	fn := s.tab.PCToFunc(pc)
	if fn == nil {
		return false
	}
	fr.Func, fr.Entry = fn.Name, fn.Entry
	fr.File, fr.Line, _ = s.tab.PCToLine(pc)
	return true
}

// Object returns the address and size of the data symbol name (an ELF
// STT_OBJECT, e.g. a Go package variable). A nil *Symbols knows nothing.
func (s *Symbols) Object(name string) (addr, size uint64, ok bool) {
	if s == nil {
		return 0, 0, false
	}
	sym, ok := s.objs[name]
	return sym.Value, sym.Size, ok
}
