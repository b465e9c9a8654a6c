package main

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/tools/image"
)

// fakeUnigo writes a minimal stand-in for the unigo module: package rt with
// an assembly pvhEntry, package kernel importing rt. It lets the build tests
// exercise module resolution and the kernel overlay without depending on the
// real kernel, which is developed concurrently.
func fakeUnigo(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"go.mod": "module github.com/unigo-os/unigo\n\ngo 1.26\n",
		"go.sum": "",
		"rt/rt.go": `package rt

import "os"

// Booted is true when the test says so (FAKE_BOOTED=1).
func Booted() bool { return os.Getenv("FAKE_BOOTED") == "1" }

func pvhEntry()

// Entry keeps pvhEntry linked.
var Entry = pvhEntry
`,
		"rt/entry_amd64.s": `#include "textflag.h"

TEXT ·pvhEntry(SB), NOSPLIT|NOFRAME, $0
	HLT
	RET
`,
		"kernel/kernel.go": `package kernel

import "github.com/unigo-os/unigo/rt"

func init() {
	if rt.Entry == nil {
		panic("no entry")
	}
}
`,
		"examples/hello/main.go": `package main

import "fmt"

func main() { fmt.Println("hello from a package") }
`,
		"examples/lib/lib.go": "package lib\n",
		// unigo build links it into programs that use os.
		"drivers/storage/storage.go": "package storage\n",
	}
	for name, body := range files {
		p := filepath.Join(root, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	}
	return root
}

// checkImage asserts that img has a PVH note pointing at rt.pvhEntry and
// still runs natively, printing want.
func checkImage(t *testing.T, img, want string) {
	t.Helper()
	f, err := elf.Open(img)
	require.NoError(t, err)
	defer f.Close()
	syms, err := f.Symbols()
	require.NoError(t, err)
	var entry uint64
	for _, s := range syms {
		if s.Name == image.EntrySymbol+".abi0" {
			entry = s.Value
		}
	}
	require.NotZero(t, entry, "no %s.abi0 in the image", image.EntrySymbol)
	r, err := os.Open(img)
	require.NoError(t, err)
	defer r.Close()
	got, err := image.PVHEntry(r)
	require.NoError(t, err)
	assert.Equal(t, entry, uint64(got))

	out, err := exec.Command(img).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, want, string(out))
}

// chdir changes the working directory for the rest of the test.
func chdir(t *testing.T, dir string) {
	t.Helper()
	wd, err := os.Getwd()
	require.NoError(t, err)
	require.NoError(t, os.Chdir(dir))
	t.Cleanup(func() { os.Chdir(wd) })
}

func TestBuildPackageDir(t *testing.T) {
	root := fakeUnigo(t)
	out := t.TempDir()
	chdir(t, out)
	b := builder{}
	img, err := b.build(filepath.Join(root, "examples", "hello"))
	require.NoError(t, err)
	assert.Equal(t, "hello.img", img, "default name is the package directory + .img")
	checkImage(t, filepath.Join(out, img), "hello from a package\n")
	_, err = os.Stat(filepath.Join(root, "examples", "hello", kernelImportFile))
	assert.True(t, os.IsNotExist(err), "the kernel import is only in the overlay")
}

func TestBuildImportPath(t *testing.T) {
	root := fakeUnigo(t)
	chdir(t, root)
	img := filepath.Join(t.TempDir(), "x.img")
	b := builder{out: img, trimpath: true}
	got, err := b.build("github.com/unigo-os/unigo/examples/hello")
	require.NoError(t, err)
	assert.Equal(t, img, got)
	checkImage(t, img, "hello from a package\n")
}

func TestBuildSingleFileOutsideModule(t *testing.T) {
	root := fakeUnigo(t)
	dir := t.TempDir() // under /tmp, outside any module
	src := filepath.Join(dir, "solo.go")
	require.NoError(t, os.WriteFile(src, []byte(`package main

import "fmt"

func main() { fmt.Println("hello from a file") }
`), 0o644))
	// A second file in the same directory is not part of the program.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "other.go"), []byte("package other\n"), 0o644))
	chdir(t, dir)
	b := builder{root: root}
	img, err := b.build("solo.go")
	require.NoError(t, err)
	assert.Equal(t, "solo.img", img)
	checkImage(t, filepath.Join(dir, img), "hello from a file\n")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, []string{"solo.go", "other.go", "solo.img"}, names, "no go.mod or generated file left behind")
}

