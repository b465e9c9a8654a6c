package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/mod/modfile"

	"github.com/unigo-os/unigo/tools/image"
)

// linkFlags are passed to the Go linker for every image (as -ldflags). Keep
// every link-time choice here so there is exactly one place to change it.
// Do not add -s: the image writer finds the PVH entry in the symbol table.
var linkFlags []string

const (
	unigoModule   = "github.com/unigo-os/unigo"
	kernelPackage = unigoModule + "/kernel"
	// kernelImportFile is the generated file, added through go build
	// -overlay, that links the kernel into a program that does not
	// import it itself.
	kernelImportFile = "zz_unigo_kernel.go"
	netstackPackage  = unigoModule + "/netstack"
	storagePackage   = unigoModule + "/drivers/storage"
)

// addedImports lists the unigo packages the program must link and does
// not import itself: always the kernel (the netstack does not import it);
// the netstack too when the program
// uses the net package, so that its sockets work (without it socket(2)
// fails with EAFNOSUPPORT in the guest); the storage drivers when it uses
// package os, so that the VM's disks appear as /dev/vdX.
func addedImports(pkg *listedPackage) []string {
	var add []string
	if pkg.ImportPath == kernelPackage || pkg.ImportPath == netstackPackage || pkg.ImportPath == storagePackage {
		return nil
	}
	if contains(pkg.Deps, "net") && !contains(pkg.Deps, netstackPackage) {
		add = append(add, netstackPackage)
	}
	if contains(pkg.Deps, "os") && !contains(pkg.Deps, storagePackage) {
		add = append(add, storagePackage)
	}
	if !contains(pkg.Deps, kernelPackage) {
		add = append(add, kernelPackage)
	}
	return add
}

const buildUsage = `usage: unigo build [-o OUT] [build flags] PACKAGE|FILE.go

Builds a Go main package (a directory, an import path of the current module
or its requirements, or one .go file, even outside any module) into a
bootable image: go build (static, linux/amd64) with the unigo kernel linked
in, plus the PVH entry note. The image still runs natively.

flags:
  -o OUT         write the image to OUT (default: the package or file name
                 + .img, in the current directory)
  -unigo DIR     unigo source tree, for programs outside any module
                 (default $UNIGO_ROOT, else found automatically)
  -files HOSTDIR:GUESTDIR  pack the host directory into the image; the
                 booted guest finds it, read-write in memory, at GUESTDIR
                 (repeatable; not unpacked when the image runs natively)
  -nocerts       no CA roots (golang.org/x/crypto/x509roots/fallback)
  -notz          no time-zone database (time/tzdata)

passed to go build:
  -tags LIST     build tags
  -ldflags FLAGS linker flags, e.g. '-X main.version=1.2' (not -s or -w:
                 the image writer needs the symbol table)
  -gcflags FLAGS compiler flags
  -trimpath      remove file system paths from the executable
  -v             print the names of packages as they are compiled
  -a, -x, -mod MODE  as for go build

not supported: -race, -msan, -asan, -cover (one line each).
Supported Go releases: 1.26 and 1.27 (GOTOOLCHAIN selects one).
`

// unsupportedBuildFlags are refused with the reason.
var unsupportedBuildFlags = map[string]string{
	"race":  "the race detector needs cgo and a ThreadSanitizer runtime, which unigo images do not have",
	"msan":  "the memory sanitizer needs cgo",
	"asan":  "the address sanitizer needs cgo",
	"cover": "coverage data cannot leave the guest yet",
}

