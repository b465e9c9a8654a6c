package tests

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const fslatPkg = "./tests/guests/fslat"

var (
	fslatLine  = regexp.MustCompile(`fslat: n=(\d+) stat_us=([0-9.]+) pread4k_us=([0-9.]+)`)
	fslatStats = regexp.MustCompile(`unigo: stats: all syscalls=(\d+) faults=\d+ switches=(\d+) halts=(\d+) irq-timer=(\d+) .* timer-arms=(\d+) .*irq-timer-early=(\d+)`)
)

// TestFileChannelLatency boots the fslat guest, which times stats and
// 4 KiB preads on an fsserve.MemFS mount (each result checked in the
// guest), and logs the mean per operation and, from unigo.stats, the
// kernel events per operation: the figures of docs/BENCHMARKS.md ("The
// file channel's round trip"). It asserts only that the guest's checks
// passed and the figures were printed: the times follow the host's load.
func TestFileChannelLatency(t *testing.T) {
	const n = 300
	forBootRunners(t, func(t *testing.T, r runner) {
		res, err := r.run(t, runSpec{image: images[fslatPkg], args: []string{strconv.Itoa(n)},
			memory: "128M", cpus: 1, timeout: 2 * time.Minute, kparams: []string{"unigo.stats=1"}})
		require.NoError(t, err)
		require.Equal(t, 0, res.code, "output:\n%s", res.out)
		assert.Contains(t, res.out, "fslat: ok\n")
		m := fslatLine.FindStringSubmatch(res.out)
		require.NotNil(t, m, "no figures in:\n%s", res.out)
		require.Equal(t, strconv.Itoa(n), m[1])
		t.Logf("%s: stat %s µs, 4 KiB pread %s µs per operation", r.name, m[2], m[3])
		s := fslatStats.FindStringSubmatch(res.out)
		require.NotNil(t, s, "no unigo.stats totals in:\n%s", res.out)
		ops := float64(2 * n)
		per := func(i int) float64 { v, _ := strconv.ParseFloat(s[i], 64); return v / ops }
		t.Logf("%s: per operation (whole run): %.1f syscalls, %.1f switches, %.1f halts, %.1f timer interrupts (%.1f early), %.1f timer writes",
			r.name, per(1), per(2), per(3), per(4), per(6), per(5))
	})
}

// TestFileChannelLatencyBadCount: a count that is not a positive number
// is one line and exit status 2.
func TestFileChannelLatencyBadCount(t *testing.T) {
	forBootRunners(t, func(t *testing.T, r runner) {
		res, err := r.run(t, runSpec{image: images[fslatPkg], args: []string{"x"}, memory: "128M", cpus: 1, timeout: time.Minute})
		require.NoError(t, err)
		assert.Equal(t, 2, res.code, "output:\n%s", res.out)
		assert.Contains(t, res.out, `fslat: bad count "x"`)
	})
}
