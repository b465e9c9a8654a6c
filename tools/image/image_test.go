package image

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testSym is the entry symbol of testdata/prog.
const testSym = "main.pvhEntry"

var testOpts = Options{EntrySymbol: testSym}

var (
	progOnce sync.Once
	progPath string
	progDir  string
	progErr  error
)

// testProgram builds testdata/prog once per test run with the stock
// toolchain and returns the executable's path.
func testProgram(t testing.TB) string {
	t.Helper()
	progOnce.Do(func() {
		progDir, progErr = os.MkdirTemp("", "unigo-image-test-")
		if progErr != nil {
			return
		}
		progPath = filepath.Join(progDir, "prog")
		progErr = goBuild("testdata/prog", progPath)
	})
	require.NoError(t, progErr)
	return progPath
}

func goBuild(dir, out string, flags ...string) error {
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	cmd := exec.Command("go", append(append([]string{"build", "-o", abs}, flags...), ".")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return errors.New(string(out))
	}
	return nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	if progDir != "" {
		os.RemoveAll(progDir)
	}
	os.Exit(code)
}

// symbolValue returns the address of a symbol according to debug/elf.
func symbolValue(t *testing.T, f *elf.File, name string) uint64 {
	t.Helper()
	syms, err := f.Symbols()
	require.NoError(t, err)
	for _, s := range syms {
		if s.Name == name {
			return s.Value
		}
	}
	t.Fatalf("no symbol %s", name)
	return 0
}

func TestWriteGoExecutable(t *testing.T) {
	exe, err := os.ReadFile(testProgram(t))
	require.NoError(t, err)
	img, err := Write(exe, testOpts)
	require.NoError(t, err)

	in, err := elf.NewFile(bytes.NewReader(exe))
	require.NoError(t, err)
	out, err := elf.NewFile(bytes.NewReader(img))
	require.NoError(t, err)

	// The entry recorded in the note is the assembly body, not the
	// ABIInternal wrapper that has the plain name.
	body := symbolValue(t, in, testSym+".abi0")
	require.NotEqual(t, body, symbolValue(t, in, testSym))
	entry, err := PVHEntry(bytes.NewReader(img))
	require.NoError(t, err)
	assert.Equal(t, body, uint64(entry))

	// The ELF entry and every original program header are unchanged
	// except PT_PHDR, which grew by one entry.
	assert.Equal(t, in.Entry, out.Entry)
	require.Len(t, out.Progs, len(in.Progs)+1)
	for i, p := range in.Progs {
		want := p.ProgHeader
		if p.Type == elf.PT_PHDR {
			want.Filesz += phdrSize
			want.Memsz += phdrSize
		}
		assert.Equal(t, want, out.Progs[i].ProgHeader, "program header %d", i)
	}

	// The new header is a PT_NOTE inside the first PT_LOAD, 4-aligned,
	// with vaddr and paddr consistent with its file offset.
	note := out.Progs[len(in.Progs)].ProgHeader
	assert.Equal(t, elf.PT_NOTE, note.Type)
	assert.Equal(t, elf.PF_R, note.Flags)
	assert.Equal(t, uint64(4), note.Align)
	assert.Equal(t, noteSize+uint64(len(sitesNote(SyscallSites(exe)))), note.Filesz)
	load := in.Progs[0].ProgHeader
	for _, p := range in.Progs {
		if p.Type == elf.PT_LOAD {
			load = p.ProgHeader
			break
		}
	}
	assert.Equal(t, load.Vaddr+note.Off-load.Off, note.Vaddr)
	assert.Equal(t, load.Paddr+note.Off-load.Off, note.Paddr)
	assert.LessOrEqual(t, note.Off+note.Filesz, load.Off+load.Filesz)

	// Byte layout as QEMU reads it: namesz 4, descsz 8, type 18, "Xen\0",
	// then the descriptor at 12 + align_up(namesz, p_align) = 16.
	raw := img[note.Off : note.Off+note.Filesz]
	assert.Equal(t, uint32(4), binary.LittleEndian.Uint32(raw[0:]))
	assert.Equal(t, uint32(8), binary.LittleEndian.Uint32(raw[4:]))
	assert.Equal(t, uint32(18), binary.LittleEndian.Uint32(raw[8:]))
	assert.Equal(t, "Xen\x00", string(raw[12:16]))
	assert.Equal(t, body, binary.LittleEndian.Uint64(raw[16:]))

	// Every section's contents and the symbol table survive the move of
	// the section header table.
	require.Len(t, out.Sections, len(in.Sections))
	for i, s := range in.Sections {
		o := out.Sections[i]
		assert.Equal(t, s.SectionHeader, o.SectionHeader, "section %s", s.Name)
		if s.Type == elf.SHT_NOBITS {
			continue
		}
		a, err := s.Data()
		require.NoError(t, err)
		b, err := o.Data()
		require.NoError(t, err)
		assert.True(t, bytes.Equal(a, b), "section %s contents changed", s.Name)
	}
	assert.Equal(t, body, symbolValue(t, out, testSym+".abi0"))

	// Outside the header page, the file is byte-for-byte the same (the
	// section header table stayed within the page for a Go binary).
	require.Equal(t, len(exe), len(img))
	assert.True(t, bytes.Equal(exe[0x1000:], img[0x1000:]))
}