// buildCmd implements `unigo build [-o OUT] [build flags] PACKAGE|FILE.go`.
func buildCmd(args []string) int {
	fs := flag.NewFlagSet("unigo build", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	out := fs.String("o", "", "")
	root := fs.String("unigo", "", "")
	var b builder
	var flagErr error // a refusal, reported without the flag package's wrapping
	refuse := func(err error) error { flagErr = err; return err }
	b.addFileFlags(fs, refuse)
	for _, name := range []string{"tags", "ldflags", "gcflags", "mod"} {
		fs.Func(name, "", func(v string) error {
			if name == "ldflags" {
				for _, f := range strings.Fields(v) {
					if f == "-s" || f == "-w" {
						return refuse(fmt.Errorf("-ldflags %s: the image writer needs the symbol table; do not strip", f))
					}
				}
			}
			b.goFlags = append(b.goFlags, "-"+name+"="+v)
			return nil
		})
	}
	for _, name := range []string{"trimpath", "v", "a", "x"} {
		fs.BoolFunc(name, "", func(v string) error {
			if on, err := strconv.ParseBool(v); err != nil {
				return err
			} else if on {
				b.goFlags = append(b.goFlags, "-"+name)
			}
			return nil
		})
	}
	for name, why := range unsupportedBuildFlags {
		fs.BoolFunc(name, "", func(string) error { return refuse(fmt.Errorf("-%s is not supported: %s", name, why)) })
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Print(buildUsage)
			return 0
		}
		if flagErr != nil {
			err = flagErr
		}
		fmt.Fprintf(os.Stderr, "unigo build: %v\n", err)
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "unigo build: want exactly one PACKAGE or FILE.go (usage: unigo build [-o OUT] [build flags] PACKAGE|FILE.go; -h for help)")
		return 2
	}
	if err := checkGoVersion(); err != nil {
		fmt.Fprintf(os.Stderr, "unigo build: %v\n", err)
		return 1
	}
	b.out, b.root = *out, *root
	if _, err := b.build(fs.Arg(0)); err != nil {
		fmt.Fprintf(os.Stderr, "unigo build: %v\n", err)
		return 1
	}
	return 0
}

// buildImage builds a main package (directory or import path) or a single
// .go file into a bootable image at out, with default settings. Compiler
// diagnostics go to os.Stderr; the returned error is one line.
func buildImage(pkgOrFile, out string) error {
	b := builder{out: out}
	_, err := b.build(pkgOrFile)
	return err
}

// builder holds the settings of one build.
type builder struct {
	out      string // image path; empty means the default name in the current directory
	trimpath bool
	root     string   // unigo source tree; empty means locate it when needed
	goFlags  []string // passed to go list and go build (-tags=..., -trimpath, ...)

	// entrySymbol overrides image.EntrySymbol (tests only).
	entrySymbol string
	// stderr receives the go command's diagnostics; nil means os.Stderr.
	stderr io.Writer
	// ctx, when canceled, kills the go commands (goCmd); nil: never.
	ctx context.Context

	files   []fileSpec // -files: host directories packed into the image
	noCerts bool       // -nocerts: no fallback CA roots
	noTZ    bool       // -notz: no embedded time-zone database
}

// addFileFlags defines -files, -nocerts and -notz on fs (unigo build, and
// unigo run and oci when they build). refuse, if set, records a one-line
// error; else the flag package reports it.
func (b *builder) addFileFlags(fs *flag.FlagSet, refuse func(error) error) {
	fs.Func("files", "", func(v string) error {
		f, err := parseFilesFlag(v)
		if err != nil && refuse != nil {
			return refuse(fmt.Errorf("-files %s: %v", v, err))
		}
		if err != nil {
			return err
		}
		b.files = append(b.files, f)
		return nil
	})
	fs.BoolVar(&b.noCerts, "nocerts", false, "")
	fs.BoolVar(&b.noTZ, "notz", false, "")
}

