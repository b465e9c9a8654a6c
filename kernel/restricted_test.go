package kernel

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestKernelContextRules compiles the kernel packages with the compiler's
// escape and defer diagnostics and fails on what kernel context cannot
// run: values moved to the heap (no allocator there) and defers that are
// not open-coded (they link records through the g, which is fake there).
func TestKernelContextRules(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the kernel packages; skipped with -short")
	}
	pkgs := "github.com/unigo-os/unigo/kernel/...=-m -d=defer"
	cmd := exec.Command("go", "build", "-a", "-gcflags="+pkgs, "./...")
	cmd.Env = append(cmd.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	var bad []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "_test.go") {
			continue
		}
		if strings.Contains(line, "moved to heap") || strings.Contains(line, "escapes to heap") ||
			strings.Contains(line, "stack-allocated defer") || strings.Contains(line, "heap-allocated defer") {
			bad = append(bad, line)
		}
	}
	require.Empty(t, bad, "kernel code must not allocate or use runtime-managed defers")
}
