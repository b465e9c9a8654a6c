package arch

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/tools/vmm/testguest"
)

func TestParseImage(t *testing.T) {
	code := testguest.Hello()
	img, err := ParseImage(testguest.Image(code))
	require.NoError(t, err)
	assert.EqualValues(t, testguest.LoadAddr, img.Entry)
	require.Len(t, img.Segments, 1)
	assert.EqualValues(t, testguest.LoadAddr, img.Segments[0].Phys.Start)
	assert.EqualValues(t, len(code), img.Segments[0].Phys.Size)
	assert.Equal(t, code, img.Segments[0].Buf)
}

func TestParseImageFourByteNote(t *testing.T) {
	s := testguest.Spec{Segments: []testguest.Segment{{Paddr: 0x200000, Data: []byte{0xF4}, Memsz: 0x3000}}, Entry: 0x200000, NoteDesc: 4}
	img, err := ParseImage(s.ELF())
	require.NoError(t, err)
	assert.EqualValues(t, 0x200000, img.Entry)
	assert.EqualValues(t, 0x3000, img.Segments[0].Phys.Size)
}

func TestParseImageBad(t *testing.T) {
	good := testguest.Image(testguest.Hello())
	seg := func(paddr uint64, n int) testguest.Segment {
		return testguest.Segment{Paddr: paddr, Data: make([]byte, n)}
	}
	truncated := append([]byte{}, good...)
	truncated = truncated[:len(truncated)-20] // past the 16-byte padding, into the code
	elf32 := append([]byte{}, good...)
	elf32[4] = 1
	for name, tc := range map[string]struct {
		data []byte
		msg  string
	}{
		"empty":     {nil, "not an ELF"},
		"text":      {[]byte("#!/bin/sh\necho hi\n"), "not an ELF"},
		"header":    {good[:40], "malformed ELF"},
		"elf32":     {elf32, "malformed ELF"},
		"truncated": {truncated, "truncated"},
		"no note": {testguest.Spec{Segments: []testguest.Segment{seg(0x100000, 16)},
			Entry: 0x100000, NoteDesc: -1}.ELF(), "no PVH entry note"},
		"bad note size": {testguest.Spec{Segments: []testguest.Segment{seg(0x100000, 16)},
			Entry: 0x100000, NoteDesc: 2}.ELF(), "2-byte descriptor"},
		"overlap": {testguest.Spec{Segments: []testguest.Segment{seg(0x100000, 0x100), seg(0x100080, 0x100)},
			Entry: 0x100000}.ELF(), "overlap"},
		"entry outside": {testguest.Spec{Segments: []testguest.Segment{seg(0x100000, 16)},
			Entry: 0x300000}.ELF(), "not inside a loadable segment"},
		"entry above 4G": {testguest.Spec{Segments: []testguest.Segment{seg(0x100000, 16)},
			Entry: 1 << 33}.ELF(), "above 4 GiB"},
		"filesz>memsz": {testguest.Spec{Segments: []testguest.Segment{{Paddr: 0x100000, Data: make([]byte, 32), Memsz: 16}},
			Entry: 0x100000}.ELF(), "larger than memory size"},
		"wrap": {testguest.Spec{Segments: []testguest.Segment{{Paddr: ^uint64(0) - 8, Data: make([]byte, 32)}},
			Entry: 0x100000}.ELF(), "wraps"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseImage(tc.data)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrBadImage)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

// FuzzLoad feeds arbitrary bytes to the image parser and, for images it
// accepts, to the layout planner and loader: none may panic, and an
// accepted image must land inside guest memory.
func FuzzLoad(f *testing.F) {
	f.Add(testguest.Image(testguest.Hello()))
	f.Add(testguest.Spec{Segments: []testguest.Segment{{Paddr: 0x1000, Data: []byte{1, 2}, Memsz: 0x10000}, {Paddr: 0x400000, Data: []byte{0xF4}}},
		Entry: 0x400000, NoteDesc: 4}.ELF())
	if seeds, _ := filepath.Glob("/tmp/hello.img"); len(seeds) == 1 {
		if b, err := os.ReadFile(seeds[0]); err == nil && len(b) < 1<<20 {
			f.Add(b)
		}
	}
	const memSize = 8 << 20
	mem := make([]byte, memSize)
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := ParseImage(data)
		if err != nil {
			require.ErrorIs(t, err, ErrBadImage)
			return
		}
		l, err := Plan(img, memSize, "console=ttyS0 -- a")
		if err != nil {
			return
		}
		require.NoError(t, l.Load(mem))
		require.GreaterOrEqual(t, uint64(l.Entry), uint64(0))
	})
}

// TestParseImageForeignExecutable: an ordinary Linux executable, whose GNU
// property note is 8-byte aligned, is "not a unigo image", not a
// malformed note.
func TestParseImageForeignExecutable(t *testing.T) {
	data, err := os.ReadFile("/bin/true")
	require.NoError(t, err)
	_, err = ParseImage(data)
	require.ErrorIs(t, err, ErrBadImage)
	assert.Contains(t, err.Error(), "no PVH entry note")
}