func TestBuildSingleFileImportingKernel(t *testing.T) {
	root := fakeUnigo(t)
	src := filepath.Join(t.TempDir(), "k.go")
	require.NoError(t, os.WriteFile(src, []byte(`package main

import (
	"fmt"

	_ "github.com/unigo-os/unigo/kernel"
)

func main() { fmt.Println("explicit kernel") }
`), 0o644))
	t.Setenv("UNIGO_ROOT", root)
	img := filepath.Join(t.TempDir(), "k.img")
	b := builder{out: img}
	_, err := b.build(src)
	require.NoError(t, err)
	checkImage(t, img, "explicit kernel\n")
}

func TestBuildDirOutsideModule(t *testing.T) {
	root := fakeUnigo(t)
	dir := filepath.Join(t.TempDir(), "two files")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.go"), []byte("package main\n\nfunc main() { println(msg) }\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b.go"), []byte("package main\n\nconst msg = \"two\"\n"), 0o644))
	img := filepath.Join(t.TempDir(), "two.img")
	b := builder{out: img, root: root}
	_, err := b.build(dir)
	require.NoError(t, err)
	checkImage(t, img, "two\n")
}

func TestBuildErrors(t *testing.T) {
	root := fakeUnigo(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
		return p
	}
	broken := write("broken.go", "package main\n\nfunc main() { undefined() }\n")
	syntax := write("syntax.go", "package main\n\nfunc main( {\n")
	lib := write("lib.go", "package lib\n")
	require.NoError(t, os.Mkdir(filepath.Join(dir, "d.go"), 0o755))
	cases := []struct {
		arg, err, diag string
	}{
		{"", "empty package or file name", ""},
		{filepath.Join(dir, "missing.go"), filepath.Join(dir, "missing.go") + ": no such file", ""},
		{"./nonexistent", "./nonexistent: no such directory", ""},
		{filepath.Join(dir, "d.go"), filepath.Join(dir, "d.go") + " is a directory, not a .go file", ""},
		{lib, lib + " is not a main package (package lib)", ""},
		{filepath.Join(root, "examples", "lib"), filepath.Join(root, "examples", "lib") + " is not a main package (package lib)", ""},
		{broken, "compiling " + broken + " failed", "undefined: undefined"},
		{syntax, "compiling " + syntax + " failed", "syntax.go:3:"},
		{"github.com/unigo-os/unigo/nosuchpkg", "no required module provides package github.com/unigo-os/unigo/nosuchpkg", ""},
		{"./...", "./... is a pattern; build one main package at a time", ""},
	}
	chdir(t, root)
	for _, c := range cases {
		var diag bytes.Buffer
		b := builder{root: root, out: filepath.Join(dir, "out.img"), stderr: &diag}
		_, err := b.build(c.arg)
		require.Error(t, err, c.arg)
		if c.err != "" {
			assert.EqualError(t, err, c.err)
		}
		assert.NotContains(t, err.Error(), "\n")
		if c.diag != "" {
			assert.Contains(t, diag.String(), c.diag, "the compiler's own messages are shown")
		}
	}
	_, err := os.Stat(filepath.Join(dir, "out.img"))
	assert.True(t, os.IsNotExist(err))
}

func TestBuildImageErrors(t *testing.T) {
	root := fakeUnigo(t)
	// Without a kernel import and without rt, there is no PVH entry.
	src := filepath.Join(t.TempDir(), "noentry.go")
	require.NoError(t, os.WriteFile(src, []byte("package main\n\nfunc main() {}\n"), 0o644))
	b := builder{root: root, entrySymbol: "main.nosuch", out: filepath.Join(t.TempDir(), "x.img")}
	_, err := b.build(src)
	require.EqualError(t, err, src+": no function symbol main.nosuch (does the program import github.com/unigo-os/unigo/kernel?)")

	b = builder{root: root, out: "/nonexistent/dir/x.img"}
	_, err = b.build(src)
	require.EqualError(t, err, "cannot write /nonexistent/dir/x.img: no such file or directory")
}

func TestBuildBadUnigoRoot(t *testing.T) {
	src := filepath.Join(t.TempDir(), "p.go")
	require.NoError(t, os.WriteFile(src, []byte("package main\n\nfunc main() {}\n"), 0o644))
	b := builder{root: t.TempDir()}
	_, err := b.build(src)
	require.ErrorContains(t, err, "is not the unigo source tree")
}

