package kernel

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKernelContextRules compiles the kernel packages with the compiler's
// escape, defer and write-barrier diagnostics and fails on what kernel
// context cannot run: values moved to the heap (no allocator there),
// defers that are not open-coded (they link records through the g, which
// is fake there), and GC write barriers (a pointer stored through a
// pointer: while a GC cycle marks, the barrier reaches for the g's M and
// P, which the fake g has not — a kernel fault that only shows when a
// system call's store meets a GC). rt is checked for write barriers too.
func TestKernelContextRules(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the kernel packages; skipped with -short")
	}
	kernelPkgs := "github.com/unigo-os/unigo/kernel/...=-m -d=defer,wb"
	rtPkg := "github.com/unigo-os/unigo/rt=-d=wb"
	cmd := exec.Command("go", "build", "-a", "-gcflags="+kernelPkgs, "-gcflags="+rtPkg, "./...")
	cmd.Env = append(cmd.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	var bad []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "_test.go") {
			continue
		}
		if strings.Contains(line, "moved to heap") || strings.Contains(line, "escapes to heap") ||
			strings.Contains(line, "stack-allocated defer") || strings.Contains(line, "heap-allocated defer") ||
			strings.Contains(line, "write barrier") {
			bad = append(bad, line)
		}
	}
	require.Empty(t, bad, "kernel code must not allocate, use runtime-managed defers or store pointers through pointers")
}

// TestNoInitWork checks that no kernel package, nor abi, has work for an
// init function: kernelMain runs before the Go runtime initialises any
// package, so everything the kernel reads must be statically initialised
// data. A package whose imports have init functions gets a one-byte init
// (RET); an init() or a package variable computed at run time makes it
// longer, or adds init.N.
func TestNoInitWork(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the kernel packages; skipped with -short")
	}
	out, err := exec.Command("go", "list", "./...", "../abi").Output()
	require.NoError(t, err)
	pkgs := strings.Fields(string(out))
	require.Contains(t, pkgs, "github.com/unigo-os/unigo/kernel/kctx")
	dir := t.TempDir()
	for _, pkg := range pkgs {
		archive := dir + "/p.a"
		cmd := exec.Command("go", "build", "-o", archive, pkg)
		cmd.Env = append(cmd.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
		b, err := cmd.CombinedOutput()
		require.NoError(t, err, string(b))
		syms, err := exec.Command("go", "tool", "nm", "-size", archive).Output()
		require.NoError(t, err)
		for _, line := range strings.Split(string(syms), "\n") {
			f := strings.Fields(line)
			if len(f) != 4 || f[2] != "T" || !strings.HasPrefix(f[3], pkg+".init") {
				continue
			}
			assert.True(t, f[3] == pkg+".init" && f[1] == "1", "%s: init work (%s, %s bytes)", pkg, f[3], f[1])
		}
	}
}
