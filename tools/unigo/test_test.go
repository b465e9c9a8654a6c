package main

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseTestArgs(t *testing.T) {
	o, err := parseTestArgs([]string{"-v", "-run=^TestX$", "-count", "2", "-tags", "a,b", "./...", "-m", "1G",
		"-timeout", "30s", "-short", "-trimpath", "-e", "K=V", "pkg", "-args", "-x", "y"})
	require.NoError(t, err)
	assert.Equal(t, []string{"./...", "pkg"}, o.pkgs)
	assert.Equal(t, []string{"-tags=a,b", "-trimpath"}, o.buildArgs)
	assert.Equal(t, []string{"-test.v=true", "-test.run=^TestX$", "-test.count=2", "-test.short=true",
		"-test.paniconexit0", "-test.timeout=30s"}, o.testArgs)
	assert.Equal(t, []string{"-x", "y"}, o.binArgs)
	assert.Equal(t, "1G", o.mem)
	assert.Equal(t, []string{"K=V"}, o.env)
	assert.Equal(t, 30*time.Second, o.timeout)
	assert.True(t, o.verbose)
	assert.Equal(t, runnerLauncher, o.runner)

	o, err = parseTestArgs([]string{"-json"})
	require.NoError(t, err)
	assert.True(t, o.json)
	assert.Empty(t, o.pkgs)
	assert.Equal(t, []string{"-test.v=test2json", "-test.paniconexit0", "-test.timeout=10m0s"}, o.testArgs)

	_, err = parseTestArgs([]string{"-h"})
	assert.ErrorIs(t, err, errHelp)
	for args, msg := range map[string]string{
		"-race":      "-race is not supported: the race detector",
		"-cover":     "-cover is not supported",
		"-fuzz":      "-fuzz is not supported",
		"-nosuch":    "flag provided but not defined: -nosuch",
		"-run":       "flag needs an argument: -run",
		"-short=yes": `invalid boolean value "yes"`,
		"-m":         "flag needs an argument",
		"-runner=x":  "-runner x: want launcher or qemu",
	} {
		_, err := parseTestArgs([]string{args})
		if assert.Error(t, err, args) {
			assert.Contains(t, err.Error(), msg, args)
		}
	}
}

func TestCRLFWriter(t *testing.T) {
	var b bytes.Buffer
	w := &crlfWriter{w: &b}
	for _, s := range []string{"a\r\nb\r", "\nc\r", "d\r\n\r", ""} {
		n, err := w.Write([]byte(s))
		require.NoError(t, err)
		assert.Equal(t, len(s), n)
	}
	w.flush()
	assert.Equal(t, "a\nb\nc\rd\n\r", b.String())
}

func TestGoVersionSupported(t *testing.T) {
	for _, v := range []string{"go1.26", "go1.26.0", "go1.26.3", "go1.27rc1", "go1.27.3"} {
		assert.NoError(t, goVersionSupported(v), v)
	}
	for _, v := range []string{"go1.25.5", "go1.28", "go1.260", "devel go1.28-abc"} {
		err := goVersionSupported(v)
		if assert.Error(t, err, v) {
			assert.Equal(t, v+" is not supported: unigo works with Go 1.26 and 1.27 (set GOTOOLCHAIN, e.g. GOTOOLCHAIN=go1.27.3)", err.Error())
		}
	}
}

// TestWriteDirTar checks what of a package directory goes into the guest:
// files and testdata, not hidden entries nor other packages.
func TestWriteDirTar(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{
		"p.go": "package p", "p_test.go": "package p", "data.txt": "x",
		"testdata/in/a.txt": "a", "testdata/sub/x.go": "package x", "testdata/.keep": "",
		".hidden/f": "h", "sub/q.go": "package q", "assets/img.txt": "i",
	} {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(data), 0o644))
	}
	require.NoError(t, os.Symlink("data.txt", filepath.Join(dir, "link")))
	out := filepath.Join(t.TempDir(), "x.tar")
	require.NoError(t, writeDirTar(dir, out, true))
	var names []string
	for _, h := range tarHeaders(t, out) {
		names = append(names, h.Name)
		if h.Name == "link" {
			assert.Equal(t, "data.txt", h.Linkname)
		}
	}
	sort.Strings(names)
	assert.Equal(t, []string{"assets", "assets/img.txt", "data.txt", "link", "p.go", "p_test.go",
		"testdata", "testdata/in", "testdata/in/a.txt", "testdata/sub", "testdata/sub/x.go"}, names)
}
