package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/unigo-os/unigo/tools/image"
)

const testUsage = `usage: unigo test [flags] [PACKAGES] [-args ARGS...]

Like go test, but each package's test binary is linked with the unigo
kernel, made bootable and run inside the unikernel under the KVM launcher
(or QEMU, -runner qemu).
The package directory (testdata included) is copied into the guest's
in-memory file system at the same path, and is the test's working directory.
PACKAGES default to the current directory; ./... works, and so do
standard library packages (unigo test strings), built from the current
module, which must require unigo.

test flags (passed to the test binary as -test.NAME):
  -run, -skip, -count, -short, -v, -bench, -benchtime, -benchmem,
  -timeout (default 10m), -cpu, -parallel, -failfast, -list, -shuffle
  -json            print go test -json events (through go tool test2json)

build flags (passed to go test -c):
  -tags, -ldflags, -gcflags, -trimpath, -a, -x, -mod

unigo flags:
  -m SIZE          guest memory (default 256M)
  -smp N           number of vCPUs (default 1)
  -runner NAME     launcher (default) or qemu (QEMU microvm; KVM when
                   /dev/kvm can be used, else TCG)
  -e KEY=VAL       guest environment variable (repeatable)
  -c               only build: write PKG.test.img (bootable) in the current
                   directory and run nothing

not supported: -race, -msan, -asan, -cover, -fuzz (one line each).

exit status: 0 when every package passes, 1 when one fails or does not
build, 2 for a bad command line.
`

// testOptions is a parsed `unigo test` command line.
type testOptions struct {
	pkgs      []string
	buildArgs []string // for go test -c and go list
	testArgs  []string // -test.* flags for the test binary
	binArgs   []string // after -args
	json      bool
	verbose   bool
	bench     bool
	timeout   time.Duration
	mem       string
	smp       string
	runner    string
	env       []string
	compile   bool
}

// testFlag describes one flag `unigo test` accepts.
type testFlag struct {
	kind  int  // flagTest, flagBuild or flagUnigo
	value bool // takes a value
}

const (
	flagTest = iota
	flagBuild
	flagUnigo
)

var testFlags = map[string]testFlag{
	"run": {flagTest, true}, "skip": {flagTest, true}, "count": {flagTest, true},
	"short": {flagTest, false}, "v": {flagTest, false}, "bench": {flagTest, true},
	"benchtime": {flagTest, true}, "benchmem": {flagTest, false}, "timeout": {flagTest, true},
	"cpu": {flagTest, true}, "parallel": {flagTest, true}, "failfast": {flagTest, false},
	"list": {flagTest, true}, "shuffle": {flagTest, true}, "json": {flagTest, false},
	"tags": {flagBuild, true}, "ldflags": {flagBuild, true}, "gcflags": {flagBuild, true},
	"trimpath": {flagBuild, false}, "a": {flagBuild, false}, "x": {flagBuild, false},
	"mod": {flagBuild, true},
	"m":   {flagUnigo, true}, "smp": {flagUnigo, true}, "e": {flagUnigo, true}, "c": {flagUnigo, false},
	"runner": {flagUnigo, true},
}

// unsupportedTestFlags are refused with the reason.
var unsupportedTestFlags = map[string]string{
	"race":         "the race detector needs cgo and a ThreadSanitizer runtime, which unigo images do not have",
	"msan":         "the memory sanitizer needs cgo",
	"asan":         "the address sanitizer needs cgo",
	"cover":        "coverage profiles are not collected from the guest yet",
	"coverprofile": "coverage profiles are not collected from the guest yet",
	"fuzz":         "fuzzing runs worker processes (fork/exec), which the unikernel does not have",
	"exec":         "unigo test is the runner; use go test -exec instead of combining them",
	"o":            "use -c to write the bootable test image",
}

