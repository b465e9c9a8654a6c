package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stdtestFast are the standard packages whose tests CI runs in the guest
// (make stdtest runs the full set): small, quick, and exercising the
// runtime, the allocator and the clock.
var stdtestFast = []string{"strings", "strconv", "errors", "sort"}

// runStdtest runs `unigo stdtest -check ARGS` and returns its table rows
// by package: native pass, guest pass, guest fail, guest skip, native
// skip, known differences.
func runStdtest(t *testing.T, args ...string) map[string][]int {
	t.Helper()
	cmd := exec.Command(unigoBin, append([]string{"stdtest", "-check"}, args...)...)
	cmd.Dir = moduleRoot
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	t.Logf("unigo stdtest -check %s:\n%s\n%s", strings.Join(args, " "), o.String(), e.String())
	require.NoError(t, err, "a test that passes natively fails in the guest and is not a known difference (tools/unigo/stdtest.go stdKnown)")
	rows := map[string][]int{}
	for _, line := range strings.Split(o.String(), "\n") {
		f := strings.Split(line, "|")
		if len(f) < 9 {
			continue
		}
		var n []int
		for _, s := range f[2:8] {
			if v, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
				n = append(n, v)
			}
		}
		if len(n) == 6 {
			rows[strings.TrimSpace(f[1])] = n
		}
	}
	return rows
}

// TestStdtest runs a few standard packages' own tests natively and inside
// the guest under the launcher: every test that passes natively passes in
// the guest, but for the listed known differences.
func TestStdtest(t *testing.T) {
	runnerNamed("launcher").check(t)
	rows := runStdtest(t, stdtestFast...)
	for _, pkg := range stdtestFast {
		r := rows[pkg]
		require.Len(t, r, 6, "%s: no table row", pkg)
		assert.Greater(t, r[0], 10, "%s: native passes", pkg)
		assert.Equal(t, r[0]-r[5], r[1], "%s: guest passes = native passes - known differences", pkg)
	}
}

// TestStdtestQEMU runs one standard package's tests under QEMU microvm.
func TestStdtestQEMU(t *testing.T) {
	runnerNamed("qemu").check(t)
	r := runStdtest(t, "-runner", "qemu", "errors")["errors"]
	require.Len(t, r, 6)
	assert.Equal(t, r[0]-r[5], r[1])
}

// goTestExec runs go test -exec 'unigo exec' ARGS in the tests module.
func goTestExec(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return goTest(t, append([]string{"-exec", unigoBin + " exec"}, args...)...)
}

// goTest runs go test -count=1 ARGS in the tests module.
func goTest(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runLogged(t, filepath.Join(moduleRoot, "tests"), "go", append([]string{"test", "-count=1"}, args...)...)
}

// TestGoTestExec runs a package's tests with go test -exec 'unigo exec':
// go test builds the (stripped) test binary, unigo exec boots it; a
// package whose tests do not link the kernel is refused with one line.
func TestGoTestExec(t *testing.T) {
	runnerNamed("launcher").check(t)
	const pkg = "github.com/unigo-os/unigo/tests/testdata/execsample"

	t.Run("verbose", func(t *testing.T) {
		out, _, code := goTestExec(t, "-v", "./testdata/execsample")
		assert.Equal(t, 1, code)
		assert.Contains(t, out, "--- PASS: TestDouble")
		assert.Contains(t, out, "booted=true args=-test.paniconexit0 -test.timeout=10m0s ")
		assert.Contains(t, out, " -test.v=true")
		assert.Contains(t, out, "--- FAIL: TestFailing")
		assert.Contains(t, out, "FAIL\t"+pkg+"\t")
		assert.NotContains(t, out, "\r")
	})
	t.Run("json", func(t *testing.T) {
		out, _, code := goTestExec(t, "-json", "-run", "Double", "./testdata/execsample")
		assert.Equal(t, 0, code)
		actions := map[string]string{}
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			var ev struct{ Action, Test string }
			require.NoError(t, json.Unmarshal(sc.Bytes(), &ev), sc.Text())
			if ev.Action == "pass" || ev.Action == "fail" {
				actions[ev.Test] = ev.Action
			}
		}
		assert.Equal(t, map[string]string{"TestDouble": "pass", "": "pass"}, actions)
	})
	t.Run("bench", func(t *testing.T) {
		out, _, code := goTestExec(t, "-run", "^$", "-bench", "Double", "-benchtime", "100x", "./testdata/execsample")
		assert.Equal(t, 0, code)
		assert.Regexp(t, `BenchmarkDouble\s+100\s+[0-9.]+ ns/op`, out)
		assert.Contains(t, out, "ok  \t"+pkg+"\t")
	})
	t.Run("nokernel", func(t *testing.T) {
		out, _, code := goTestExec(t, "./testdata/sample")
		assert.Equal(t, 1, code)
		assert.Contains(t, out, "unigo exec: sample.test does not link the unigo kernel: add a _test.go file with import _ \"github.com/unigo-os/unigo/kernel\"")
		assert.Contains(t, out, "FAIL\tgithub.com/unigo-os/unigo/tests/testdata/sample\t")
	})
}

// TestGoTestExecNative: the blank import of the kernel changes nothing for
// a plain go test, natively.
func TestGoTestExecNative(t *testing.T) {
	out, _, code := goTest(t, "-v", "-run", "Double", "./testdata/execsample")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "booted=false")
	assert.Contains(t, out, "--- PASS: TestDouble")
}

// TestGoTestExecQEMU runs go test -exec 'unigo exec -runner qemu'.
func TestGoTestExecQEMU(t *testing.T) {
	runnerNamed("qemu").check(t)
	out, _, code := goTest(t, "-exec", unigoBin+" exec -runner qemu -m 256M", "-v", "-run", "Double", "./testdata/execsample")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "booted=true")
	assert.Contains(t, out, "ok  \tgithub.com/unigo-os/unigo/tests/testdata/execsample\t")
}
