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

	// The user-mode network runs in unigo-net, a child of the launcher
	// binary, which the CLI execs all the same; -bench reports that
	// process's memory too.
	out, err = exec.Command(bin, "run", "-bench", "-net", "user", "-m", "16M", img).CombinedOutput()
	require.ErrorAs(t, err, &ee, "%s", out)
	assert.Equal(t, 7, ee.ExitCode(), "%s", out)
	marks, mem := bench.ParseLines(string(out), 0)
	require.Contains(t, marks, "cli start", "%s", out)
	assert.Greater(t, marks["launcher start"], marks["cli start"], "%s", out)
	assert.Positive(t, mem["net.rss"], "%s", out)
	assert.Positive(t, mem["guest"], "%s", out)

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

	// Alone, it has no network process to start: one line, exit 125.
	out, err = exec.Command(alone, "run", "-net", "user", "-m", "16M", img).CombinedOutput()
	require.ErrorAs(t, err, &ee, "%s", out)
	assert.Equal(t, exitLauncher, ee.ExitCode(), "%s", out)
	assert.Regexp(t, `^unigo run: user-mode network: no unigo-net next to \S+ \(make build builds it\)\n$`, string(out))
}

// TestBinariesLinks: the user-mode network's stack and its dependencies
// (gVisor, gvisor-tap-vsock, gopacket, whose package init costs every
// start) are in unigo-net only, not in the CLI nor in the launcher.
func TestBinariesLinks(t *testing.T) {
	bin := launchtest.Binaries(t)
	dir := filepath.Dir(bin)
	links := func(name string) string {
		out, err := exec.Command("go", "version", "-m", filepath.Join(dir, name)).CombinedOutput()
		require.NoError(t, err, "%s", out)
		return string(out)
	}
	for _, name := range []string{"unigo", "unigo-vmm"} {
		m := links(name)
		for _, dep := range []string{"gvisor.dev/gvisor", "github.com/containers/gvisor-tap-vsock", "github.com/google/gopacket"} {
			assert.NotContains(t, m, dep, name)
		}
	}
	m := links("unigo-net")
	assert.Contains(t, m, "github.com/containers/gvisor-tap-vsock")
	assert.NotContains(t, m, "github.com/google/go-containerregistry", "unigo-net links the CLI's commands")
}