// parseTestArgs parses go test style arguments: flags and packages in any
// order, -args ending the list.
func parseTestArgs(args []string) (*testOptions, error) {
	o := &testOptions{mem: "256M", smp: "1", runner: runnerLauncher, timeout: 10 * time.Minute}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-args" || a == "--args" {
			o.binArgs = args[i+1:]
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			o.pkgs = append(o.pkgs, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		name = strings.TrimPrefix(name, "test.")
		if name == "h" || name == "help" {
			return nil, errHelp
		}
		if why, ok := unsupportedTestFlags[name]; ok {
			return nil, fmt.Errorf("-%s is not supported: %s", name, why)
		}
		f, ok := testFlags[name]
		if !ok {
			return nil, fmt.Errorf("flag provided but not defined: -%s (see unigo test -h)", name)
		}
		if f.value && !hasVal {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("flag needs an argument: -%s", name)
			}
			i++
			val = args[i]
		}
		if !f.value && hasVal {
			if _, err := strconv.ParseBool(val); err != nil {
				return nil, fmt.Errorf("invalid boolean value %q for -%s", val, name)
			}
		}
		if !f.value && !hasVal {
			val = "true"
		}
		on := val == "true" || val == "1" || val == "t" || val == "T" || val == "TRUE" || val == "True"
		switch f.kind {
		case flagBuild:
			if f.value {
				o.buildArgs = append(o.buildArgs, "-"+name+"="+val)
			} else if on {
				o.buildArgs = append(o.buildArgs, "-"+name)
			}
		case flagUnigo:
			switch name {
			case "m":
				if _, err := parseMemSize(val); err != nil {
					return nil, fmt.Errorf("-m: %v", err)
				}
				o.mem = val
			case "smp":
				o.smp = val
			case "runner":
				if val != runnerLauncher && val != runnerQEMU {
					return nil, fmt.Errorf("-runner %s: want launcher or qemu", val)
				}
				o.runner = val
			case "e":
				o.env = append(o.env, val)
			case "c":
				o.compile = on
			}
		case flagTest:
			switch name {
			case "json":
				o.json = on
				continue
			case "v":
				o.verbose = on
			case "bench":
				o.bench = val != ""
			case "timeout":
				d, err := time.ParseDuration(val)
				if err != nil || d < 0 {
					return nil, fmt.Errorf("invalid value %q for -timeout", val)
				}
				o.timeout = d
				continue
			}
			o.testArgs = append(o.testArgs, "-test."+name+"="+val)
		}
	}
	if o.json {
		o.testArgs = append(o.testArgs, "-test.v=test2json")
	}
	o.testArgs = append(o.testArgs, "-test.paniconexit0", "-test.timeout="+o.timeout.String())
	return o, nil
}

// testPackage is the part of `go list -json -test` that unigo test reads.
type testPackage struct {
	ImportPath   string
	Name         string
	Dir          string
	Root         string
	Standard     bool
	Deps         []string
	TestGoFiles  []string
	XTestGoFiles []string
	Module       *struct{ Main bool }
	Error        *struct{ Err string }
}

// testCmd implements `unigo test`.
func testCmd(args []string) int {
	return runTests(args, os.Stdout, os.Stderr)
}

func runTests(args []string, stdout, stderr io.Writer) int {
	o, err := parseTestArgs(args)
	if errors.Is(err, errHelp) {
		fmt.Fprint(stdout, testUsage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "unigo test: %v\n", err)
		return 2
	}
	if err := checkGoVersion(); err != nil {
		fmt.Fprintf(stderr, "unigo test: %v\n", err)
		return 1
	}
	pkgs, mains, err := listTestPackages(o)
	if err != nil {
		fmt.Fprintf(stderr, "unigo test: %v\n", err)
		return 1
	}
	// go test streams the test's output (rather than showing it only on
	// failure) for the current directory, -v and benchmarks; packages
	// run one at a time here, so that is always safe.
	stream := len(o.pkgs) == 0 || o.verbose || o.bench || o.json
	failed := false
	for _, p := range pkgs {
		if !runPackageTest(o, p, mains[p.ImportPath+".test"], stream, stdout, stderr) {
			failed = true
		}
	}
	if failed {
		if !o.json {
			fmt.Fprintln(stdout, "FAIL")
		}
		return 1
	}
	return 0
}