// buildUnigo compiles the unigo command for the CLI-level tests.
func buildUnigo(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "unigo")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

func runBuildCmd(t *testing.T, bin, dir string, args ...string) (int, string) {
	t.Helper()
	code, _, stderr := runBuildCmdOut(t, bin, dir, args...)
	return code, stderr
}

func runBuildCmdStdout(t *testing.T, bin, dir string, args ...string) (int, string) {
	t.Helper()
	code, stdout, _ := runBuildCmdOut(t, bin, dir, args...)
	return code, stdout
}

func runBuildCmdOut(t *testing.T, bin, dir string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"build"}, args...)...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return code, stdout.String(), stderr.String()
}

func TestBuildCommand(t *testing.T) {
	root := fakeUnigo(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "cli.go")
	require.NoError(t, os.WriteFile(src, []byte("package main\n\nfunc main() { println(\"cli\") }\n"), 0o644))
	broken := filepath.Join(dir, "broken.go")
	require.NoError(t, os.WriteFile(broken, []byte("package main\n\nfunc main() { x }\n"), 0o644))

	bin := buildUnigo(t)
	// -nocerts: the fake unigo cannot provide CA roots (TestBuildNoCerts).
	code, stderr := runBuildCmd(t, bin, dir, "-unigo", root, "-nocerts", "-o", "custom.img", "cli.go")
	require.Equal(t, 0, code, stderr)
	assert.Empty(t, stderr)
	checkImage(t, filepath.Join(dir, "custom.img"), "cli\n")

	// Go build flags pass through: -ldflags -X, -tags, -trimpath.
	tagged := filepath.Join(dir, "tagged")
	for name, src := range map[string]string{
		"main.go": "package main\n\nvar version = \"none\"\n\nfunc main() { println(version, flavour) }\n",
		"on.go":   "//go:build special\n\npackage main\n\nconst flavour = \"special\"\n",
		"off.go":  "//go:build !special\n\npackage main\n\nconst flavour = \"plain\"\n",
	} {
		require.NoError(t, os.MkdirAll(tagged, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(tagged, name), []byte(src), 0o644))
	}
	code, stderr = runBuildCmd(t, bin, dir, "-unigo", root, "-o", "ver.img", "-ldflags", "-X main.version=1.2.3", "-tags", "special", "-trimpath", "./tagged")
	require.Equal(t, 0, code, stderr)
	checkImage(t, filepath.Join(dir, "ver.img"), "1.2.3 special\n")
	code, stderr = runBuildCmd(t, bin, dir, "-unigo", root, "-o", "ver.img", "./tagged")
	require.Equal(t, 0, code, stderr)
	checkImage(t, filepath.Join(dir, "ver.img"), "none plain\n")

	code, stdout := runBuildCmdStdout(t, bin, dir, "-h")
	assert.Equal(t, 0, code)
	for _, f := range []string{"-tags", "-ldflags", "-gcflags", "-trimpath", "-v ", "-race"} {
		assert.Contains(t, stdout, f)
	}

	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{nil, 2, "unigo build: want exactly one PACKAGE or FILE.go"},
		{[]string{"a.go", "b.go"}, 2, "unigo build: want exactly one PACKAGE or FILE.go"},
		{[]string{"-bogus", "a.go"}, 2, "unigo build: flag provided but not defined: -bogus"},
		{[]string{"-unigo", root, "nosuch.example/x@v1.0.0"}, 1, "unigo build: fetching nosuch.example/x@v1.0.0: go get"},
		{[]string{"-race", "a.go"}, 2, "unigo build: -race is not supported: the race detector needs cgo"},
		{[]string{"-ldflags=-s -w", "a.go"}, 2, "unigo build: -ldflags -s: the image writer needs the symbol table"},
		{[]string{"missing.go"}, 1, "unigo build: missing.go: no such file"},
		{[]string{"-unigo", root, "broken.go"}, 1, "unigo build: compiling broken.go failed"},
	} {
		code, stderr := runBuildCmd(t, bin, dir, c.args...)
		assert.Equal(t, c.code, code, "%v: %s", c.args, stderr)
		lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
		assert.True(t, strings.HasPrefix(lines[len(lines)-1], c.msg), "%v: %s", c.args, stderr)
		assert.NotContains(t, stderr, "goroutine ")
		if c.code == 1 && len(c.args) == 1 {
			assert.Len(t, lines, 1, "one line for bad input: %s", stderr)
		}
	}
}

