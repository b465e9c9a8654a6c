package mm_test

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/kernel/mm"
)

type loadSeg struct {
	flags        uint32 // PF_X 1, PF_W 2, PF_R 4
	paddr, memsz uint64
}

// fakeImage points the mm image variables at program headers for segs
// (kept alive by the returned slice), with the image's extent [start, end)
// as findImage computes it.
func fakeImage(t *testing.T, segs []loadSeg) []byte {
	phdrs := make([]byte, 56*(len(segs)+1))
	le := binary.LittleEndian
	le.PutUint32(phdrs, 6) // a PT_PHDR first, which is skipped
	var end uint64
	for i, s := range segs {
		ph := phdrs[56*(i+1):]
		le.PutUint32(ph, 1) // PT_LOAD
		le.PutUint32(ph[4:], s.flags)
		le.PutUint64(ph[16:], s.paddr)
		le.PutUint64(ph[24:], s.paddr)
		le.PutUint64(ph[32:], s.memsz)
		le.PutUint64(ph[40:], s.memsz)
		end = max(end, s.paddr+s.memsz)
	}
	old := [...]uintptr{mm.ImageStart, mm.ImageEnd, mm.ImagePhdr, mm.ImagePhnum}
	oldNX, oldHuge := mm.NXOK, mm.ImageHuge
	t.Cleanup(func() {
		mm.ImageStart, mm.ImageEnd, mm.ImagePhdr, mm.ImagePhnum = old[0], old[1], old[2], old[3]
		mm.NXOK, mm.ImageHuge = oldNX, oldHuge
	})
	mm.ImageHuge = true // as with abi.HugeImageParam; tests say otherwise
	mm.ImageStart = uintptr(segs[0].paddr) &^ (mm.PageSize - 1)
	mm.ImageEnd = mm.PageRound(uintptr(end))
	mm.ImagePhdr = uintptr(unsafe.Pointer(&phdrs[0]))
	mm.ImagePhnum = uintptr(len(segs) + 1)
	mm.NXOK = true
	return phdrs
}

// A Go image's layout: text, read-only data and data packed at 4 KiB
// boundaries (examples/hello's).
var goImage = []loadSeg{
	{5, 0x400000, 0x138591},
	{4, 0x539000, 0x204950},
	{6, 0x73e000, 0x1a2f40},
}

func leafAt(t *testing.T, va uintptr) (write, exec, huge bool) {
	t.Helper()
	e, huge := mm.Leaf(va)
	require.NotZero(t, e&mm.PtePresent, "%#x mapped", va)
	return e&mm.PteWrite != 0, e&mm.PteNX == 0, huge
}

// TestProtectImageHugePages: a 2 MiB page wholly inside the image whose
// segments agree on writability stays one 2 MiB page (executable if one
// of them is), the others are split with each segment's protections,
// and system calls' write checks follow the result.
func TestProtectImageHugePages(t *testing.T) {
	phdrs := fakeImage(t, goImage)
	require.Equal(t, uintptr(0xa00000), mm.ImageHugeEnd(), "data ends last: its 2 MiB page may be the image's")
	mm.ImageEnd = mm.ImageHugeEnd()
	mm.NewPageTable()
	mm.MapIdentityHuge(0, 16<<20)
	mm.ProtectImage()

	for _, c := range []struct {
		va                uintptr
		write, exec, huge bool
		what              string
	}{
		{0x400000, false, true, true, "text"},
		{0x538000, false, true, true, "read-only data in text's 2 MiB page"},
		{0x600000, false, false, false, "read-only data beside data"},
		{0x73d000, false, false, false, "the last page of read-only data"},
		{0x73e000, true, false, false, "data beside read-only data"},
		{0x800000, true, false, true, "data and BSS"},
		{0x9ff000, true, false, true, "the rest of the image's last 2 MiB page"},
		{0xa00000, true, true, true, "RAM beyond the image, untouched"},
	} {
		w, x, h := leafAt(t, c.va)
		assert.Equal(t, [3]bool{c.write, c.exec, c.huge}, [3]bool{w, x, h}, "%s at %#x: write, exec, huge", c.what, c.va)
	}
	assert.False(t, mm.UserOK(0x401000, 8, true), "text is not writable")
	assert.False(t, mm.UserOK(0x537ff8, 16, true), "read-only data is not writable")
	assert.True(t, mm.UserOK(0x7fff00, 0x200, true), "data across a 4 KiB and a 2 MiB page")
	assert.True(t, mm.UserOK(0x400000, 0x100, false))
	_ = phdrs
}