// extraImports are the packages linked for the guest's files: the
// time-zone database unless -notz, and fallback CA roots for programs that
// verify certificates (they link crypto/x509) unless -nocerts. A program
// without crypto/x509 gets no roots: it could not use them, and they
// would bring Go's crypto (1.9 MB and a 32 MiB BSS) into the image. The
// roots need golang.org/x/crypto/x509roots/fallback in the program's
// module; without it they are left out with a warning.
func (b *builder) extraImports(t *target, tmp string, pkg *listedPackage) []string {
	var add []string
	if !b.noTZ && !contains(pkg.Deps, tzdataPackage) {
		add = append(add, tzdataPackage)
	}
	if !b.noCerts && contains(pkg.Deps, "crypto/x509") && !contains(pkg.Deps, certsPackage) {
		if err := b.canImport(t, tmp, certsPackage); err != nil {
			msg := strings.TrimSuffix(strings.TrimSuffix(err.Error(), "; to add it:"), "; to add:")
			fmt.Fprintf(b.diag(), "unigo build: warning: no CA roots in the image (go get %s@latest in the program's module, or -nocerts): %s\n", certsPackage, msg)
		} else {
			add = append(add, certsPackage)
		}
	}
	return add
}

// canImport reports whether the target's module provides the package path.
func (b *builder) canImport(t *target, tmp, path string) error {
	out, stderr, err := b.goList(t, tmp, []string{"-find", "-f", "{{with .Error}}{{.Err}}{{end}}"}, path)
	if err != nil {
		return errors.New(firstLine(stderr, err.Error()))
	}
	if msg := strings.TrimSpace(string(out)); msg != "" {
		return errors.New(firstLine(msg, msg))
	}
	return nil
}

// addFiles packs the -files directories and adds the file that embeds and
// unpacks them to the program, next to its sources.
func (b *builder) addFiles(t *target, tmp string, pkg *listedPackage) error {
	if len(b.files) == 0 {
		return nil
	}
	var dirs []packedDir
	for i, f := range b.files {
		name := fmt.Sprintf("zz_unigo_files_%d.tar", i)
		tarPath := filepath.Join(tmp, name)
		if err := writeDirTar(f.host, tarPath, false); err != nil {
			return fmt.Errorf("-files %s: %v", f.host, err)
		}
		t.overlay[filepath.Join(pkg.Dir, name)] = tarPath
		dirs = append(dirs, packedDir{name, f.guest})
	}
	src := filepath.Join(tmp, filesInitFile)
	if err := os.WriteFile(src, []byte(unpackSource("main", "unigo", nil, dirs, "")), 0o644); err != nil {
		return err
	}
	gen := filepath.Join(pkg.Dir, filesInitFile)
	t.overlay[gen] = src
	if t.files {
		t.args = append(t.args, gen)
	}
	return nil
}

// target is what go build is asked to compile, after resolving the
// command-line argument.
type target struct {
	dir      string   // working directory for the go command
	args     []string // package pattern or .go files, relative to dir
	name     string   // base name for the default output file
	overlay  map[string]string
	files    bool // args are files (a file-list package)
	vendored bool // dir is a module with the target's dependencies vendored
}

// listedPackage is the part of `go list -json` the builder reads.
type listedPackage struct {
	ImportPath string
	Name       string
	Dir        string
	Deps       []string
	Module     *struct {
		Main    bool
		Version string
	}
	Error *struct{ Pos, Err string }
}

