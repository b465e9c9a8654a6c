package tests

import (
	"context"
	"debug/buildinfo"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// go127 is the Go 1.27 release the tests fetch through GOTOOLCHAIN.
const go127 = "go1.27.3"

// go127Scenarios are the scenarios TestGo127 builds with Go 1.27 and boots:
// the ones that lean on runtime details the kernel depends on (TLS and g,
// signals and their frames, preemption, the vDSO clock, SMP, exit paths).
var go127Scenarios = []string{"hello", "exit7", "panic", "argsenv", "fileio", "faults", "overflow",
	"preempt", "profile", "signals", "smp", "threads", "time"}

// TestGo127 builds hello and a set of scenarios with Go 1.27
// (GOTOOLCHAIN=go1.27.3, fetched through the module proxy) and boots
// them under the launcher and natively.
func TestGo127(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	v := exec.CommandContext(ctx, "go", "version")
	v.Env = append(os.Environ(), "GOTOOLCHAIN="+go127)
	out, err := v.CombinedOutput()
	if err != nil {
		t.Skipf("cannot get the %s toolchain (GOTOOLCHAIN=%s go version): %v: %s", go127, go127, err, strings.TrimSpace(string(out)))
	}
	require.Contains(t, string(out), go127)

	dir := t.TempDir()
	images127 := map[string]string{}
	for _, sc := range scenarios {
		if !slices.Contains(go127Scenarios, sc.name) || images127[sc.pkg] != "" {
			continue
		}
		img := filepath.Join(dir, strings.ReplaceAll(strings.TrimPrefix(sc.pkg, "./"), "/", "_")+".img")
		build := exec.Command(unigoBin, "build", "-o", img, sc.pkg)
		build.Dir = moduleRoot
		build.Env = append(os.Environ(), "GOTOOLCHAIN="+go127)
		out, err := build.CombinedOutput()
		require.NoError(t, err, "unigo build %s with %s: %s", sc.pkg, go127, out)
		bi, err := buildinfo.ReadFile(img)
		require.NoError(t, err)
		require.Equal(t, go127, bi.GoVersion, "%s was not built by %s", sc.pkg, go127)
		images127[sc.pkg] = img
	}
	for _, name := range []string{"native", "launcher"} {
		r := runnerNamed(name)
		t.Run(name, func(t *testing.T) {
			r.check(t)
			for _, sc := range scenarios {
				if !slices.Contains(go127Scenarios, sc.name) {
					continue
				}
				t.Run(sc.name, func(t *testing.T) {
					if why := sc.skip[r.name]; why != "" {
						t.Skip(why)
					}
					s := sc.spec()
					s.image = images127[sc.pkg]
					start := time.Now()
					res, err := r.run(t, s)
					end := time.Now()
					require.NoError(t, err)
					require.Equal(t, sc.wantCode, res.code, "exit code; output:\n%s%s", res.out, res.diag)
					for _, w := range sc.wantOut {
						assert.Contains(t, res.out, w)
					}
					if sc.check != nil {
						sc.check(t, res, start, end)
					}
				})
			}
		})
	}
}
