package tests

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cpuInfoLine is the kernel's unigo.cpuinfo=1 line.
var cpuInfoLine = regexp.MustCompile(`unigo: cpu vendor=(\S+) xcr0=(0x[0-9a-f]+) cpuid-xsave-size=(\d+) xsave-mask=(0x[0-9a-f]+) xsave-size=(\d+) pvm=([01])\n`)

// TestXSaveArea checks the extended-state sizing of the host-portability
// issue on every runner: the save mask never holds a component outside
// the kernel's (x87, SSE, AVX, AVX-512) whatever XCR0 the host shows, and
// the boot check stops a boot whose area is too small for the mask, with
// one line and exit 70, instead of letting XSAVE overwrite kernel memory.
func TestXSaveArea(t *testing.T) {
	forBootRunners(t, func(t *testing.T, r runner) {
		res, err := r.run(t, runSpec{image: images["./examples/hello"], memory: "128M", cpus: 1,
			timeout: 30 * time.Second * tcgSlowdown, kparams: []string{"unigo.cpuinfo=1"}})
		require.NoError(t, err)
		require.Equal(t, 0, res.code, "output:\n%s", res.out)
		m := cpuInfoLine.FindStringSubmatch(res.out)
		require.NotNil(t, m, "no cpuinfo line in:\n%s", res.out)
		t.Logf("%s", m[0])
		mask, err := strconv.ParseUint(m[4], 0, 64)
		require.NoError(t, err)
		size, err := strconv.Atoi(m[5])
		require.NoError(t, err)
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
		assert.Contains(t, res.out, "unigo: kernel panic: XSAVE with mask "+m[4]+" writes past the 576-byte extended-state area\n")
		assert.NotContains(t, res.out, "Hello from unigo!")
	})
}