// build compiles arg and writes the image, returning its path.
func (b *builder) build(arg string) (string, error) {
	if arg == "" {
		return "", errors.New("empty package or file name")
	}
	if strings.Contains(arg, "...") {
		return "", fmt.Errorf("%s is a pattern; build one main package at a time", arg)
	}
	tmp, err := os.MkdirTemp("", "unigo-build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)

	t, err := b.resolve(arg, tmp)
	if err != nil {
		return "", err
	}
	pkg, err := b.list(t, tmp, arg)
	if err != nil {
		return "", err
	}
	if pkg.Name != "main" {
		return "", fmt.Errorf("%s is not a main package (package %s)", arg, pkg.Name)
	}
	imports := append(addedImports(pkg), b.extraImports(t, tmp, pkg)...)
	if err := b.addFiles(t, tmp, pkg); err != nil {
		return "", err
	}
	if len(imports) > 0 {
		// The program does not link the kernel (or, using net, the
		// netstack, or the time zones and CA roots) itself; add blank
		// imports in a generated file next to its sources.
		gen := filepath.Join(pkg.Dir, kernelImportFile)
		src := filepath.Join(tmp, kernelImportFile)
		code := "package main\n\nimport (\n"
		for _, p := range imports {
			code += "\t_ \"" + p + "\"\n"
		}
		code += ")\n"
		if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
			return "", err
		}
		t.overlay[gen] = src
		if t.files {
			t.args = append(t.args, gen)
		}
	}

	out := b.out
	if out == "" {
		out = t.name + ".img"
	}
	exe := filepath.Join(tmp, "exe")
	if err := b.goBuild(t, tmp, exe, arg); err != nil {
		return "", err
	}
	sym := b.entrySymbol
	if err := image.WriteFile(exe, out, image.Options{EntrySymbol: sym}); err != nil {
		// WriteFile prefixes errors about its input with the temporary
		// executable's path, which means nothing to the user.
		if msg, ok := strings.CutPrefix(err.Error(), exe+": "); ok {
			return "", fmt.Errorf("%s: %s", arg, msg)
		}
		return "", err
	}
	return out, nil
}

// resolve turns the argument into a go build target. Directories and .go
// files outside any module get a generated go.mod (through the overlay)
// that requires unigo and replaces it with the local source tree.
func (b *builder) resolve(arg, tmp string) (*target, error) {
	t := &target{overlay: map[string]string{}}
	st, statErr := os.Stat(arg)
	switch {
	case strings.HasSuffix(arg, ".go"):
		if statErr != nil {
			return nil, fmt.Errorf("%s: no such file", arg)
		}
		if st.IsDir() {
			return nil, fmt.Errorf("%s is a directory, not a .go file", arg)
		}
		abs, err := filepath.Abs(arg)
		if err != nil {
			return nil, err
		}
		t.dir = filepath.Dir(abs)
		t.args = []string{abs}
		t.files = true
		t.name = strings.TrimSuffix(filepath.Base(abs), ".go")
	case statErr == nil && st.IsDir():
		abs, err := filepath.Abs(arg)
		if err != nil {
			return nil, err
		}
		t.dir = abs
		t.args = []string{"."}
		t.name = filepath.Base(abs)
	case statErr == nil:
		return nil, fmt.Errorf("%s is neither a package directory nor a .go file", arg)
	case strings.HasPrefix(arg, ".") || filepath.IsAbs(arg):
		return nil, fmt.Errorf("%s: no such directory", arg)
	case strings.Contains(arg, "@"):
		// path@version, as go install takes it.
		path, version, _ := strings.Cut(arg, "@")
		if path == "" || version == "" {
			return nil, fmt.Errorf("%s: want PATH@VERSION", arg)
		}
		return b.remoteModule(t, tmp, path, version)
	default:
		// An import path, resolved by the go command from the current
		// directory's module.
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		t.dir = wd
		t.args = []string{arg}
		t.name = ""
		return t, nil
	}

	inModule, err := b.inModule(t.dir)
	if err != nil {
		return nil, err
	}
	if !inModule {
		if err := b.tempModule(t, tmp); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// inModule reports whether dir is inside a Go module.
func (b *builder) inModule(dir string) (bool, error) {
	cmd := b.goCmd("env", "GOMOD")
	cmd.Dir = dir
	cmd.Env = goEnv()
	out, err := cmd.Output()
	if err != nil {
		return false, fmt.Errorf("go env GOMOD in %s: %v", dir, err)
	}
	m := strings.TrimSpace(string(out))
	return m != "" && m != os.DevNull, nil
}

// tempModule makes t.dir the root of a module that requires unigo, without
// writing to it: go.mod and go.sum exist only in the overlay. Compiler
// messages then name the user's own files.
func (b *builder) tempModule(t *target, tmp string) error {
	root, err := b.unigoRoot()
	if err != nil {
		return err
	}
	goVersion := "1.26"
	if mod, err := os.ReadFile(filepath.Join(root, "go.mod")); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(mod))
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "go" {
				goVersion = f[1]
			}
		}
	}
	gomod := fmt.Sprintf("module unigo.local/%s\n\ngo %s\n\nrequire %s v0.0.0\n\nreplace %s => %s\n",
		sanitizeModuleElem(t.name), goVersion, unigoModule, unigoModule, root)
	// Every module unigo requires, as it pins them: a module at go 1.17 or
	// later lists all the modules its build loads packages from (here the
	// kernel's, the netstack's and the CA roots the build adds), and
	// unigo's own go.sum has their sums.
	for _, r := range rootRequirements(root) {
		gomod += fmt.Sprintf("\nrequire %s %s // indirect\n", r[0], r[1])
	}
	modPath := filepath.Join(tmp, "go.mod")
	if err := os.WriteFile(modPath, []byte(gomod), 0o644); err != nil {
		return err
	}
	t.overlay[filepath.Join(t.dir, "go.mod")] = modPath
	// unigo's own go.sum has the checksums of everything unigo needs.
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	sumPath := filepath.Join(tmp, "go.sum")
	if err := os.WriteFile(sumPath, sum, 0o644); err != nil {
		return err
	}
	t.overlay[filepath.Join(t.dir, "go.sum")] = sumPath
	return nil
}

