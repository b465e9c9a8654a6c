package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/tools/bench"
	"github.com/unigo-os/unigo/tools/launch/launchtest"
	"github.com/unigo-os/unigo/tools/vmm/testguest"
)

// TestRunExecsLauncher: `unigo run` hands an image to the launcher binary
// next to it (the launcher's own start mark follows the CLI's), keeps the
// guest's exit code, and removes the image it built for a package once the
// launcher is done; without the launcher binary it boots the guest itself.
func TestRunExecsLauncher(t *testing.T) {
	kvmOK(t)
	bin := launchtest.Binaries(t)
	img := writeImage(t, testguest.Hello())

	out, err := exec.Command(bin, "run", "-bench", "-m", "16M", img).CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", out)
	assert.Equal(t, 7, ee.ExitCode(), "%s", out)
	assert.Regexp(t, `(?s)unigo-bench: mark cli start \d+\n.*unigo-bench: mark launcher start \d+\n`, string(out))

	// The user-mode network is not in the launcher binary: the CLI boots
	// such a guest itself, so the launcher starts when the CLI does.
	out, err = exec.Command(bin, "run", "-bench", "-net", "user", "-m", "16M", img).CombinedOutput()
	require.ErrorAs(t, err, &ee, "%s", out)
	assert.Equal(t, 7, ee.ExitCode(), "%s", out)
	marks, _ := bench.ParseLines(string(out), 0)
	require.Contains(t, marks, "cli start", "%s", out)
	assert.Equal(t, marks["cli start"], marks["launcher start"], "%s", out)

	tmp := t.TempDir()
	cmd := exec.Command(bin, "run", "-m", "128M", "-timeout", "2m", "../../examples/hello")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "Hello from unigo!")
	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, left, "the built image is left behind")

	alone := filepath.Join(t.TempDir(), "unigo")
	b, err := os.ReadFile(bin)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(alone, b, 0o755))
	out, err = exec.Command(alone, "run", "-bench", "-m", "16M", img).CombinedOutput()
	require.ErrorAs(t, err, &ee, "%s", out)
	assert.Equal(t, 7, ee.ExitCode(), "%s", out)
	marks, _ = bench.ParseLines(string(out), 0)
	require.Contains(t, marks, "launcher start", "%s", out)
	assert.Equal(t, marks["cli start"], marks["launcher start"], "in-process: %s", out)
}
