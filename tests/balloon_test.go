package tests

import (
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// balloonStats is the launcher's UNIGO_VMM_STATS line for the
// free-page-reporting balloon (virtio device ID 5).
var balloonStats = regexp.MustCompile(`virtio device 5: .*; free page reports (\d+), ranges discarded (\d+) \((\d+) KiB\), ranges refused (\d+)`)

// TestBalloonAttached: the launcher gives every guest the balloon, after
// its other devices, and -balloon=false leaves it out; a guest boots and
// runs the same either way. (The launcher runner only: QEMU gets no
// balloon from unigo run.)
func TestBalloonAttached(t *testing.T) {
	r := runnerNamed("launcher")
	r.check(t)
	t.Setenv("UNIGO_VMM_STATS", "1")
	for _, c := range []struct {
		args []string
		want bool
	}{{nil, true}, {[]string{"-balloon=false"}, false}, {[]string{"-rng"}, true}} {
		res, err := r.run(t, runSpec{image: images["./examples/hello"], memory: "64M", cpus: 1, timeout: 60 * time.Second, launcherArgs: c.args})
		require.NoError(t, err, "%v", c.args)
		require.Equal(t, 0, res.code, "%v: %s%s", c.args, res.out, res.diag)
		assert.Contains(t, res.out, "Hello from unigo!", "%v", c.args)
		m := balloonStats.FindStringSubmatch(res.diag)
		assert.Equal(t, c.want, m != nil, "%v: the balloon's counters in %q", c.args, res.diag)
		if m != nil {
			assert.Equal(t, "0", m[4], "%v: no range refused", c.args)
		}
	}
}
