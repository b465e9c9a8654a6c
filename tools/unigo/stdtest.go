package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"time"
)

const stdtestUsage = `usage: unigo stdtest [flags] [PACKAGES]

Runs the tests of standard library packages natively (go test -json) and
inside the unikernel (unigo test -json), counts the top-level tests that
pass, fail and skip in each, and prints a Markdown table and the tests
that fail in the guest, with the known cause where there is one.
PACKAGES default to the set docs/STDTESTS.md reports on.

flags:
  -runner NAME     launcher (default) or qemu
  -m SIZE          guest memory (default 512M)
  -short           go test -short, both sides (default true)
  -timeout D       per package test timeout (default 10m)
  -check           exit 1 when a test that passes natively fails in the
                   guest and is not a known difference (for CI)
  -native-only     skip the guest runs (for checking the native side)

Run it inside the unigo checkout (it finds it like unigo build does): the
kernel is linked into each standard package's tests from there.

exit status: 0, or 1 for -check failures or when a side cannot run at all,
2 for a bad command line.
`

// stdtestPackages are the standard packages `unigo stdtest` runs by default.
var stdtestPackages = []string{
	"strings", "strconv", "bytes", "sort", "fmt", "errors", "io", "context",
	"encoding/json", "math/big", "regexp", "compress/gzip", "crypto/sha256",
	"time", "sync", "os", "path/filepath", "bufio", "net",
}

// Causes of the known differences (docs/STDTESTS.md).
const (
	causeExec    = "fork/exec: the unikernel runs one program (the test re-runs its binary or runs a command)"
	causeGo      = "needs the go command (to build a helper program, then exec it)"
	causePidfd   = "pidfd_open is not implemented (ENOSYS); there are no child processes"
	causeFIFO    = "named pipes: mknodat is not implemented (ENOSYS)"
	causeHostFS  = "host files outside the package directory (/usr/bin, /etc/services, the rest of GOROOT) are not in the guest"
	causeSubdir  = "unigo test copies the package directory without its subpackages (GOROOT/src/os/exec)"
	causeOneCPU  = "the guest has one vCPU (unigo test -smp 1)"
	causeUnix    = "AF_UNIX: an unbound peer's address reads as \"@\", autobind (bind to \"\") fails with EINVAL, no socket file appears on the file system"
	causeSCM     = "AF_UNIX: SCM_RIGHTS with MSG_CMSG_CLOEXEC delivers no control message"
	causeRaw     = "raw IP sockets (ip4:icmp) are not implemented"
	causeNetlink = "AF_NETLINK is not implemented: net.Interfaces and InterfaceAddrs fail"
	causeAllocs  = "the netstack runs inside the test's process, so its allocations count in testing.AllocsPerRun"
	causeNetstk  = "netstack differences: a closed listener's port is not free at once, dual-stack (IPv4-mapped IPv6) listeners, zero-byte UDP datagrams, MPTCP"
)