// TestBuildRealKernel builds a program against this repository's own
// kernel once it is in the tree.
func TestBuildRealKernel(t *testing.T) {
	b := builder{}
	root, err := b.unigoRoot()
	require.NoError(t, err)
	// The kernel is written concurrently; build against it only once it
	// is committed, not against half-edited work-tree files.
	ls, err := exec.Command("git", "-C", root, "ls-files", "kernel/*.go", "rt/*.go").Output()
	if err != nil {
		t.Skipf("cannot tell whether the kernel is committed (%v)", err)
	}
	if !strings.Contains(string(ls), "kernel/") || !strings.Contains(string(ls), "rt/") {
		t.Skip("packages kernel and rt are not committed yet")
	}
	img := filepath.Join(t.TempDir(), "nokernel.img")
	b.out = img
	_, err = b.build("testdata/nokernel")
	require.NoError(t, err)
	checkImage(t, img, "hello from nokernel\n")
}

func TestAddedImports(t *testing.T) {
	plain := &listedPackage{ImportPath: "example.com/hello", Deps: []string{"fmt", "os"}}
	assert.Equal(t, []string{storagePackage, kernelPackage}, addedImports(plain), "os users get the storage drivers")
	noOS := &listedPackage{ImportPath: "example.com/tiny", Deps: []string{"errors"}}
	assert.Equal(t, []string{kernelPackage}, addedImports(noOS))
	ownStorage := &listedPackage{ImportPath: "example.com/disk", Deps: []string{"os", storagePackage, kernelPackage}}
	assert.Empty(t, addedImports(ownStorage))
	withKernel := &listedPackage{ImportPath: "example.com/k", Deps: []string{"fmt", kernelPackage}}
	assert.Empty(t, addedImports(withKernel))
	web := &listedPackage{ImportPath: "example.com/web", Deps: []string{"net", "net/http"}}
	assert.Equal(t, []string{netstackPackage, kernelPackage}, addedImports(web), "net users get the netstack and the kernel")
	webOS := &listedPackage{ImportPath: "example.com/web", Deps: []string{"net", "os"}}
	assert.Equal(t, []string{netstackPackage, storagePackage, kernelPackage}, addedImports(webOS))
	ownNetstack := &listedPackage{ImportPath: "example.com/web", Deps: []string{"net", netstackPackage}}
	assert.Equal(t, []string{kernelPackage}, addedImports(ownNetstack), "the netstack does not bring the kernel")
	webKernel := &listedPackage{ImportPath: "example.com/web", Deps: []string{"net", kernelPackage}}
	assert.Equal(t, []string{netstackPackage}, addedImports(webKernel))
	webDone := &listedPackage{ImportPath: "example.com/web", Deps: []string{"net", kernelPackage, netstackPackage}}
	assert.Empty(t, addedImports(webDone))
}

// TestBuildPathAtVersion builds a main package of another module by
// path@version, as go install does: the module cache cannot be overlaid,
// so the kernel's import goes into a vendored copy.
func TestBuildPathAtVersion(t *testing.T) {
	const pkg = "golang.org/x/example/hello"
	dl := exec.Command("go", "mod", "download", "-json", pkg+"@latest")
	dl.Dir = t.TempDir()
	if out, err := dl.CombinedOutput(); err != nil {
		t.Skipf("cannot fetch %s@latest through the module proxy: %v: %s", pkg, err, firstLine(string(out), ""))
	}
	img := filepath.Join(t.TempDir(), "hello.img")
	b := builder{out: img}
	_, err := b.build(pkg + "@latest")
	require.NoError(t, err)
	checkImage(t, img, "Hello, world!\n")

	_, err = b.build("@latest")
	assert.ErrorContains(t, err, "want PATH@VERSION")
}

// TestBuildDirOutsideModuleRealTree: a directory outside any module builds
// against this checkout, whose kernel needs modules of its own (the
// generated go.mod must list them all), and the image runs natively.
func TestBuildDirOutsideModuleRealTree(t *testing.T) {
	root, err := (&builder{}).unigoRoot()
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(`package main

import "fmt"

func main() { fmt.Println("hello outside a module") }
`), 0o644))
	img := filepath.Join(t.TempDir(), "out.img")
	var diag bytes.Buffer
	b := builder{root: root, out: img, stderr: &diag}
	_, err = b.build(dir)
	require.NoError(t, err, diag.String())
	out, err := exec.Command(img).CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Equal(t, "hello outside a module\n", string(out))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no go.mod left behind")
}
