package tests

import (
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBootPageTables checks both ways the boot identity map comes about:
// stored in the image by the image writer (every image `unigo build`
// writes: pvhEntry only loads CR3), and built by pvhEntry itself when the
// image lacks them (an image from another writer). examples/hello, and a
// copy whose stored tables are cleared, must both boot and exit 0.
func TestBootPageTables(t *testing.T) {
	img := images["./examples/hello"]
	b, err := os.ReadFile(img)
	require.NoError(t, err)
	off := bootPTOffset(t, img)
	le := binary.LittleEndian
	pml4, pdpt, pd := le.Uint64(b[off:]), le.Uint64(b[off+4096:]), b[off+2*4096:]
	require.NotZero(t, pml4, "unigo build stored no boot page tables")
	assert.Equal(t, uint64(0x27), pml4&0xfff, "PML4[0] flags: present, writable, user, accessed")
	assert.Equal(t, uint64(0x27), pdpt&0xfff, "PDPT[0] flags")
	for i := uint64(0); i < 512; i++ {
		require.Equal(t, i<<21|0xe7, le.Uint64(pd[i*8:]), "PD0[%d]: 2 MiB, accessed and dirty", i)
	}

	clear(b[off : off+3*4096])
	bare := filepath.Join(t.TempDir(), "hello-guest-built-pt.img")
	require.NoError(t, os.WriteFile(bare, b, 0o755))

	forBootRunners(t, func(t *testing.T, r runner) {
		for _, image := range []string{img, bare} {
			res, err := r.run(t, runSpec{image: image, memory: "128M", cpus: 1, timeout: 30 * time.Second})
			require.NoError(t, err)
			require.Equal(t, 0, res.code, "%s: output:\n%s", filepath.Base(image), res.out)
			assert.Contains(t, res.out, "Hello from unigo!", filepath.Base(image))
		}
	})
}

// bootPTOffset returns the file offset of the boot page tables: the first
// 4 KiB boundary inside rt.boot32 (rt/boot_amd64.s, tools/image).
func bootPTOffset(t *testing.T, img string) uint64 {
	t.Helper()
	f, err := elf.Open(img)
	require.NoError(t, err)
	defer f.Close()
	syms, err := f.Symbols()
	require.NoError(t, err)
	for _, s := range syms {
		if s.Name != "github.com/unigo-os/unigo/rt.boot32" {
			continue
		}
		base := (s.Value + 4095) &^ 4095
		for _, p := range f.Progs {
			if p.Type == elf.PT_LOAD && base >= p.Vaddr && base+3*4096 <= p.Vaddr+p.Filesz {
				return p.Off + base - p.Vaddr
			}
		}
		t.Fatalf("rt.boot32's page tables at %#x are not in the file", base)
	}
	t.Fatal("no symbol rt.boot32")
	return 0
}