// stdKnown lists, per package, the top-level tests known to pass natively
// but not in the guest, with the cause. "*" stands for every test of the
// package.
var stdKnown = map[string]map[string]string{
	"math/big": {"TestEscape": causeGo},
	"sync": {
		"TestIssue76126":  causeExec,
		"TestMutexMisuse": causeExec,
	},
	"time": {
		"TestLoadLocationFromTZData": causeHostFS,
		"TestLongAdjustTimers":       causeOneCPU,
	},
	"path/filepath": {"TestBug3486": causeHostFS},
	"os": {
		"TestChdirAndGetwd":          causeHostFS,
		"TestReaddirnamesOneAtATime": causeHostFS,
		"TestReadDir":                causeSubdir,
		"TestFIFONonBlockingEOF":     causeFIFO,
		"TestFifoEOF":                causeFIFO,
		"TestProcessAlreadyDone":     causePidfd,
		"TestErrProcessDone":         causeGo,
		"TestExecutableDeleted":      causeGo,
		"TestFindProcessViaPidfd":    causeGo,
		"TestProcessReleaseTwice":    causeGo,
		"TestStartProcessWithPidfd":  causeGo,
		"TestUNIXProcessAlive":       causeGo,
		"TestExecutable":             causeExec,
		"TestFileChdirTestlog":       causeExec,
		"TestGetppid":                causeExec,
		"TestHostname":               causeExec,
		"TestKillFindProcess":        causeExec,
		"TestKillStartProcess":       causeExec,
		"TestProcessWithHandleLinux": causeExec,
		"TestReadNonblockingFd":      causeExec,
		"TestStartProcess":           causeExec,
		"TestStatStdin":              causeExec,
		"TestStdPipe":                causeExec,
	},
	"net": {
		"TestSplice":                                  causeExec,
		"TestReadLine":                                causeHostFS,
		"TestSendfileOnWriteTimeoutExceeded":          causeHostFS,
		"TestProtocolListenError":                     causeUnix,
		"TestReadUnixgramWithUnnamedSocket":           causeUnix,
		"TestUnixAutobindClose":                       causeUnix,
		"TestUnixgramAutobind":                        causeUnix,
		"TestUnixgramLinuxAbstractLongName":           causeUnix,
		"TestUnixgramZeroByteBuffer":                  causeUnix,
		"TestUnixgramZeroBytePayload":                 causeUnix,
		"TestUnixUnlink":                              causeUnix,
		"TestUnixConnReadMsgUnixSCMRightsCloseOnExec": causeSCM,
		"TestIPConnLocalName":                         causeRaw,
		"TestIPConnRemoteName":                        causeRaw,
		"TestIPConnSpecificMethods":                   causeRaw,
		"TestInterfaceAddrs":                          causeNetlink,
		"TestInterfaceMulticastAddrs":                 causeNetlink,
		"TestInterfaceUnicastAddrs":                   causeNetlink,
		"TestInterfaces":                              causeNetlink,
		"TestSendfile":                                causeHostFS,
		"TestSendfileParts":                           causeHostFS,
		"TestSendfileSeeked":                          causeHostFS,
		"TestSendfileWithExactLimit":                  causeHostFS,
		"TestSendfileWithLimitLargerThanFile":         causeHostFS,
		"TestAllocs":                                  causeAllocs,
		"TestTCPReadWriteAllocs":                      causeAllocs,
		"TestClosingListener":                         causeNetstk,
		"TestDualStackTCPListener":                    causeNetstk,
		"TestDualStackUDPListener":                    causeNetstk,
		"TestUDPZeroBytePayload":                      causeNetstk,
		"TestMultiPathTCP":                            causeNetstk,
	},
}

// testCounts are the top-level test results of one package on one side.
type testCounts struct {
	pass, fail, skip map[string]bool
	// why is, for a failed or skipped test, the first line of its output.
	why map[string]string
	// note is a package level problem (build failure, crash, timeout).
	note string
}

func newTestCounts() *testCounts {
	return &testCounts{pass: map[string]bool{}, fail: map[string]bool{}, skip: map[string]bool{}, why: map[string]string{}}
}

// testEvent is one go test -json (test2json) event.
type testEvent struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// parseTestJSON reads go test -json output and counts each package's
// top-level tests. A test that started but never ended (the binary died)
// counts as failed. Lines that are not JSON events are kept as the
// package's note when they say FAIL.
func parseTestJSON(r io.Reader) map[string]*testCounts {
	res := map[string]*testCounts{}
	get := func(pkg string) *testCounts {
		c := res[pkg]
		if c == nil {
			c = newTestCounts()
			res[pkg] = c
		}
		return c
	}
	running := map[string]map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var ev testEvent
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &ev) != nil {
			if f := strings.Fields(string(line)); len(f) >= 2 && f[0] == "FAIL" {
				get(f[1]).note = strings.TrimSpace(strings.TrimPrefix(string(line), "FAIL\t"+f[1]))
			}
			continue
		}
		if ev.Package == "" {
			continue
		}
		c := get(ev.Package)
		if ev.Test == "" {
			if ev.Action == "output" && c.note == "" {
				if o := strings.TrimSpace(ev.Output); strings.HasPrefix(o, "panic: ") || strings.HasPrefix(o, "FAIL\t"+ev.Package+" [") {
					c.note = o
				}
			}
			continue
		}
		top, _, sub := strings.Cut(ev.Test, "/")
		if running[ev.Package] == nil {
			running[ev.Package] = map[string]bool{}
		}
		switch {
		case ev.Action == "run" && !sub:
			running[ev.Package][top] = true
		case ev.Action == "output" && c.why[top] == "":
			if o := strings.TrimSpace(ev.Output); o != "" && !strings.HasPrefix(o, "=== ") && !strings.HasPrefix(o, "--- ") {
				c.why[top] = o
			}
		case sub:
		case ev.Action == "pass":
			c.pass[top] = true
		case ev.Action == "fail":
			c.fail[top] = true
		case ev.Action == "skip":
			c.skip[top] = true
		}
		if !sub && (ev.Action == "pass" || ev.Action == "fail" || ev.Action == "skip") {
			delete(running[ev.Package], top)
		}
	}
	for pkg, names := range running {
		for name := range names {
			get(pkg).fail[name] = true
			if get(pkg).why[name] == "" {
				get(pkg).why[name] = "did not finish"
			}
		}
	}
	for _, c := range res {
		for name := range c.why {
			if !c.fail[name] && !c.skip[name] {
				delete(c.why, name)
			}
		}
	}
	return res
}