func TestImageRunsNatively(t *testing.T) {
	img := filepath.Join(t.TempDir(), "prog.img")
	require.NoError(t, WriteFile(testProgram(t), img, testOpts))
	st, err := os.Stat(img)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), st.Mode().Perm())
	out, err := exec.Command(img).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "hello from an image\n", string(out))
}

func TestWriteIdempotent(t *testing.T) {
	exe, err := os.ReadFile(testProgram(t))
	require.NoError(t, err)
	once, err := Write(exe, testOpts)
	require.NoError(t, err)
	twice, err := Write(once, testOpts)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(once, twice))

	// A stale descriptor is replaced in place.
	f, err := elf.NewFile(bytes.NewReader(once))
	require.NoError(t, err)
	note := f.Progs[len(f.Progs)-1]
	stale := bytes.Clone(once)
	binary.LittleEndian.PutUint64(stale[note.Off+16:], 0x1234)
	e, err := PVHEntry(bytes.NewReader(stale))
	require.NoError(t, err)
	assert.Equal(t, uint32(0x1234), e)
	fixed, err := Write(stale, testOpts)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(once, fixed))
}

func TestWriteFileErrors(t *testing.T) {
	err := WriteFile(testProgram(t), "/nonexistent/dir/x.img", testOpts)
	require.EqualError(t, err, "cannot write /nonexistent/dir/x.img: no such file or directory")
	missing := filepath.Join(t.TempDir(), "missing")
	err = WriteFile(missing, filepath.Join(t.TempDir(), "x.img"), testOpts)
	require.EqualError(t, err, "open "+missing+": no such file or directory")
	text := filepath.Join(t.TempDir(), "script")
	require.NoError(t, os.WriteFile(text, []byte("#!/bin/sh\n"), 0o755))
	err = WriteFile(text, filepath.Join(t.TempDir(), "x.img"), testOpts)
	require.EqualError(t, err, text+": not an ELF file")
}

func TestWriteFileInPlace(t *testing.T) {
	p := filepath.Join(t.TempDir(), "prog")
	exe, err := os.ReadFile(testProgram(t))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, exe, 0o755))
	require.NoError(t, WriteFile(p, p, testOpts))
	require.NoError(t, WriteFile(p, p, testOpts))
	f, err := os.Open(p)
	require.NoError(t, err)
	defer f.Close()
	_, err = PVHEntry(f)
	require.NoError(t, err)
	entries, err := os.ReadDir(filepath.Dir(p))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary files left behind")
}

