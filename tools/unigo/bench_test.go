package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/tools/bench"
)

// TestRunBenchMarks boots examples/hello with `unigo run -bench` and checks
// that every phase `unigo bench` reports is marked, in boot order, including
// the guest's own boot marks (abi.PortBootMark), and that the memory line
// counts the guest's resident RAM.
func TestRunBenchMarks(t *testing.T) {
	kvmOK(t)
	img := filepath.Join(t.TempDir(), "hello.img")
	require.NoError(t, buildImage("../../examples/hello", img))
	code, out, errs := runInProcess(img, "-bench", "-m", "64M")
	require.Equal(t, 0, code, errs)
	assert.Contains(t, out, "Hello from unigo!")
	marks, mem := bench.ParseLines(errs, 0)
	order := []string{"launcher start", "open kvm", "create vm", "load image", "devices", "first vCPU run",
		"guest entry", "runtime start", "guest exit"}
	for i, phase := range order {
		require.Contains(t, marks, phase, errs)
		if i > 0 {
			assert.LessOrEqual(t, marks[order[i-1]], marks[phase], "%s before %s", order[i-1], phase)
		}
	}
	// The first output reaches stdout through the UART's writer
	// goroutine, so it may land after the guest's exit was marked.
	require.Contains(t, marks, "first output", errs)
	assert.LessOrEqual(t, marks["runtime start"], marks["first output"], "runtime start before first output")
	assert.Positive(t, mem["guest"], errs)
	assert.Greater(t, mem["rss"], mem["guest"], errs)
}
