package tests

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// straceLine is the shape of every line unigo.strace prints.
var straceLine = regexp.MustCompile(`^\[tid \d+\] [a-z0-9_]+\(.*\) = (-?\d+|0x[0-9a-f]+|\?|-1 E[A-Z0-9]+ \([^)]*\))$`)

// TestStrace boots the fileio guest (on two CPUs, so that lines from both
// could mix) with unigo.strace=1 and checks the trace: a file opened by
// path with its descriptor as result, an errno decoded, exit_group last,
// and every trace line whole.
func TestStrace(t *testing.T) {
	forBootRunners(t, func(t *testing.T, r runner) {
		res, err := r.run(t, runSpec{image: images["./tests/guests/fileio"], memory: "128M", cpus: 2,
			timeout: 60 * time.Second, kparams: []string{"unigo.strace=1"}})
		require.NoError(t, err)
		require.Equal(t, 0, res.code, "output:\n%s", res.out)
		assert.Contains(t, res.out, "fileio: ok\n")
		assert.Regexp(t, `(?m)^\[tid \d+\] openat\(AT_FDCWD, "/tmp/unigo-fileio-[^"]+/one\.txt", 0x[0-9a-f]+, 0644\) = \d+$`, res.out)
		assert.Regexp(t, `(?m)^\[tid \d+\] [a-z0-9]+\(AT_FDCWD, "/tmp/unigo-fileio-[^"]+", .*\) = -1 ENOENT \(No such file or directory\)$`, res.out)
		assert.Regexp(t, `(?m)^\[tid \d+\] exit_group\(0\) = \?$`, res.out)
		n := 0
		for _, line := range strings.Split(res.out, "\n") {
			if i := strings.Index(line, "[tid "); i >= 0 {
				n++
				assert.Regexp(t, straceLine, line[i:], "a trace line")
				assert.Zero(t, i, "a trace line that does not start a line: %q", line)
			}
		}
		assert.Greater(t, n, 100, "trace lines")
	})
}
