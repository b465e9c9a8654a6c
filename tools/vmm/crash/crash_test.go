package crash

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/unigo-os/unigo/abi"
	"golang.org/x/arch/x86/x86asm"
)

// progSource is the program the tests build and pretend crashed. The line
// numbers in progLine* must match.
const progSource = `package main

import "os"

//go:noinline
func crashHere(p *int) int {
	return *p + 1
}

//go:noinline
func middle(p *int) int {
	return crashHere(p) * 2
}

func main() {
	var p *int
	if len(os.Args) > 5 {
		x := 1
		p = &x
	}
	os.Exit(middle(p))
}
`

const (
	progLineDeref     = 7
	progLineCallCrash = 12
)

var (
	progOnce sync.Once
	progPath string
	progErr  error
)

// buildProg compiles progSource once per test binary, like unigo build
// does: a static linux/amd64 executable.
func buildProg(t *testing.T) string {
	t.Helper()
	progOnce.Do(func() {
		dir, err := os.MkdirTemp("", "crashprog")
		if err != nil {
			progErr = err
			return
		}
		src := filepath.Join(dir, "main.go")
		if progErr = os.WriteFile(src, []byte(progSource), 0o644); progErr != nil {
			return
		}
		progPath = filepath.Join(dir, "prog")
		cmd := exec.Command("go", "build", "-o", progPath, src)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0", "GO111MODULE=off", "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			progErr = err
			progPath = string(out)
		}
	})
	require.NoError(t, progErr, progPath)
	return progPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if progPath != "" && progErr == nil {
		os.RemoveAll(filepath.Dir(progPath))
	}
	os.Exit(code)
}

// image is the guest memory of a built program: its loadable segments at
// their virtual addresses plus extra regions (a fake stack).
type image struct {
	regions map[uint64][]byte
}

func loadImage(t testing.TB, path string) (*image, *elf.File) {
	f, err := elf.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	im := &image{regions: map[uint64][]byte{}}
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD {
			continue
		}
		b := make([]byte, p.Memsz)
		_, err := p.ReadAt(b[:p.Filesz], 0)
		require.NoError(t, err)
		im.regions[p.Vaddr] = b
	}
	return im, f
}

func (im *image) read(addr uint64, n int) ([]byte, bool) {
	for base, b := range im.regions {
		if addr >= base && addr-base <= uint64(len(b)) && uint64(n) <= uint64(len(b))-(addr-base) {
			return b[addr-base : addr-base+uint64(n)], true
		}
	}
	return nil, false
}

func symbolAddr(t *testing.T, f *elf.File, name string) (uint64, uint64) {
	syms, err := f.Symbols()
	require.NoError(t, err)
	for _, s := range syms {
		if s.Name == name {
			return s.Value, s.Size
		}
	}
	t.Fatalf("no symbol %s", name)
	return 0, 0
}

// findCall returns the return address of the first call from fn to target.
func findCall(t *testing.T, im *image, f *elf.File, fn, target string) uint64 {
	start, size := symbolAddr(t, f, fn)
	to, _ := symbolAddr(t, f, target)
	code, ok := im.read(start, int(size))
	require.True(t, ok)
	for off := 0; off < len(code); {
		inst, err := x86asm.Decode(code[off:], 64)
		require.NoError(t, err)
		pc := start + uint64(off)
		off += inst.Len
		if rel, ok := inst.Args[0].(x86asm.Rel); ok && inst.Op == x86asm.CALL && pc+uint64(inst.Len)+uint64(int64(rel)) == to {
			return start + uint64(off)
		}
	}
	t.Fatalf("%s does not call %s", fn, target)
	return 0
}

func TestLookupKnownFunction(t *testing.T) {
	path := buildProg(t)
	syms, err := LoadSymbols(path)
	require.NoError(t, err)
	require.True(t, syms.HasLines(), "Go %s pclntab must parse with debug/gosym", "1.26")
	_, f := loadImage(t, path)
	addr, _ := symbolAddr(t, f, "main.crashHere")
	fr := syms.Lookup(addr)
	assert.Equal(t, "main.crashHere", fr.Func)
	assert.Equal(t, addr, fr.Entry)
	assert.Equal(t, "main.go", filepath.Base(fr.File))
	assert.Equal(t, progLineDeref, fr.Line, "a frameless leaf starts with its body")
	assert.Equal(t, "main.crashHere ("+fr.File+":7)", fr.String())

	addr, _ = symbolAddr(t, f, "main.middle")
	fr = syms.Lookup(addr + 1)
	assert.Equal(t, "main.middle", fr.Func)
	assert.Equal(t, 11, fr.Line, "the prologue is on the func line")
	assert.Equal(t, "main.middle+0x1 ("+fr.File+":11)", fr.String())

	fr = syms.Lookup(0x10)
	assert.Empty(t, fr.Func)
	assert.Equal(t, "0x10 ?", fr.String())
}

