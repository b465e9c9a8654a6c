package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// samplePkg is the package `unigo test` is tried on: passing tests, tests
// that read testdata, one that fails and one that hangs (chosen with -run).
const samplePkg = "./testdata/sample"

// unigoTest runs `unigo test ARGS` in the tests module and returns its
// stdout, stderr and exit status.
func unigoTest(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return unigoTestIn(t, filepath.Join(moduleRoot, "tests"), args...)
}

// unigoTestIn is unigoTest in directory dir.
func unigoTestIn(t *testing.T, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runLogged(t, dir, unigoBin, append([]string{"test"}, args...)...)
}

// runLogged runs name with args in dir and returns its output and exit
// status, logging both; a command that cannot start fails the test.
func runLogged(t *testing.T, dir, name string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		require.NoError(t, err)
	}
	t.Logf("%s %s: exit %d\nstdout:\n%s\nstderr:\n%s", filepath.Base(name), strings.Join(args, " "), code, o.String(), e.String())
	return o.String(), e.String(), code
}

// TestUnigoTest runs the sample package's tests inside the guest under the
// launcher: pass, fail, testdata and working directory, -json, a hang.
func TestUnigoTest(t *testing.T) {
	runnerNamed("launcher").check(t)

	t.Run("pass", func(t *testing.T) {
		out, _, code := unigoTest(t, "-v", "-run", "Greeting|Testdata|External", samplePkg)
		assert.Equal(t, 0, code)
		for _, s := range []string{"--- PASS: TestGreeting", "--- PASS: TestTestdata", "--- PASS: TestExternal",
			"guest=true wd=" + filepath.Join(moduleRoot, "tests", "testdata", "sample"),
			"ok  \tgithub.com/unigo-os/unigo/tests/testdata/sample\t"} {
			assert.Contains(t, out, s)
		}
		assert.NotContains(t, out, "\r")
	})
	t.Run("quiet", func(t *testing.T) {
		out, _, code := unigoTest(t, "-short", "-run", "Greeting|Short", samplePkg)
		assert.Equal(t, 0, code)
		assert.Contains(t, out, "ok  \tgithub.com/unigo-os/unigo/tests/testdata/sample\t")
		assert.NotContains(t, out, "--- PASS")
	})
	t.Run("fail", func(t *testing.T) {
		out, _, code := unigoTest(t, "-skip", "Hang", samplePkg)
		assert.Equal(t, 1, code)
		assert.Contains(t, out, "--- FAIL: TestFailing")
		assert.Contains(t, out, "this test fails on purpose")
		assert.Contains(t, out, "FAIL\tgithub.com/unigo-os/unigo/tests/testdata/sample\t")
		assert.True(t, strings.HasSuffix(out, "\nFAIL\n"), "last line FAIL")
	})
	t.Run("json", func(t *testing.T) {
		out, _, code := unigoTest(t, "-json", "-run", "Greeting|Failing", samplePkg)
		assert.Equal(t, 1, code)
		actions := map[string]string{}
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			var ev struct{ Action, Test string }
			require.NoError(t, json.Unmarshal(sc.Bytes(), &ev), sc.Text())
			if ev.Test != "" && (ev.Action == "pass" || ev.Action == "fail") {
				actions[ev.Test] = ev.Action
			}
		}
		assert.Equal(t, map[string]string{"TestGreeting": "pass", "TestFailing": "fail"}, actions)
	})
	t.Run("hang", func(t *testing.T) {
		out, _, code := unigoTest(t, "-run", "Hang", "-timeout", "3s", samplePkg)
		assert.Equal(t, 1, code)
		assert.Contains(t, out, "panic: test timed out after 3s")
		assert.Contains(t, out, "FAIL\tgithub.com/unigo-os/unigo/tests/testdata/sample\t")
	})
	t.Run("bench", func(t *testing.T) {
		out, _, code := unigoTest(t, "-run", "^$", "-bench", "Greeting", "-benchtime", "100x", samplePkg)
		assert.Equal(t, 0, code)
		assert.Regexp(t, `BenchmarkGreeting\s+100\s+[0-9.]+ ns/op`, out)
		assert.Contains(t, out, "ok  \tgithub.com/unigo-os/unigo/tests/testdata/sample\t")
	})
	t.Run("pattern", func(t *testing.T) {
		// ./... : every package below, one image each; the broken one
		// fails to build, the others pass. (go ignores testdata
		// directories below a pattern's root, so start inside.)
		out, _, code := unigoTestIn(t, filepath.Join(moduleRoot, "tests", "testdata"), "-run", "Greeting|Double", "./...")
		assert.Equal(t, 1, code)
		assert.Contains(t, out, "ok  \tgithub.com/unigo-os/unigo/tests/testdata/sample\t")
		assert.Contains(t, out, "ok  \tgithub.com/unigo-os/unigo/tests/testdata/execsample\t")
		assert.Contains(t, out, "FAIL\tgithub.com/unigo-os/unigo/tests/testdata/broken [build failed]")
	})
	t.Run("std", func(t *testing.T) {
		// A standard library package, built from this module.
		out, _, code := unigoTest(t, "-run", "TestUnwrap|TestIs$", "-v", "errors")
		assert.Equal(t, 0, code)
		assert.Contains(t, out, "--- PASS: TestUnwrap")
		assert.Contains(t, out, "ok  \terrors\t")
	})
	t.Run("broken", func(t *testing.T) {
		out, stderr, code := unigoTest(t, "./testdata/broken")
		assert.Equal(t, 1, code)
		assert.Contains(t, stderr, `cannot use "not an int"`)
		assert.Contains(t, out, "FAIL\tgithub.com/unigo-os/unigo/tests/testdata/broken [build failed]")
	})
}

// TestUnigoTestQEMU runs the sample package's tests under QEMU microvm.
func TestUnigoTestQEMU(t *testing.T) {
	runnerNamed("qemu").check(t)
	out, _, code := unigoTest(t, "-runner", "qemu", "-v", "-run", "Testdata|Failing", samplePkg)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "--- PASS: TestTestdata")
	assert.Contains(t, out, "--- FAIL: TestFailing")
	assert.Contains(t, out, "FAIL\tgithub.com/unigo-os/unigo/tests/testdata/sample\t")
}

// TestRunQEMU boots images with unigo run -runner qemu: arguments,
// environment and the guest's exit code come through as with the launcher.
func TestRunQEMU(t *testing.T) {
	runnerNamed("qemu").check(t)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{images["./tests/guests/exit7"]}, 7, "exit7: exiting with 7"},
		{[]string{"-e", "GREETING=hi there", "-m", "256M", "-smp", "2", images["./examples/hello"], "--", "a b"}, 0, `"a b"`},
		{[]string{"-timeout", "1s", images[spinPkg]}, 124, ""},
	} {
		cmd := exec.Command(unigoBin, append([]string{"run", "-runner", "qemu"}, c.args...)...)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		assert.Equal(t, c.code, code, "%v: %s%s", c.args, o.String(), e.String())
		assert.Contains(t, o.String(), c.want, "%v", c.args)
	}
}
