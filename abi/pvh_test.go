package abi

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// note encodes one ELF note with name and descriptor padded to align.
func note(align int, name string, typ uint32, desc []byte) []byte {
	up := func(n int) int { return (n + align - 1) &^ (align - 1) }
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(name)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(desc)))
	b = binary.LittleEndian.AppendUint32(b, typ)
	b = append(b, name...)
	b = append(b, make([]byte, up(12+len(name))-12-len(name))...)
	b = append(b, desc...)
	return append(b, make([]byte, up(len(desc))-len(desc))...)
}

func TestPVHEntryNote(t *testing.T) {
	entry8 := binary.LittleEndian.AppendUint64(nil, 0x1234567)
	entry4 := binary.LittleEndian.AppendUint32(nil, 0x89abc)
	// A GNU property note as in every Debian binary: 8-byte aligned, a
	// 4-byte name, so the descriptor starts at 16, not at 12+8.
	gnuProp := note(8, "GNU\x00", 5, make([]byte, 16))
	for name, tc := range map[string]struct {
		seg   []byte
		align uint64
		entry uint64
		found bool
		err   string
	}{
		"xen-8":             {note(4, "Xen\x00", XenElfnotePhys32Entry, entry8), 4, 0x1234567, true, ""},
		"xen-4":             {note(4, "Xen\x00", XenElfnotePhys32Entry, entry4), 4, 0x89abc, true, ""},
		"after-build-id":    {append(note(4, "Go\x00\x00", 4, []byte("buildid!")), note(4, "Xen\x00", 18, entry8)...), 4, 0x1234567, true, ""},
		"gnu-property":      {gnuProp, 8, 0, false, ""},
		"gnu-then-xen-8":    {append(gnuProp, note(8, "Xen\x00", 18, entry8)...), 8, 0x1234567, true, ""},
		"other-type":        {note(4, "Xen\x00", 17, entry8), 4, 0, false, ""},
		"bad-desc":          {note(4, "Xen\x00", 18, []byte{1, 2}), 4, 0, false, "2-byte descriptor"},
		"truncated-header":  {[]byte{4, 0, 0}, 4, 0, false, "truncated"},
		"truncated-desc":    {note(4, "Xen\x00", 18, entry8)[:20], 4, 0, false, "truncated"},
		"huge-namesz":       {append(binary.LittleEndian.AppendUint32(nil, 0xffffffff), make([]byte, 8)...), 4, 0, false, "truncated"},
		"huge-descsz":       {binary.LittleEndian.AppendUint32(append(binary.LittleEndian.AppendUint32(nil, 0), 0xff, 0xff, 0xff, 0xff), 18), 4, 0, false, "truncated"},
		"empty":             {nil, 4, 0, false, ""},
		"name-without-nul":  {note(4, "Xen", 18, entry4), 4, 0x89abc, true, ""},
		"odd-align-is-four": {note(4, "Xen\x00", 18, entry4), 16, 0x89abc, true, ""},
	} {
		t.Run(name, func(t *testing.T) {
			e, found, err := PVHEntryNote(tc.seg, tc.align)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.found, found)
			assert.Equal(t, tc.entry, e)
		})
	}
}

// FuzzELFNotes: no input makes the walker panic or hand fn a slice
// outside the segment.
func FuzzELFNotes(f *testing.F) {
	f.Add(note(4, "Xen\x00", 18, make([]byte, 8)), uint8(4))
	f.Add(note(8, "GNU\x00", 5, make([]byte, 16)), uint8(8))
	f.Fuzz(func(t *testing.T, seg []byte, align uint8) {
		_ = ELFNotes(seg, uint64(align), func(name []byte, typ uint32, desc []byte, off uint64) bool {
			require.LessOrEqual(t, off+uint64(len(desc)), uint64(len(seg)))
			return true
		})
		_, _, _ = PVHEntryNote(seg, uint64(align))
	})
}