// crashRecord builds the record of a crash in function fn (main.crashHere
// or main.middle) on the first instruction of source line line, with the
// stack of main.main -> main.middle -> main.crashHere laid out as Go does:
// crashHere is a frameless leaf, so its return address is at [rsp] and RBP
// is still middle's frame pointer.
func crashRecord(t *testing.T, path, fn string, line int) (*abi.CrashRecord, *image) {
	im, f := loadImage(t, path)
	syms, err := LoadSymbols(path)
	require.NoError(t, err)
	start, size := symbolAddr(t, f, fn)
	code, _ := im.read(start, int(size))
	rip := uint64(0)
	for off := 0; off < len(code); {
		inst, err := x86asm.Decode(code[off:], 64)
		require.NoError(t, err)
		if syms.Lookup(start+uint64(off)).Line == line {
			rip = start + uint64(off)
			break
		}
		off += inst.Len
	}
	require.NotZero(t, rip, "no code for line %d", line)

	const stack = 0xc000080000
	mem := make([]byte, 0x100)
	binary.LittleEndian.PutUint64(mem[0x00:], findCall(t, im, f, "main.middle", "main.crashHere"))
	binary.LittleEndian.PutUint64(mem[0x20:], stack+0x60)
	binary.LittleEndian.PutUint64(mem[0x28:], findCall(t, im, f, "main.main", "main.middle"))
	im.regions[stack] = mem

	rec := &abi.CrashRecord{Magic: abi.CrashMagic, Vector: 14, RIP: rip, RSP: stack, RFLAGS: 0x246}
	if fn == "main.middle" {
		rec.Vector = 6
		rec.RSP = stack + 0x10
	}
	rec.Regs[4] = rec.RSP
	rec.Regs[5] = stack + 0x20
	msg := "page fault in kernel"
	rec.MsgLen = uint64(copy(rec.Msg[:], msg))
	return rec, im
}

func TestReportLeafFault(t *testing.T) {
	path := buildProg(t)
	rec, im := crashRecord(t, path, "main.crashHere", progLineDeref)
	var out bytes.Buffer
	require.NoError(t, ReportImage(&out, path, rec, im.read))
	report := out.String()
	t.Log("\n" + report)
	lines := strings.Split(report, "\n")
	assert.Regexp(t, `^guest crashed: page fault \(#PF\) at main\.crashHere(\+0x[0-9a-f]+)? \(.*main\.go:7\) `, lines[0])
	assert.Contains(t, lines[0], "accessing 0x0 (read, not present, kernel mode): page fault in kernel")
	assert.Contains(t, report, "rflags 0x246 [PF ZF IF]")
	assert.Contains(t, report, "rbp 0x000000c000080020")
	assert.Regexp(t, `=> main\.crashHere(\+0x[0-9a-f]+)? +[0-9a-f]+ +mov +\(%rax\)`, report)
	assert.Regexp(t, `#0 +0x[0-9a-f]+ main\.crashHere \(.*main\.go:7\)`, report)
	assert.Regexp(t, `#1 +0x[0-9a-f]+ main\.middle \(.*main\.go:12\)`, report)
	assert.Regexp(t, `#2 +0x[0-9a-f]+ main\.main \(.*main\.go:21\)`, report)
	assert.NotContains(t, report, "#3")
	assert.NotContains(t, report, "no symbols")
}

func TestReportFramedFault(t *testing.T) {
	path := buildProg(t)
	rec, im := crashRecord(t, path, "main.middle", progLineCallCrash)
	var out bytes.Buffer
	require.NoError(t, ReportImage(&out, path, rec, im.read))
	report := out.String()
	t.Log("\n" + report)
	assert.Regexp(t, `^guest crashed: invalid opcode \(#UD\) at main\.middle\+0x[0-9a-f]+ \(.*main\.go:12\)`, report)
	// The prologue before RIP is disassembled too, ending in the frame setup.
	assert.Regexp(t, `\n {5}main\.middle\+0x[0-9a-f]+ +[0-9a-f]+ +mov +%rsp,%rbp\n`, report)
	assert.Regexp(t, `\n  => main\.middle\+0x`, report)
	// The frame is established: no guess from [rsp], middle's caller next.
	assert.Regexp(t, `#0 +0x[0-9a-f]+ main\.middle \(.*main\.go:12\)`, report)
	assert.Regexp(t, `#1 +0x[0-9a-f]+ main\.main \(.*main\.go:21\)`, report)
	assert.NotContains(t, report, "#2")
}