// stdtestOptions is a parsed `unigo stdtest` command line.
type stdtestOptions struct {
	pkgs       []string
	runner     string
	mem        string
	short      bool
	timeout    time.Duration
	check      bool
	nativeOnly bool
}

func parseStdtestArgs(args []string) (*stdtestOptions, error) {
	o := &stdtestOptions{}
	fs := flag.NewFlagSet("unigo stdtest", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.runner, "runner", runnerLauncher, "")
	fs.StringVar(&o.mem, "m", "512M", "")
	fs.BoolVar(&o.short, "short", true, "")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "")
	fs.BoolVar(&o.check, "check", false, "")
	fs.BoolVar(&o.nativeOnly, "native-only", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errHelp
		}
		return nil, err
	}
	if o.runner != runnerLauncher && o.runner != runnerQEMU {
		return nil, fmt.Errorf("-runner %s: want launcher or qemu", o.runner)
	}
	if _, err := parseMemSize(o.mem); err != nil {
		return nil, fmt.Errorf("-m: %v", err)
	}
	if o.timeout <= 0 {
		return nil, fmt.Errorf("-timeout %v: want a positive duration", o.timeout)
	}
	o.pkgs = fs.Args()
	if len(o.pkgs) == 0 {
		o.pkgs = stdtestPackages
	}
	for _, p := range o.pkgs {
		if strings.HasPrefix(p, ".") || strings.HasPrefix(p, "/") || strings.Contains(p, "...") {
			return nil, fmt.Errorf("%s: want standard library import paths (no patterns or directories)", p)
		}
	}
	return o, nil
}

// stdtestCmd implements `unigo stdtest`.
func stdtestCmd(args []string) int {
	return runStdtest(args, os.Stdout, os.Stderr)
}

