package tests

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVDSO checks that the Go runtime reads the clocks through the
// kernel's vDSO, not with clock_gettime system calls: examples/hello
// booted with unigo.stats, whose exit report lists the busiest system
// calls, must list none for clock_gettime (the runtime reads the clock
// hundreds of times before main). The time scenario checks the clock the
// vDSO returns against the host's.
func TestVDSO(t *testing.T) {
	forBootRunners(t, func(t *testing.T, r runner) {
		res, err := r.run(t, runSpec{image: images["./examples/hello"], memory: "128M", cpus: 1,
			timeout: 30 * time.Second * tcgSlowdown, kparams: []string{"unigo.stats=1"}})
		require.NoError(t, err)
		require.Equal(t, 0, res.code, "output:\n%s", res.out)
		assert.Contains(t, res.out, "unigo: stats: syscalls ")
		assert.NotContains(t, res.out, "clock_gettime=", "the runtime made clock_gettime system calls")
	})
}