func TestReportBadCall(t *testing.T) {
	// A call to a garbage address: RIP is unknown, [rsp] names the caller.
	path := buildProg(t)
	rec, im := crashRecord(t, path, "main.crashHere", progLineDeref)
	rec.RIP, rec.Vector, rec.Error, rec.CR2 = 0xdead0000, 14, 0x10, 0xdead0000
	var out bytes.Buffer
	require.NoError(t, ReportImage(&out, path, rec, im.read))
	report := out.String()
	t.Log("\n" + report)
	assert.Contains(t, report, "at 0xdead0000 ? accessing 0xdead0000 (instruction fetch, not present, kernel mode)")
	assert.Contains(t, report, "=> 0xdead0000: code unreadable")
	assert.Regexp(t, `#0 +0xdead0000 \?`, report)
	assert.Regexp(t, `#1 +0x[0-9a-f]+ main\.middle \(.*main\.go:12\)`, report)
	assert.Regexp(t, `#2 +0x[0-9a-f]+ main\.main \(.*main\.go:21\)`, report)
}

func TestBacktraceStops(t *testing.T) {
	path := buildProg(t)
	syms, err := LoadSymbols(path)
	require.NoError(t, err)
	rec, im := crashRecord(t, path, "main.middle", progLineCallCrash)
	ret, _ := im.read(0xc000080028, 8)

	// A frame pointing at itself.
	loop := make([]byte, 16)
	binary.LittleEndian.PutUint64(loop, 0xd000000000)
	copy(loop[8:], ret)
	im.regions[0xd000000000] = loop
	rec.Regs[5] = 0xd000000000
	assert.Len(t, Backtrace(syms, rec, im.read), 2)

	// A chain deeper than MaxFrames.
	deep := make([]byte, 16*100)
	for i := 0; i < 100; i++ {
		binary.LittleEndian.PutUint64(deep[16*i:], 0xe000000000+uint64(16*(i+1)))
		copy(deep[16*i+8:], ret)
	}
	im.regions[0xe000000000] = deep
	rec.Regs[5] = 0xe000000000
	assert.Len(t, Backtrace(syms, rec, im.read), MaxFrames)

	// Misaligned, unreadable and zero frame pointers.
	for _, rbp := range []uint64{0, 0xc000080001, 0xffff800000000000, 1<<64 - 8} {
		rec.Regs[5] = rbp
		fr := Backtrace(syms, rec, im.read)
		assert.Len(t, fr, 1)
		assert.Equal(t, "main.middle", fr[0].Func)
	}
}