// TestBootsUnderQEMU checks the note against a real PVH loader: QEMU
// microvm enters pvhEntry, which writes 42 to isa-debug-exit, so QEMU
// exits with (42<<1)|1.
func TestBootsUnderQEMU(t *testing.T) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 not installed")
	}
	img := filepath.Join(t.TempDir(), "prog.img")
	require.NoError(t, WriteFile(testProgram(t), img, testOpts))
	args := []string{"-M", "microvm", "-m", "64", "-nodefaults", "-no-user-config",
		"-nographic", "-serial", "none", "-monitor", "none",
		"-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel", img}
	if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err == nil {
		f.Close()
		args = append(args, "-accel", "kvm", "-cpu", "host,-arch-capabilities")
	} else {
		args = append(args, "-accel", "tcg")
	}
	cmd := exec.Command(qemu, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("QEMU did not exit; output: %s", out.String())
	}
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "output: %s", out.String())
	assert.Equal(t, 42<<1|1, ee.ExitCode(), "output: %s", out.String())

	// The unpatched executable is refused by QEMU: the note is what makes
	// it bootable.
	for i, a := range args {
		if a == img {
			args[i] = testProgram(t)
		}
	}
	o, err := exec.Command(qemu, args...).CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(o), "PVH")
}

func TestWriteStrippedExecutable(t *testing.T) {
	p := filepath.Join(t.TempDir(), "stripped")
	require.NoError(t, goBuild("testdata/prog", p, "-ldflags=-s"))
	exe, err := os.ReadFile(p)
	require.NoError(t, err)
	_, err = Write(exe, testOpts)
	require.ErrorContains(t, err, "no symbol table")
}

// TestWriteEntryAddr writes a stripped executable with the entry address
// given, as unigo exec does after reading it from .gopclntab.
func TestWriteEntryAddr(t *testing.T) {
	in, err := elf.Open(testProgram(t))
	require.NoError(t, err)
	body := symbolValue(t, in, testSym+".abi0")
	in.Close()
	p := filepath.Join(t.TempDir(), "stripped")
	require.NoError(t, goBuild("testdata/prog", p, "-ldflags=-s"))
	exe, err := os.ReadFile(p)
	require.NoError(t, err)
	img, err := Write(exe, Options{EntrySymbol: testSym, EntryAddr: body})
	require.NoError(t, err)
	entry, err := PVHEntry(bytes.NewReader(img))
	require.NoError(t, err)
	assert.Equal(t, body, uint64(entry))

	_, err = Write(exe, Options{EntrySymbol: testSym, EntryAddr: 1})
	require.ErrorContains(t, err, "is not inside any loaded segment")
}

func TestWriteMissingSymbol(t *testing.T) {
	exe, err := os.ReadFile(testProgram(t))
	require.NoError(t, err)
	_, err = Write(exe, Options{})
	require.EqualError(t, err, "no function symbol github.com/unigo-os/unigo/rt.pvhEntry (does the program import github.com/unigo-os/unigo/kernel?)")
}

func TestWriteRefusesNonzeroPadding(t *testing.T) {
	exe, err := os.ReadFile(testProgram(t))
	require.NoError(t, err)
	f, err := elf.NewFile(bytes.NewReader(exe))
	require.NoError(t, err)
	// Just past the section header table, which the writer moves down by
	// one program header, is padding it will overwrite.
	shoff := binary.LittleEndian.Uint64(exe[offShoff:])
	shEnd := shoff + uint64(len(f.Sections))*shdrSize
	bad := bytes.Clone(exe)
	bad[shEnd+8] = 0xcc
	_, err = Write(bad, testOpts)
	require.ErrorContains(t, err, "is not zero")
}

func BenchmarkWrite(b *testing.B) {
	exe, err := os.ReadFile(testProgram(b))
	require.NoError(b, err)
	b.SetBytes(int64(len(exe)))
	for b.Loop() {
		if _, err := Write(exe, testOpts); err != nil {
			b.Fatal(err)
		}
	}
}