// sanitizeModuleElem makes s usable as a module path element.
func sanitizeModuleElem(s string) string {
	var sb strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			sb.WriteRune(r)
		default:
			sb.WriteByte('_')
		}
	}
	if sb.Len() == 0 || strings.Trim(sb.String(), ".") == "" {
		return "prog"
	}
	return sb.String()
}

// unigoRoot finds the unigo source tree: the -unigo flag, $UNIGO_ROOT, the
// module of the current directory, or the tree this binary was built from.
func (b *builder) unigoRoot() (string, error) {
	for _, c := range []struct{ dir, from string }{{b.root, "-unigo"}, {os.Getenv("UNIGO_ROOT"), "UNIGO_ROOT"}} {
		if c.dir == "" {
			continue
		}
		if !isUnigoRoot(c.dir) {
			return "", fmt.Errorf("%s=%s is not the unigo source tree (no go.mod for %s)", c.from, c.dir, unigoModule)
		}
		return filepath.Abs(c.dir)
	}
	cmd := b.goCmd("list", "-m", "-f", "{{.Dir}}", unigoModule)
	cmd.Env = goEnv()
	if out, err := cmd.Output(); err == nil {
		if d := strings.TrimSpace(string(out)); d != "" && isUnigoRoot(d) {
			return d, nil
		}
	}
	// This file's path as compiled in (absent with -trimpath).
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		if d := filepath.Dir(filepath.Dir(filepath.Dir(file))); isUnigoRoot(d) {
			return d, nil
		}
	}
	return "", errors.New("cannot find the unigo source tree for a program outside any module; use -unigo DIR or set UNIGO_ROOT")
}

