package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// launcherModules are modules only the tools need (the launcher's
// user-mode network, its kexec loader, their logging and DNS); an
// application that requires unigo must not get them from unigo.
var launcherModules = []string{
	"github.com/containers/gvisor-tap-vsock",
	"github.com/u-root/u-root",
	"github.com/miekg/dns",
	"github.com/sirupsen/logrus",
}

// TestAppModuleGraph makes a fresh application module that requires unigo
// (replaced by this checkout) and uses the kernel, the netstack and the
// storage drivers (the README's recipe), tidies
// it, checks that the launcher's dependencies stay out of its module graph
// and out of what it links, then builds it with unigo build.
func TestAppModuleGraph(t *testing.T) {
	root, err := (&builder{}).unigoRoot()
	require.NoError(t, err)
	app := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/app\n\ngo 1.26\n\nrequire github.com/unigo-os/unigo v0.0.0-00010101000000-000000000000\n\n" +
			"replace github.com/unigo-os/unigo => " + root + "\n",
		"main.go": `package main

import (
	"fmt"
	"net"

	_ "github.com/unigo-os/unigo/drivers/storage"
	_ "github.com/unigo-os/unigo/kernel"
	_ "github.com/unigo-os/unigo/netstack"
)

func main() {
	_, err := net.Dial("tcp", "192.0.2.1:1")
	fmt.Println("hello from an app module", err != nil)
}
`,
	}
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(app, name), []byte(body), 0o644))
	}
	goCmd := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = app
		cmd.Env = append(goEnv(), "GOFLAGS=-mod=mod", "GOWORK=off")
		out, err := cmd.Output()
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		require.NoError(t, err, "go %s: %s", strings.Join(args, " "), stderr)
		return string(out)
	}
	goCmd("mod", "tidy")

	// Every module in the graph, and unigo's own requirements in it.
	all := strings.Fields(goCmd("list", "-m", "-f", "{{.Path}}", "all"))
	var unigoReqs []string
	for _, line := range strings.Split(goCmd("mod", "graph"), "\n") {
		if from, to, ok := strings.Cut(line, " "); ok && strings.HasPrefix(from, unigoModule+"@") {
			unigoReqs = append(unigoReqs, strings.Split(to, "@")[0])
		}
	}
	require.NotEmpty(t, unigoReqs)
	// The packages the application links.
	deps := goCmd("list", "-deps", "-f", "{{with .Module}}{{.Path}}{{end}}", ".")
	linked := strings.Fields(deps)
	for _, m := range launcherModules {
		assert.NotContains(t, unigoReqs, m, "unigo's go.mod requires %s", m)
		assert.NotContains(t, linked, m, "the application links %s", m)
	}
	// gVisor's go.mod requires logrus (for gVisor's own tools) and
	// hugelgupf/p9's requires u-root (for its own), so only the others
	// must be absent from the whole graph.
	for _, m := range []string{launcherModules[0], launcherModules[2]} {
		assert.NotContains(t, all, m, "%s is in the application's module graph", m)
	}
	assert.NotContains(t, linked, "github.com/stretchr/testify", "testify is for tests only")
	assert.Contains(t, linked, "gvisor.dev/gvisor")
	t.Logf("application module graph: %d modules; unigo requires %d", len(all), len(unigoReqs))

	img := filepath.Join(t.TempDir(), "app.img")
	_, err = (&builder{out: img}).build(app)
	require.NoError(t, err)
	_, err = os.Stat(img)
	require.NoError(t, err)
}

// A module that never recorded the storage drivers' requirements gets one
// line saying what to import.
func TestMissingSumFor(t *testing.T) {
	diag := "/x/drivers/storage/volumes.go:9:2: missing go.sum entry for module providing package github.com/hugelgupf/p9/p9 (imported by github.com/unigo-os/unigo/drivers/storage); to add:\n\tgo get github.com/unigo-os/unigo/drivers/storage@v0.0.0\n"
	assert.Equal(t, storagePackage, missingSumFor(diag))
	assert.Empty(t, missingSumFor("main.go:3:2: undefined: x\n"))
}
