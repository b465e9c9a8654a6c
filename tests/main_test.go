package tests

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	// unigo build links the netstack into guests that use net; importing
	// it here keeps its requirements in this module's go.mod and go.sum.
	_ "github.com/unigo-os/unigo/netstack"
	// unigo build links the CA roots into every guest: the same.
	_ "golang.org/x/crypto/x509roots/fallback"
)

var (
	// moduleRoot is the root of the unigo source tree (the library
	// module); tests/ and tools/ are modules of their own beneath it.
	moduleRoot string
	// unigoBin is the unigo CLI built for this test run.
	unigoBin string
	// images maps a guest package (relative to moduleRoot) to its image.
	images = map[string]string{}
)

// TestMain builds the unigo CLI, then every guest image once, before any test
// runs; builds are slow enough that doing them per test would dominate.
func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	flag.Parse() // for testing.Verbose and -short before m.Run
	dir, err := os.MkdirTemp("", "unigo-tests-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := buildAll(dir); err != nil {
		fmt.Fprintln(os.Stderr, "tests: building:", err)
		return 1
	}
	return m.Run()
}

func buildAll(dir string) error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return fmt.Errorf("not inside the unigo tests module")
	}
	moduleRoot = filepath.Dir(filepath.Dir(gomod))

	unigoBin = filepath.Join(dir, "unigo")
	// The CLI and, next to it, the launcher binary `unigo run` execs and
	// the user-mode network's process.
	if err := goCommand("go", "-C", "tools", "build", "-o", dir+"/", "./unigo", "./unigo-vmm", "./unigo-net"); err != nil {
		return err
	}
	pkgs := map[string]bool{}
	for _, sc := range scenarios {
		pkgs[sc.pkg] = true
	}
	pkgs[probePkg] = true
	pkgs[netpeerPkg] = true
	pkgs[httpdPkg] = true
	pkgs[lastwordsPkg] = true
	pkgs[dhcpcheckPkg] = true
	pkgs[spinPkg] = true
	pkgs[sigtermPkg] = true
	pkgs[readyPkg] = true
	pkgs[durablePkg] = true
	pkgs[volfillPkg] = true
	pkgs[sysfuzzPkg] = true
	pkgs[sysfuzzNetPkg] = true
	pkgs[filesPkg] = true
	pkgs[catstdinPkg] = true
	pkgs[volume9pPkg] = true
	pkgs[volumePkg] = true
	pkgs[confloodPkg] = true
	pkgs[blockdevPkg] = true
	pkgs[fslatPkg] = true
	pkgs[balloonPkg] = true
	for pkg := range pkgs {
		img := filepath.Join(dir, strings.ReplaceAll(strings.TrimPrefix(pkg, "./"), "/", "_")+".img")
		args := append(append([]string{"build", "-o", img}, buildFlags[pkg]...), pkg)
		if err := goCommand(unigoBin, args...); err != nil {
			return err
		}
		images[pkg] = img
	}
	return nil
}

// goCommand runs a build command in moduleRoot, folding its output into the
// error.
func goCommand(name string, args ...string) error {
	start := time.Now()
	cmd := exec.Command(name, args...)
	cmd.Dir = moduleRoot
	// The CLI is built as the Makefile builds it: static, no cgo.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	if testing.Verbose() {
		fmt.Printf("built: %s %s (%v)\n", filepath.Base(name), strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	}
	return nil
}
