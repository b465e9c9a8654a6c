package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stdtestJSON is go test -json output for two packages: passes, a skip, a
// failure with its message, subtests (not counted), a test cut short by a
// panic, and a package that did not build.
const stdtestJSON = `{"Action":"start","Package":"a"}
{"Action":"run","Package":"a","Test":"TestOK"}
{"Action":"run","Package":"a","Test":"TestOK/sub"}
{"Action":"pass","Package":"a","Test":"TestOK/sub"}
{"Action":"pass","Package":"a","Test":"TestOK"}
{"Action":"run","Package":"a","Test":"TestSkip"}
{"Action":"output","Package":"a","Test":"TestSkip","Output":"=== RUN   TestSkip\n"}
{"Action":"output","Package":"a","Test":"TestSkip","Output":"    x_test.go:3: no exec\n"}
{"Action":"skip","Package":"a","Test":"TestSkip"}
{"Action":"run","Package":"a","Test":"TestBad"}
{"Action":"output","Package":"a","Test":"TestBad","Output":"    x_test.go:9: fork/exec: function not implemented\n"}
{"Action":"fail","Package":"a","Test":"TestBad/sub"}
{"Action":"fail","Package":"a","Test":"TestBad"}
{"Action":"run","Package":"a","Test":"TestHang"}
{"Action":"output","Package":"a","Output":"panic: test timed out after 1s\n"}
{"Action":"fail","Package":"a"}
not json at all
FAIL	b [build failed]
`

func TestParseTestJSON(t *testing.T) {
	res := parseTestJSON(strings.NewReader(stdtestJSON))
	a := res["a"]
	require.NotNil(t, a)
	assert.Equal(t, map[string]bool{"TestOK": true}, a.pass)
	assert.Equal(t, map[string]bool{"TestSkip": true}, a.skip)
	assert.Equal(t, map[string]bool{"TestBad": true, "TestHang": true}, a.fail)
	assert.Equal(t, map[string]string{
		"TestSkip": "x_test.go:3: no exec",
		"TestBad":  "x_test.go:9: fork/exec: function not implemented",
		"TestHang": "did not finish",
	}, a.why)
	assert.Equal(t, "panic: test timed out after 1s", a.note)
	require.NotNil(t, res["b"])
	assert.Equal(t, "[build failed]", res["b"].note)
	assert.Empty(t, res["b"].pass)
}

func TestWriteStdtestReport(t *testing.T) {
	counts := func(pass, fail, skip string) *testCounts {
		c := newTestCounts()
		for _, set := range []struct {
			m     map[string]bool
			names string
		}{{c.pass, pass}, {c.fail, fail}, {c.skip, skip}} {
			for _, n := range strings.Fields(set.names) {
				set.m[n] = true
			}
		}
		return c
	}
	native := map[string]*testCounts{
		"strings": counts("TestA TestB", "", ""),
		"os":      counts("TestA TestExec TestNew", "", "TestS"),
	}
	guestOS := counts("TestA", "TestExec TestNew", "TestS")
	guestOS.why["TestNew"] = "x_test.go:1: `boom`"
	guest := map[string]*testCounts{"strings": counts("TestA TestB", "", ""), "os": guestOS}
	saved := stdKnown
	defer func() { stdKnown = saved }()
	stdKnown = map[string]map[string]string{"os": {"TestExec": "fork/exec: the unikernel runs one program", "TestA": "fixed since"}}

	var b bytes.Buffer
	unexpected := writeStdtestReport(&b, []string{"strings", "os"}, native, guest, false)
	assert.Equal(t, []string{"os.TestNew"}, unexpected)
	out := b.String()
	assert.Contains(t, out, "| strings | 2 | 2 | 0 | 0 | 0 | 0 |  |\n")
	assert.Contains(t, out, "| os | 3 | 1 | 2 | 1 | 1 | 1 |  |\n")
	assert.Contains(t, out, "- `os.TestExec` fails in the guest: fork/exec: the unikernel runs one program\n")
	assert.Contains(t, out, "- `os.TestNew` fails in the guest: not a known difference: `x_test.go:1: 'boom'`\n")
	assert.Contains(t, out, "- `os.TestA` passes in the guest now: drop it from the known differences\n")

	stdKnown = map[string]map[string]string{"os": {"*": "no os"}}
	b.Reset()
	assert.Empty(t, writeStdtestReport(&b, []string{"strings", "os"}, native, guest, false))
	assert.Contains(t, b.String(), "- `os.TestNew` fails in the guest: no os (`x_test.go:1: 'boom'`)\n")
}

func TestStdtestBadArgs(t *testing.T) {
	for args, msg := range map[string]string{
		"-runner xen": "unigo stdtest: -runner xen: want launcher or qemu\n",
		"-m lots":     "unigo stdtest: -m: ",
		"-timeout 0s": "unigo stdtest: -timeout 0s: want a positive duration\n",
		"./...":       "unigo stdtest: ./...: want standard library import paths (no patterns or directories)\n",
		"-nosuchflag": "unigo stdtest: flag provided but not defined: -nosuchflag\n",
	} {
		var o, e bytes.Buffer
		assert.Equal(t, 2, runStdtest(strings.Fields(args), &o, &e), args)
		assert.True(t, strings.HasPrefix(e.String(), msg), "%s: %q", args, e.String())
		assert.Equal(t, 1, strings.Count(e.String(), "\n"), "%s: one line: %q", args, e.String())
	}
	var o, e bytes.Buffer
	assert.Equal(t, 0, runStdtest([]string{"-h"}, &o, &e))
	assert.Contains(t, o.String(), "usage: unigo stdtest")
}

// FuzzParseTestJSON: the guest's test output (test2json events, or
// anything a broken guest prints) never panics the parser, and every
// failure reason belongs to a failed or skipped test.
func FuzzParseTestJSON(f *testing.F) {
	f.Add(stdtestJSON)
	f.Add(`{"Action":"run","Package":"p","Test":"T/"}` + "\n" + `{"Action":"output","Package":"p","Test":"/x"}`)
	f.Add("FAIL\t\n{\n{}\n" + `{"Action":"fail","Package":"","Test":"T"}`)
	f.Fuzz(func(t *testing.T, s string) {
		for pkg, c := range parseTestJSON(strings.NewReader(s)) {
			for name := range c.why {
				if !c.fail[name] && !c.skip[name] {
					t.Fatalf("%s: reason for %q, which neither failed nor skipped", pkg, name)
				}
			}
		}
	})
}
