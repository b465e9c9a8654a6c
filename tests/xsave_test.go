package tests

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/tools/probe"
)

// TestXSaveArea checks the extended-state sizing of the host-portability
// issue on every runner: the save mask never holds a component outside
// the kernel's (x87, SSE, AVX, AVX-512) whatever XCR0 the host shows, and
// the boot check stops a boot whose area is too small for the mask, with
// one line and exit 70, instead of letting XSAVE overwrite kernel memory.
func TestXSaveArea(t *testing.T) {
	forBootRunners(t, func(t *testing.T, r runner) {
		res, err := r.run(t, runSpec{image: images["./examples/hello"], memory: "128M", cpus: 1,
			timeout: 30 * time.Second * tcgSlowdown, kparams: []string{probe.GuestCPUParam}})
		require.NoError(t, err)
		require.Equal(t, 0, res.code, "output:\n%s", res.out)
		g, ok, err := probe.FindGuestCPU(res.out)
		require.NoError(t, err)
		require.True(t, ok, "no cpu line in:\n%s", res.out)
		t.Logf("%s", g)
		mask, size := g.XSaveMask, g.XSaveSize
		assert.Zero(t, mask&^0xe7, "save mask %#x holds components the kernel does not enable", mask)
		assert.Equal(t, uint64(3), mask&3, "x87 and SSE are always saved")
		assert.GreaterOrEqual(t, size, 576)

		if mask&4 == 0 {
			t.Skipf("this CPU has no AVX state (mask %#x): nothing to overflow a legacy-sized area", mask)
		}
		// Size the area for x87|SSE only: the AVX state then lands past it.
		res, err = r.run(t, runSpec{image: images["./examples/hello"], memory: "128M", cpus: 1,
			timeout: 30 * time.Second * tcgSlowdown, kparams: []string{"unigo.xsave.sizefor=3"}})
		require.NoError(t, err)
		assert.Equal(t, 70, res.code, "output:\n%s", res.out)
		assert.Contains(t, res.out, "unigo: kernel panic: XSAVE with mask "+fmt.Sprintf("%#x", mask)+" writes past the 576-byte extended-state area\n")
		assert.NotContains(t, res.out, "Hello from unigo!")
	})
}