// listTestPackages lists the packages to test and, keyed by
// "IMPORTPATH.test", their test mains (whose Deps are the test binary's).
func listTestPackages(o *testOptions) ([]*testPackage, map[string]*testPackage, error) {
	args := append([]string{"list", "-e", "-test", "-json=ImportPath,Name,Dir,Root,Standard,Deps,TestGoFiles,XTestGoFiles,Module,Error"}, o.buildArgs...)
	args = append(args, "--")
	args = append(args, o.pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Env = goEnv()
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	out, err := cmd.Output()
	if err != nil {
		return nil, nil, errors.New(firstLine(errBuf.String(), "go list failed: "+err.Error()))
	}
	io.Copy(os.Stderr, &errBuf) // warnings, e.g. a pattern matching nothing
	var pkgs []*testPackage
	mains := map[string]*testPackage{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		p := new(testPackage)
		if err := dec.Decode(p); err != nil {
			return nil, nil, fmt.Errorf("reading go list output: %v", err)
		}
		switch {
		case strings.HasSuffix(p.ImportPath, ".test") && p.Name == "main":
			mains[p.ImportPath] = p
		case strings.Contains(p.ImportPath, " ["):
			// a test variant of a package
		default:
			pkgs = append(pkgs, p)
		}
	}
	if len(pkgs) == 0 {
		return nil, nil, errors.New("no packages to test")
	}
	return pkgs, mains, nil
}

// runPackageTest builds, boots and reports one package's tests; it returns
// false when they fail or do not build.
func runPackageTest(o *testOptions, p, main *testPackage, stream bool, stdout, stderr io.Writer) bool {
	start := time.Now()
	summary := func(ok bool, extra string) {
		if o.json {
			return
		}
		if ok {
			fmt.Fprintf(stdout, "ok  \t%s\t%.3fs%s\n", p.ImportPath, time.Since(start).Seconds(), extra)
		} else {
			fmt.Fprintf(stdout, "FAIL\t%s\t%.3fs%s\n", p.ImportPath, time.Since(start).Seconds(), extra)
		}
	}
	if p.Error != nil {
		fmt.Fprintf(stderr, "%s\n", strings.TrimSpace(p.Error.Err))
		fmt.Fprintf(stdout, "FAIL\t%s [setup failed]\n", p.ImportPath)
		return false
	}
	if len(p.TestGoFiles)+len(p.XTestGoFiles) == 0 {
		if !o.json {
			fmt.Fprintf(stdout, "?   \t%s\t[no test files]\n", p.ImportPath)
		}
		return true
	}
	if !p.Standard && p.Module != nil && !p.Module.Main {
		fmt.Fprintf(stderr, "unigo test: %s: only packages of the main module and the standard library can be tested (the test image is built with an overlay, which go refuses in other modules)\n", p.ImportPath)
		fmt.Fprintf(stdout, "FAIL\t%s [setup failed]\n", p.ImportPath)
		return false
	}
	tmp, err := os.MkdirTemp("", "unigo-test-")
	if err != nil {
		fmt.Fprintf(stderr, "unigo test: %v\n", err)
		return false
	}
	defer os.RemoveAll(tmp)

	img := filepath.Join(tmp, "test.img")
	if o.compile {
		img = filepath.Base(p.ImportPath) + ".test.img"
	}
	if err := buildTestImage(o, p, main, tmp, img, stderr); err != nil {
		fmt.Fprintf(stderr, "unigo test: %v\n", err)
		fmt.Fprintf(stdout, "FAIL\t%s [build failed]\n", p.ImportPath)
		return false
	}
	if o.compile {
		return true
	}

	runArgs := []string{"-runner", o.runner, "-m", o.mem, "-smp", o.smp}
	for _, e := range o.env {
		runArgs = append(runArgs, "-e", e)
	}
	if o.timeout > 0 {
		// The test binary's own -test.timeout panics with every
		// goroutine's stack first; the launcher's dump is for a guest
		// too wedged for that.
		runArgs = append(runArgs, "-timeout", (o.timeout + time.Minute).String())
	}
	runArgs = append(runArgs, img, "--")
	runArgs = append(runArgs, o.testArgs...)
	runArgs = append(runArgs, o.binArgs...)

	var out io.Writer = stdout
	var buf bytes.Buffer
	var conv *exec.Cmd
	var convIn io.WriteCloser
	switch {
	case o.json:
		conv = exec.Command("go", "tool", "test2json", "-t", "-p", p.ImportPath)
		conv.Stdout, conv.Stderr = stdout, stderr
		if convIn, err = conv.StdinPipe(); err == nil {
			err = conv.Start()
		}
		if err != nil {
			fmt.Fprintf(stderr, "unigo test: go tool test2json: %v\n", err)
			return false
		}
		out = convIn
	case !stream:
		out = &buf
	}
	lf := &crlfWriter{w: out}
	code := runLauncher(runArgs, strings.NewReader(""), lf, stderr)
	lf.flush()
	if conv != nil {
		convIn.Close()
		conv.Wait()
	}
	ok := code == 0
	if !stream && !ok {
		stdout.Write(buf.Bytes())
	}
	extra := ""
	switch code {
	case 0, 1, 2:
	case exitTimeout:
		extra = " (the guest timed out)"
	case 70:
		extra = " (the guest crashed)"
	default:
		extra = fmt.Sprintf(" (exit status %d)", code)
	}
	summary(ok, extra)
	return ok
}

// testFilesName is the archive of the package directory, added to the
// package through the overlay and embedded in the test binary.
const testFilesName = "zz_unigo_files.tar"

// buildTestImage runs go test -c with the kernel (and, for a test that uses
// net, the netstack) linked in and the package directory embedded, then
// adds the PVH note.
func buildTestImage(o *testOptions, p, main *testPackage, tmp, img string, stderr io.Writer) error {
	tarPath := filepath.Join(tmp, "files.tar")
	if err := writeDirTar(p.Dir, tarPath, true); err != nil {
		return fmt.Errorf("packing %s: %v", p.Dir, err)
	}
	var deps []string
	if main != nil {
		deps = main.Deps
	}
	imports := []string{kernelPackage}
	if usesNet(p.ImportPath, deps) && !contains(deps, netstackPackage) {
		imports = append(imports, netstackPackage)
	}
	if !contains(deps, tzdataPackage) && p.ImportPath != tzdataPackage {
		// The guest has no zoneinfo files; as unigo build does.
		imports = append(imports, tzdataPackage)
	}
	src := unpackSource(p.Name+"_test", "unigo test", imports, []packedDir{{testFilesName, p.Dir}}, p.Dir)
	srcPath := filepath.Join(tmp, "init_test.go")
	if err := os.WriteFile(srcPath, []byte(src), 0o644); err != nil {
		return err
	}
	ov, err := writeOverlay(map[string]string{
		// A name that sorts first, so that its variable initialises
		// before those of the package's own external test files.
		filepath.Join(p.Dir, "0_zz_unigo_init_test.go"): srcPath,
		filepath.Join(p.Dir, testFilesName):             tarPath,
	}, tmp)
	if err != nil {
		return err
	}
	exe := filepath.Join(tmp, "test.exe")
	args := []string{"test", "-c", "-o", exe, "-overlay", ov}
	if len(linkFlags) > 0 && !hasFlag(o.buildArgs, "ldflags") {
		args = append(args, "-ldflags="+strings.Join(linkFlags, " "))
	}
	args = append(args, o.buildArgs...)
	args = append(args, p.ImportPath) // go test takes what follows "--" as test flags
	cmd := exec.Command("go", args...)
	if !p.Standard {
		// Inside the package's own module. A standard package is built
		// from the current module, which resolves the kernel's import
		// (GOROOT/src's module would not).
		cmd.Dir = p.Dir
	}
	cmd.Env = goEnv()
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		if _, ok := err.(*exec.ExitError); ok {
			return fmt.Errorf("compiling the tests of %s failed", p.ImportPath)
		}
		return fmt.Errorf("running go test -c: %v", err)
	}
	return image.WriteFile(exe, img, image.Options{})
}

