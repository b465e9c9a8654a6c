package image

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestWritePageTables checks the boot page tables the writer stores for
// rt.boot32: at its first page boundary, PML4[0] -> PDPT -> PD0 mapping
// 1 GiB with 2 MiB pages; nothing when they would not lie in file bytes.
func TestWritePageTables(t *testing.T) {
	const vaddr, off = 0x500000, 0x100000
	p := &parsed{progs: []phdr{{typ: ptLoad, off: off, vaddr: vaddr, paddr: vaddr, filesz: 0x10000, mem: 0x20000}}}
	out := make([]byte, off+0x10000)
	p.writePageTables(out, vaddr+0x20) // boot32 32-byte aligned, 0xfe0 below a page
	b := out[off+0x1000:]
	assert.Equal(t, uint64(vaddr+0x2000|0x27), le.Uint64(b[0:]), "PML4[0]")
	assert.Equal(t, uint64(vaddr+0x3000|0x27), le.Uint64(b[0x1000:]), "PDPT[0]")
	for i := uint64(0); i < 512; i++ {
		assert.Equal(t, i<<21|0xe7, le.Uint64(b[0x2000+i*8:]), "PD0[%d]", i)
	}
	assert.Zero(t, le.Uint64(b[8:]), "PML4[1]")
	assert.Zero(t, le.Uint64(b[0x1008:]), "PDPT[1]")

	// In BSS (beyond filesz): the guest builds them.
	out = make([]byte, off+0x10000)
	p.writePageTables(out, vaddr+0xe000)
	assert.Equal(t, make([]byte, len(out)), out)
}