func runStdtest(args []string, stdout, stderr io.Writer) int {
	o, err := parseStdtestArgs(args)
	if errors.Is(err, errHelp) {
		fmt.Fprint(stdout, stdtestUsage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "unigo stdtest: %v\n", err)
		return 2
	}
	root, err := (&builder{}).unigoRoot()
	if err != nil {
		fmt.Fprintf(stderr, "unigo stdtest: %v\n", err)
		return 1
	}
	if err := os.Chdir(root); err != nil {
		fmt.Fprintf(stderr, "unigo stdtest: %v\n", err)
		return 1
	}
	// timetzdata: the time package's tests load America/Los_Angeles from
	// GOROOT/lib/time, which the guest does not have, else from the
	// embedded database this tag links into package time itself.
	common := []string{"-json", "-timeout", o.timeout.String(), "-tags=timetzdata"}
	if o.short {
		common = append(common, "-short")
	}

	// The native side runs as one go test (its packages in parallel)
	// while the guest side boots one package after another.
	nativeDone := make(chan map[string]*testCounts, 1)
	go func() {
		cmd := exec.Command("go", append(append([]string{"test"}, common...), o.pkgs...)...)
		cmd.Env = goEnv()
		var errBuf bytes.Buffer
		cmd.Stderr = &errBuf
		out, _ := cmd.Output()
		res := parseTestJSON(bytes.NewReader(out))
		if len(res) == 0 {
			fmt.Fprintf(stderr, "unigo stdtest: native go test printed no results: %s\n", firstLine(errBuf.String(), "no output"))
		}
		nativeDone <- res
	}()

	guest := map[string]*testCounts{}
	if !o.nativeOnly {
		for _, pkg := range o.pkgs {
			start := time.Now()
			targs := append(append([]string{}, common...), "-count=1", "-m", o.mem, "-runner", o.runner, pkg)
			var out, errBuf bytes.Buffer
			runTests(targs, &out, &errBuf)
			c := parseTestJSON(&out)[pkg]
			if c == nil {
				c = newTestCounts()
			}
			if c.note == "" && len(c.pass)+len(c.fail)+len(c.skip) == 0 {
				// unigo test's last line says why (build failure, crash).
				c.note = firstLine(strings.TrimSpace(lastLines(errBuf.String(), 1)), "no test results")
			}
			guest[pkg] = c
			fmt.Fprintf(stderr, "unigo stdtest: %-14s guest: %d pass, %d fail, %d skip (%.1fs) %s\n",
				pkg, len(c.pass), len(c.fail), len(c.skip), time.Since(start).Seconds(), c.note)
		}
	}
	native := <-nativeDone
	if len(native) == 0 {
		return 1
	}
	unexpected := writeStdtestReport(stdout, o.pkgs, native, guest, o.nativeOnly)
	if o.check && len(unexpected) > 0 {
		fmt.Fprintf(stderr, "unigo stdtest: %d tests pass natively but not in the guest and are not known differences: %s\n",
			len(unexpected), strings.Join(unexpected, " "))
		return 1
	}
	return 0
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// writeStdtestReport prints the Markdown table and the failing tests, and
// returns the PKG.TEST names that pass natively, not in the guest, and are
// not known differences.
func writeStdtestReport(w io.Writer, pkgs []string, native, guest map[string]*testCounts, nativeOnly bool) []string {
	empty := newTestCounts()
	fmt.Fprintln(w, "| package | native pass | guest pass | guest fail | guest skip | native skip | known | notes |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---|")
	var unexpected, lines []string
	for _, pkg := range pkgs {
		n, g := native[pkg], guest[pkg]
		if n == nil {
			n = empty
		}
		if g == nil {
			g = empty
		}
		known := stdKnown[pkg]
		var missing []string // pass natively, not in the guest
		for name := range n.pass {
			if !g.pass[name] {
				missing = append(missing, name)
			}
		}
		sort.Strings(missing)
		nknown := 0
		for _, name := range missing {
			cause, ok := known[name]
			if !ok {
				cause, ok = known["*"]
			}
			if ok {
				nknown++
			} else if !nativeOnly {
				unexpected = append(unexpected, pkg+"."+name)
			}
			if nativeOnly {
				continue
			}
			what := "fails"
			switch {
			case g.skip[name]:
				what = "skips"
			case !g.fail[name]:
				what = "did not run"
			}
			if why := g.why[name]; why != "" {
				why = strings.ReplaceAll(why, "`", "'")
				if cause == "" {
					cause = "not a known difference: `" + why + "`"
				} else {
					cause += " (`" + why + "`)"
				}
			} else if cause == "" {
				cause = "not a known difference"
			}
			lines = append(lines, fmt.Sprintf("- `%s.%s` %s in the guest: %s", pkg, name, what, cause))
		}
		if !nativeOnly && len(g.pass) > 0 {
			var stale []string
			for name := range known {
				if g.pass[name] {
					stale = append(stale, name)
				}
			}
			sort.Strings(stale)
			for _, name := range stale {
				lines = append(lines, fmt.Sprintf("- `%s.%s` passes in the guest now: drop it from the known differences", pkg, name))
			}
		}
		note := g.note
		if n.note != "" {
			note = strings.TrimSpace("native: " + n.note + "; " + note)
		}
		fmt.Fprintf(w, "| %s | %d | %d | %d | %d | %d | %d | %s |\n", pkg, len(n.pass), len(g.pass), len(g.fail), len(g.skip), len(n.skip), nknown, strings.ReplaceAll(note, "|", `\|`))
	}
	if len(lines) > 0 {
		fmt.Fprintln(w, "\nTests that pass natively but not in the guest (and known differences that pass):")
		fmt.Fprintln(w)
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
	}
	return slices.Clip(unexpected)
}