// isUnigoRoot reports whether dir holds the go.mod of the unigo module.
func isUnigoRoot(dir string) bool {
	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	sc := bufio.NewScanner(bytes.NewReader(mod))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`) == unigoModule
		}
	}
	return false
}

// goList runs go list -e with flags on pkgs in the target's module, with
// the build's -tags/-mod, vendoring and overlay, and returns its stdout
// and stderr.
func (b *builder) goList(t *target, tmp string, flags []string, pkgs ...string) ([]byte, string, error) {
	args := append([]string{"list", "-e"}, flags...)
	for _, f := range b.goFlags {
		if strings.HasPrefix(f, "-tags=") || strings.HasPrefix(f, "-mod=") {
			args = append(args, f)
		}
	}
	if t.vendored {
		args = append(args, "-mod=vendor")
	}
	ov, err := writeOverlay(t.overlay, tmp)
	if err != nil {
		return nil, "", err
	}
	if ov != "" {
		args = append(args, "-overlay", ov)
	}
	args = append(append(args, "--"), pkgs...)
	cmd := b.goCmd(args...)
	cmd.Dir = t.dir
	cmd.Env = goEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	return out, stderr.String(), err
}

// list runs go list on the target and returns its single package.
func (b *builder) list(t *target, tmp, arg string) (*listedPackage, error) {
	out, stderr, err := b.goList(t, tmp, []string{"-json=ImportPath,Name,Dir,Deps,Module,Error"}, t.args...)
	if err != nil {
		return nil, errors.New(firstLine(stderr, "go list failed: "+err.Error()))
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	var pkgs []listedPackage
	for dec.More() {
		var p listedPackage
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("reading go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	switch {
	case len(pkgs) == 0:
		return nil, fmt.Errorf("%s matches no packages", strings.Join(t.args, " "))
	case len(pkgs) > 1:
		return nil, fmt.Errorf("%s matches %d packages; build one main package at a time", strings.Join(t.args, " "), len(pkgs))
	}
	p := &pkgs[0]
	if p.Error != nil && p.Error.Pos != "" {
		// A source error (syntax, bad import line): show it like the
		// compiler's own diagnostics, then the one-line summary.
		fmt.Fprintf(b.diag(), "%s: %s\n", p.Error.Pos, p.Error.Err)
		return nil, fmt.Errorf("compiling %s failed", arg)
	}
	if p.Error != nil {
		// The go command suggests `go get` on the next lines; that is
		// not how unigo programs get their dependencies.
		msg := firstLine(p.Error.Err, "go list failed")
		return nil, errors.New(strings.TrimSuffix(msg, "; to add it:"))
	}
	if t.name == "" {
		t.name = filepath.Base(p.Dir)
	}
	if p.Module != nil && !p.Module.Main && !t.vendored && inModCache(p.Dir) {
		// A package of another module: go refuses to overlay files in
		// the module cache, so build it from a vendor tree instead.
		if _, err := b.remoteModule(t, tmp, p.ImportPath, p.Module.Version); err != nil {
			return nil, err
		}
		return b.list(t, tmp, arg)
	}
	return p, nil
}

// remoteModule makes t build path@version the way go install would, from a
// module of its own in tmp that requires it and unigo: its dependencies are
// vendored, so that the kernel's import can be added to the package (go
// refuses overlays of module cache files).
func (b *builder) remoteModule(t *target, tmp, path, version string) (*target, error) {
	root, err := b.unigoRoot()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(tmp, "mod")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	gomod := fmt.Sprintf("module unigo.local/build\n\ngo 1.26\n\nrequire %s v0.0.0\n\nreplace %s => %s\n", unigoModule, unigoModule, root)
	tools := fmt.Sprintf("//go:build tools\n\npackage tools\n\nimport (\n\t_ %q\n\t_ %q\n\t_ %q\n\t_ %q\n\t_ %q\n)\n", path, kernelPackage, netstackPackage, storagePackage, certsPackage)
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	for name, data := range map[string][]byte{"go.mod": []byte(gomod), "tools.go": []byte(tools), "go.sum": sum} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return nil, err
		}
	}
	for _, args := range [][]string{{"get", path + "@" + version}, {"mod", "tidy"}, {"mod", "vendor"}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(goEnv(), "GOFLAGS=-mod=mod")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			b.diag().Write(stderr.Bytes())
			return nil, fmt.Errorf("fetching %s@%s: go %s failed", path, version, strings.Join(args, " "))
		}
	}
	t.dir = dir
	t.args = []string{path}
	t.name = ""
	t.vendored = true
	t.overlay = map[string]string{}
	return t, nil
}

// goBuild runs the stock go build. On failure the compiler's own messages
// are copied to stderr and the error is a one-line summary.
func (b *builder) goBuild(t *target, tmp, exe, arg string) error {
	args := []string{"build", "-o", exe}
	if b.trimpath {
		args = append(args, "-trimpath")
	}
	ldflags := linkFlags
	for _, f := range b.goFlags {
		if v, ok := strings.CutPrefix(f, "-ldflags="); ok {
			ldflags = append(append([]string(nil), ldflags...), v)
			continue
		}
		args = append(args, f)
	}
	if len(ldflags) > 0 {
		args = append(args, "-ldflags="+strings.Join(ldflags, " "))
	}
	if t.vendored {
		args = append(args, "-mod=vendor")
	}
	ov, err := writeOverlay(t.overlay, tmp)
	if err != nil {
		return err
	}
	if ov != "" {
		args = append(args, "-overlay", ov)
	}
	args = append(args, "--")
	args = append(args, t.args...)
	cmd := b.goCmd(args...)
	cmd.Dir = t.dir
	cmd.Env = goEnv()
	var diag bytes.Buffer
	cmd.Stdout = &diag
	cmd.Stderr = &diag
	if err := cmd.Run(); err != nil {
		b.diag().Write(diag.Bytes())
		if _, ok := err.(*exec.ExitError); ok {
			if pkg := missingSumFor(diag.String()); pkg != "" {
				return fmt.Errorf("compiling %s failed: its module lacks the requirements of %s, which unigo build links in: import it in one file (import _ %q) and run go mod tidy", arg, pkg, pkg)
			}
			return fmt.Errorf("compiling %s failed", arg)
		}
		return fmt.Errorf("running go build: %v", err)
	}
	return nil
}

// missingSumFor returns the unigo package that go build could not compile
// for want of go.sum entries (a package unigo build added, such as the
// netstack or the storage drivers, whose requirements the program's module
// never recorded), or "".
func missingSumFor(diag string) string {
	for _, line := range strings.Split(diag, "\n") {
		if !strings.Contains(line, "missing go.sum entry") {
			continue
		}
		for _, pkg := range []string{netstackPackage, storagePackage} {
			if strings.Contains(line, "(imported by "+pkg+")") || strings.Contains(line, "imported by "+pkg+")") {
				return pkg
			}
		}
	}
	return ""
}

// diag is where the go command's diagnostics are shown.
func (b *builder) diag() io.Writer {
	if b.stderr == nil {
		return os.Stderr
	}
	return b.stderr
}

// writeOverlay writes the go build -overlay JSON for m, or returns "" when
// there is nothing to overlay.
func writeOverlay(m map[string]string, tmp string) (string, error) {
	if len(m) == 0 {
		return "", nil
	}
	j, err := json.Marshal(struct{ Replace map[string]string }{m})
	if err != nil {
		return "", err
	}
	p := filepath.Join(tmp, "overlay.json")
	return p, os.WriteFile(p, j, 0o644)
}

// goEnv is the environment for the go command: images are always static
// linux/amd64 executables.
func goEnv() []string {
	return append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// firstLine returns the first non-empty line of s, or def.
func firstLine(s, def string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return def
}

// rootRequirements are the module paths and versions unigo's go.mod (in
// root) requires, directly or not.
func rootRequirements(root string) [][2]string {
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return nil
	}
	f, err := modfile.ParseLax("go.mod", data, nil)
	if err != nil {
		return nil
	}
	var reqs [][2]string
	for _, r := range f.Require {
		reqs = append(reqs, [2]string{r.Mod.Path, r.Mod.Version})
	}
	return reqs
}

// inModCache reports whether dir is in the module cache.
func inModCache(dir string) bool {
	cmd := exec.Command("go", "env", "GOMODCACHE")
	cmd.Env = goEnv()
	out, err := cmd.Output()
	cache := strings.TrimSpace(string(out))
	if err != nil || cache == "" {
		return false
	}
	rel, err := filepath.Rel(cache, dir)
	return err == nil && !strings.HasPrefix(rel, "..")
}
