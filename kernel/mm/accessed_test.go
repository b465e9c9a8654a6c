package mm_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/kernel/mm"
)

// assertAccessedDirty checks the entry mapping va and the tables above it:
// all accessed, and the leaf dirty exactly when it is writable.
func assertAccessedDirty(t *testing.T, va uintptr, what string) {
	t.Helper()
	e, _ := mm.Leaf(va)
	require.NotZero(t, e&mm.PtePresent, "%s at %#x mapped", what, va)
	assert.NotZero(t, e&mm.PteAccessed, "%s at %#x: accessed", what, va)
	assert.Equal(t, e&mm.PteWrite != 0, e&mm.PteDirty != 0, "%s at %#x: dirty iff writable", what, va)
	for i, te := range mm.TableEntries(va) {
		assert.NotZero(t, te&mm.PteAccessed, "%s at %#x: table entry at level %d accessed", what, va, 4-i)
	}
}

// TestEntriesAccessedDirty: every entry the kernel makes is accessed, and
// every writable leaf dirty, so that neither the CPU nor a host shadowing
// the tables has to set them on first use (and the host prefetches the
// neighbours of a faulting page).
func TestEntriesAccessedDirty(t *testing.T) {
	base := space(t, 8<<20)
	touch(t, base, base+8<<20) // 4 KiB pages, fault-around, then 2 MiB pages
	for va := base; va < base+8<<20; va += 64 * pg {
		assertAccessedDirty(t, va, "anonymous")
	}

	ro := base + 16<<20
	require.True(t, mm.SetRange(ro, ro+4*pg, mm.ProtRead))
	t.Cleanup(func() { mm.UnmapPages(ro, ro+4*pg, noShootdown) })
	require.Equal(t, mm.FaultOK, mm.Fault(ro, false, false))
	assertAccessedDirty(t, ro, "read-only")

	fakeImage(t, goImage)
	mm.NewPageTable()
	mm.MapIdentityHuge(0, 16<<20)
	mm.ProtectImage()
	for va := uintptr(0x400000); va < 0x8e1000; va += 16 * pg {
		assertAccessedDirty(t, va, "image")
	}
}