// usesNet reports whether the test binary of package path, with the
// given dependencies, uses package net: the net package's own tests depend
// on its test variant, "net [net.test]".
func usesNet(path string, deps []string) bool {
	if path == "net" {
		return true
	}
	for _, d := range deps {
		if d == "net" || strings.HasPrefix(d, "net [") {
			return true
		}
	}
	return false
}

// hasFlag reports whether args set -name.
func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == "-"+name || strings.HasPrefix(a, "-"+name+"=") {
			return true
		}
	}
	return false
}

// inTestdata reports whether the relative path is in or is a testdata
// directory.
func inTestdata(rel string) bool {
	for _, e := range strings.Split(filepath.ToSlash(rel), "/") {
		if e == "testdata" {
			return true
		}
	}
	return false
}

// isOtherPackage reports whether dir holds a module or Go package of its
// own, which go test would test separately.
func isOtherPackage(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if n := e.Name(); !e.IsDir() && (n == "go.mod" || strings.HasSuffix(n, ".go")) {
			return true
		}
	}
	return false
}

// crlfWriter turns the serial console's "\r\n" line ends back into "\n",
// as a test binary run by go test writes them.
type crlfWriter struct {
	w  io.Writer
	cr bool // the last write ended in a held-back '\r'
}

func (c *crlfWriter) Write(p []byte) (int, error) {
	out := make([]byte, 0, len(p)+1)
	if c.cr {
		if len(p) == 0 || p[0] != '\n' {
			out = append(out, '\r')
		}
		c.cr = false
	}
	for i, b := range p {
		if b == '\r' {
			if i == len(p)-1 {
				c.cr = true
				continue
			}
			if p[i+1] == '\n' {
				continue
			}
		}
		out = append(out, b)
	}
	if _, err := c.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// flush writes a '\r' still held back.
func (c *crlfWriter) flush() {
	if c.cr {
		c.w.Write([]byte{'\r'})
		c.cr = false
	}
}
