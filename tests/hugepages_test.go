package tests

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHugePages: with -hugepages the launcher backs guest RAM with host
// huge pages and copies the image into it; programs run as without, and
// the image's protections hold (the faults guest writes to text and
// read-only data and expects the faults). The launcher runner only:
// QEMU gets no such flag.
func TestHugePages(t *testing.T) {
	r := runnerNamed("launcher")
	r.check(t)
	for _, c := range []struct {
		pkg  string
		want []string
	}{
		{"./examples/hello", []string{"Hello from unigo!", "platform: linux/amd64"}},
		{"./tests/guests/faults", []string{"faults: read-only ok", "faults: efault ok", "faults: all ok\n"}},
	} {
		res, err := r.run(t, runSpec{image: images[c.pkg], memory: "64M", cpus: 1, timeout: 60 * time.Second, launcherArgs: []string{"-hugepages"}})
		require.NoError(t, err, c.pkg)
		require.Equal(t, 0, res.code, "%s: %s%s", c.pkg, res.out, res.diag)
		for _, w := range c.want {
			assert.Contains(t, res.out, w, c.pkg)
		}
	}
}