// TestProtectImageSplitsWhereItMust: without the rest of its last 2 MiB
// page (RAM the image does not own), and where writable and read-only
// segments share a page, the image gets 4 KiB pages.
func TestProtectImageSplitsWhereItMust(t *testing.T) {
	fakeImage(t, goImage)
	mm.NewPageTable()
	mm.MapIdentityHuge(0, 16<<20)
	mm.ProtectImage()
	w, x, h := leafAt(t, 0x800000)
	assert.Equal(t, [3]bool{true, false, false}, [3]bool{w, x, h}, "data's 2 MiB page partly outside the image")
	w, x, h = leafAt(t, 0x8e1000)
	assert.Equal(t, [3]bool{true, true, false}, [3]bool{w, x, h}, "the RAM beyond stays as it was")

	// Read-only data last: the image's end is not moved.
	fakeImage(t, []loadSeg{{6, 0x400000, 0x1000}, {4, 0x401000, 0x300000}})
	assert.Equal(t, mm.ImageEnd, mm.ImageHugeEnd())
	mm.NewPageTable()
	mm.MapIdentityHuge(0, 16<<20)
	mm.ProtectImage()
	w, _, h = leafAt(t, 0x400000)
	assert.Equal(t, [2]bool{true, false}, [2]bool{w, h}, "data sharing a 2 MiB page with read-only data")
	w, _, h = leafAt(t, 0x600000)
	assert.Equal(t, [2]bool{false, false}, [2]bool{w, h}, "read-only data that ends inside its 2 MiB page")
}

// TestProtectImageSegmentsOn2MiB: segments linked on 2 MiB boundaries
// (go build -ldflags=-R=0x200000) get exactly their own protections in
// 2 MiB pages.
func TestProtectImageSegmentsOn2MiB(t *testing.T) {
	fakeImage(t, []loadSeg{{5, 0x400000, 0x138591}, {4, 0x600000, 0x1fe000}, {6, 0x800000, 0x1a2f40}})
	mm.ImageEnd = mm.ImageHugeEnd()
	mm.NewPageTable()
	mm.MapIdentityHuge(0, 16<<20)
	mm.ProtectImage()
	assertImagePages(t, true, []imagePage{{0x400000, false, true}, {0x600000, false, false}, {0x800000, true, false}})
}

// imagePage is what a page of the image is expected to allow.
type imagePage struct {
	va          uintptr
	write, exec bool
}

// assertImagePages checks each page's protections and whether a 2 MiB
// page maps it.
func assertImagePages(t *testing.T, huge bool, pages []imagePage) {
	t.Helper()
	for _, c := range pages {
		w, x, h := leafAt(t, c.va)
		assert.Equal(t, [3]bool{c.write, c.exec, huge}, [3]bool{w, x, h}, "%#x: write, exec, huge", c.va)
	}
}

// TestProtectImageExactWithoutHugeImage: unless the host announced huge
// pages behind the image (abi.HugeImageParam), every page of it gets
// exactly its segment's protections, in 4 KiB pages, and its end stays.
func TestProtectImageExactWithoutHugeImage(t *testing.T) {
	fakeImage(t, goImage)
	mm.ImageHuge = false
	assert.Equal(t, mm.ImageEnd, mm.ImageHugeEnd())
	mm.NewPageTable()
	mm.MapIdentityHuge(0, 16<<20)
	mm.ProtectImage()
	assertImagePages(t, false, []imagePage{{0x400000, false, true}, {0x600000, false, false}, {0x73e000, true, false}})
}