func TestReportGarbage(t *testing.T) {
	path := buildProg(t)
	syms, err := LoadSymbols(path)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := func(addr uint64, n int) ([]byte, bool) {
		if n > 1<<20 {
			return nil, false
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b, rng.IntN(4) != 0
	}
	short := func(addr uint64, n int) ([]byte, bool) { return make([]byte, n/2), true }
	fail := func(uint64, int) ([]byte, bool) { return nil, false }
	for i := range 200 {
		var rec abi.CrashRecord
		rec.Vector = rng.Uint64N(40)
		if i%7 == 0 {
			rec.Vector = VectorSoftware
		}
		rec.Error, rec.CR2, rec.RIP, rec.RSP, rec.RFLAGS = rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64()
		for j := range rec.Regs {
			rec.Regs[j] = rng.Uint64()
		}
		rec.MsgLen = rng.Uint64()
		for j := range rec.Msg {
			rec.Msg[j] = byte(rng.Uint32())
		}
		for _, read := range []MemReader{garbage, short, fail, nil} {
			var out bytes.Buffer
			require.NoError(t, Report(&out, syms, &rec, read))
			require.NoError(t, Report(&out, nil, &rec, read))
			first, _, _ := strings.Cut(out.String(), "\n")
			assert.True(t, strings.HasPrefix(first, "guest crashed: "), first)
		}
	}
}

func TestReasons(t *testing.T) {
	cases := []struct {
		vec, err uint64
		want     string
	}{
		{13, 0x18, "general protection fault (#GP) at 0x1234 ? error code 0x18"},
		{6, 0, "invalid opcode (#UD) at 0x1234 ?"},
		{8, 0, "double fault (#DF) at 0x1234 ?"},
		{0, 0, "divide error (#DE) at 0x1234 ?"},
		{14, 0x2, "page fault (#PF) at 0x1234 ? accessing 0xbad (write, not present, kernel mode)"},
		{14, 0x15, "page fault (#PF) at 0x1234 ? accessing 0xbad (instruction fetch, protection violation, user mode)"},
		{14, 0x69, "page fault (#PF) at 0x1234 ? accessing 0xbad (read, protection violation, kernel mode, reserved bit set, protection key, shadow stack)"},
		{99, 0, "exception vector 99 at 0x1234 ?"},
		{VectorSoftware, 7, "kernel panic at 0x1234 ?"},
	}
	for _, c := range cases {
		rec := abi.CrashRecord{Vector: c.vec, Error: c.err, RIP: 0x1234, CR2: 0xbad}
		assert.Equal(t, c.want, Reason(&rec, nil))
	}
	rec := abi.CrashRecord{Vector: VectorSoftware, MsgLen: 5}
	copy(rec.Msg[:], "ab\ncd")
	assert.Equal(t, "kernel panic at 0x0 ?: ab?cd", Reason(&rec, nil))
}

func TestParseRecord(t *testing.T) {
	rec := abi.CrashRecord{Magic: abi.CrashMagic, Vector: 14, RIP: 0x401000, MsgLen: 2}
	rec.Regs[15] = 0xf15
	copy(rec.Msg[:], "hi")
	var buf bytes.Buffer
	require.NoError(t, binary.Write(&buf, binary.LittleEndian, &rec))
	require.Equal(t, abi.CrashRecordSize, buf.Len())
	got, err := ParseRecord(buf.Bytes())
	require.NoError(t, err)
	assert.Equal(t, rec, got)

	_, err = ParseRecord(buf.Bytes()[:100])
	assert.ErrorContains(t, err, "truncated")
	bad := bytes.Clone(buf.Bytes())
	bad[0] ^= 1
	_, err = ParseRecord(bad)
	assert.ErrorContains(t, err, "magic")
}

func TestCorruptImage(t *testing.T) {
	path := buildProg(t)
	orig, err := os.ReadFile(path)
	require.NoError(t, err)
	f, err := elf.NewFile(bytes.NewReader(orig))
	require.NoError(t, err)
	pcln := f.Section(".gopclntab")
	require.NotNil(t, pcln)
	addr, _ := symbolAddr(t, f, "main.crashHere")

	// A zeroed line table: names still come from the ELF symbol table.
	b := bytes.Clone(orig)
	clear(b[pcln.Offset : pcln.Offset+pcln.Size])
	syms, err := NewSymbols(bytes.NewReader(b))
	require.NoError(t, err)
	assert.False(t, syms.HasLines())
	fr := syms.Lookup(addr + 1)
	assert.Equal(t, "main.crashHere", fr.Func)
	assert.Empty(t, fr.File)
	assert.Equal(t, "main.crashHere+0x1", fr.String())

	// Not an ELF, truncated, missing.
	_, err = NewSymbols(bytes.NewReader([]byte("garbage")))
	assert.Error(t, err)
	_, err = NewSymbols(bytes.NewReader(orig[:200]))
	assert.Error(t, err)
	_, err = LoadSymbols(filepath.Join(t.TempDir(), "absent"))
	assert.Error(t, err)
	var out bytes.Buffer
	require.NoError(t, ReportImage(&out, filepath.Join(t.TempDir(), "absent"), &abi.CrashRecord{Vector: 6}, nil))
	assert.Contains(t, out.String(), "no symbols from")

	// Random corruption in the headers and the line table never panics.
	rng := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		b := bytes.Clone(orig)
		for range 1 + rng.IntN(20) {
			var off uint64
			if rng.IntN(2) == 0 {
				off = rng.Uint64N(4096)
			} else {
				off = pcln.Offset + rng.Uint64N(min(pcln.Size, 1<<16))
			}
			b[off] = byte(rng.Uint32())
		}
		syms, err := NewSymbols(bytes.NewReader(b))
		if err != nil {
			continue
		}
		for range 20 {
			syms.Lookup(addr + rng.Uint64N(1<<20))
		}
	}
}
