package launch

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/tools/launch/launchtest"
	"github.com/unigo-os/unigo/tools/vmm/netback"
	"github.com/unigo-os/unigo/tools/vmm/netback/usernet"
	"github.com/unigo-os/unigo/tools/vmm/testguest"
)

func TestParseMemSize(t *testing.T) {
	for in, want := range map[string]uint64{
		"128M": 128 << 20, "128m": 128 << 20, "128": 128 << 20, "2G": 2 << 30, "4g": 4 << 30,
		"512K": 512 << 10, "1T": 1 << 40, "64MiB": 64 << 20, "64MB": 64 << 20,
	} {
		got, err := parseMemSize(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "M", "-1M", "1.5G", "12X", "0", "99999999999999999999G"} {
		_, err := parseMemSize(in)
		assert.Error(t, err, in)
	}
}

func TestParseRunArgs(t *testing.T) {
	o, err := parseRunArgs([]string{"-m", "256M", "img", "-smp", "2", "-e", "A=1", "-e=B=x y", "-timeout", "3s", "-v", "-cmdline", "unigo.debug=1", "--", "a b", "-m"})
	require.NoError(t, err)
	assert.Equal(t, "img", o.target)
	assert.EqualValues(t, 256<<20, o.mem)
	assert.Equal(t, 2, o.smp)
	assert.Equal(t, []string{"A=1", "B=x y"}, o.env)
	assert.Equal(t, 3*time.Second, o.timeout)
	assert.True(t, o.verbose)
	assert.Equal(t, "unigo.debug=1", o.cmdline)
	assert.Equal(t, []string{"a b", "-m"}, o.guestArgs)

	o, err = parseRunArgs([]string{"img"})
	require.NoError(t, err)
	assert.EqualValues(t, 128<<20, o.mem)
	assert.Equal(t, 1, o.smp)
	assert.Empty(t, o.guestArgs)
	assert.Equal(t, defaultGrace, o.grace)
	assert.False(t, o.status || o.hostEnv)

	o, err = parseRunArgs([]string{"-grace", "0", "-status", "-hostenv", "-ready-file", "/tmp/r", "img"})
	require.NoError(t, err)
	assert.Zero(t, o.grace)
	assert.True(t, o.status && o.hostEnv)
	assert.Equal(t, "/tmp/r", o.readyFile)

	for args, msg := range map[string]string{
		"":                 "missing IMAGE",
		"-m":               "needs an argument",
		"-m 1M img":        "too small",
		"-m lots img":      "invalid size",
		"-smp 0 img":       "-smp 0",
		"-runner x img":    "-runner x: want launcher or qemu",
		"-smp x img":       "invalid value",
		"-e novalue img":   "want KEY=VAL",
		"-e =v img":        "want KEY=VAL",
		"-bogus img":       "flag provided but not defined: -bogus",
		"img other":        "guest arguments go after --",
		"-timeout -1s img": "positive duration",
		"-grace -1s img":   "-grace -1s",
	} {
		_, err := parseRunArgs(strings.Fields(args))
		assert.ErrorContains(t, err, msg, args)
	}
	_, err = parseRunArgs([]string{"-h"})
	assert.ErrorIs(t, err, errHelp)
}

func TestGuestCmdline(t *testing.T) {
	env, params, args, err := guestCmdline(" unigo.x=1 GOGC=50 -- first", []string{"A=1", "B=x y"}, []string{"a", "b c", `q"uote`, ""})
	require.NoError(t, err)
	assert.Equal(t, []string{"GOGC=50", "A=1", "B=x y"}, env)
	assert.Equal(t, []string{"unigo.x=1"}, params)
	assert.Equal(t, []string{"first", "a", "b c", `q"uote`, ""}, args)
	line, err := abi.Compose(env, params, args)
	require.NoError(t, err)
	assert.Equal(t, `GOGC=50 A=1 B="x y" unigo.x=1 -- first a "b c" "q\"uote" ""`, line)

	_, _, _, err = guestCmdline(`"unterminated`, nil, nil)
	assert.ErrorContains(t, err, "-cmdline")
	_, _, _, err = guestCmdline("", []string{"a.b=1"}, nil)
	assert.ErrorContains(t, err, "kernel parameter")
	_, _, _, err = guestCmdline("", nil, []string{"nul\x00byte"})
	assert.ErrorContains(t, err, "NUL byte")
}

// In-process runs of the launcher.

func writeImage(t *testing.T, code []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "guest.img")
	require.NoError(t, os.WriteFile(p, testguest.Image(code), 0o644))
	return p
}

// runLauncher runs the command in this process as the CLI does for
// images, with the user-mode network and no builder.
func runLauncher(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return Run(args, stdin, stdout, stderr, Hooks{UserNet: userNet})
}

func userNet(f []netback.Forward, p netback.UserPolicy) (UserNetwork, error) {
	u, err := usernet.NewUser(f, p)
	if err != nil {
		return nil, err
	}
	return u, nil
}

func runInProcess(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := runLauncher(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func kvmOK(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no usable /dev/kvm: %v", err)
	}
	f.Close()
}

func TestRunHello(t *testing.T) {
	kvmOK(t)
	img := writeImage(t, testguest.Hello())
	code, out, errs := runInProcess(img, "-m", "16M", "-v", "--", "x")
	assert.Equal(t, 7, code, errs)
	assert.Equal(t, "hi\n", out)
	for _, phase := range []string{"open kvm", "create vm", "load image", "first vCPU run", "guest exit"} {
		assert.Contains(t, errs, "unigo run: "+phase)
	}
}

func TestRunTimeout(t *testing.T) {
	kvmOK(t)
	img := writeImage(t, testguest.Hang())
	code, _, errs := runInProcess("-timeout", "100ms", img)
	assert.Equal(t, exitTimeout, code)
	// The guest's state first (Hang: cli; hlt; jmp), then the reason.
	assert.True(t, strings.HasPrefix(errs, "unigo run: timeout after 100ms: dumping the guest\nunigo: guest state, 1 vCPU(s)\n"), errs)
	assert.Contains(t, errs, "\nvCPU 0: ")
	assert.Contains(t, errs, "rip 0x00000000001000")
	assert.Contains(t, errs, "\nkernel events")
	assert.True(t, strings.HasSuffix(errs, "\nunigo run: guest timed out after 100ms\n"), errs)
}

// TestRunStatus: a guest exiting 124 looks like a timeout by its status
// alone; -status names the origin.
func TestRunStatus(t *testing.T) {
	kvmOK(t)
	img := writeImage(t, testguest.Exit(124))
	code, _, errs := runInProcess("-status", img)
	assert.Equal(t, exitTimeout, code)
	assert.Equal(t, "unigo-status: code=124 reason=exit\n", errs)

	code, _, errs = runInProcess("-status", "-timeout", "50ms", writeImage(t, testguest.Hang()))
	assert.Equal(t, exitTimeout, code)
	assert.True(t, strings.HasSuffix(errs, "\nunigo-status: code=124 reason=timeout\n"), errs)

	code, _, errs = runInProcess("-status", "-m", "1K", img)
	assert.Equal(t, exitLauncher, code)
	assert.True(t, strings.HasSuffix(errs, "\nunigo-status: code=125 reason=error\n"), errs)
}

func TestRunCrash(t *testing.T) {
	kvmOK(t)
	img := writeImage(t, []byte{0x31, 0xC9, 0xF7, 0xF1}) // divide by zero without an IDT
	code, _, errs := runInProcess(img)
	assert.Equal(t, 70, code)
	assert.Contains(t, errs, "triple fault")
}

func TestRunBadInput(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	require.NoError(t, os.WriteFile(text, []byte("hello"), 0o644))
	noNote := filepath.Join(dir, "nonote.img")
	require.NoError(t, os.WriteFile(noNote, testguest.Spec{Entry: testguest.LoadAddr, NoteDesc: -1,
		Segments: []testguest.Segment{{Paddr: testguest.LoadAddr, Data: []byte{0xF4}}}}.ELF(), 0o644))
	big := filepath.Join(dir, "big.img")
	require.NoError(t, os.WriteFile(big, testguest.Spec{Entry: 0x400000,
		Segments: []testguest.Segment{{Paddr: 0x400000, Data: []byte{0xF4}, Memsz: 64 << 20}}}.ELF(), 0o644))
	good := writeImage(t, testguest.Hello())
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{text}, "not an ELF file"},
		{[]string{noNote}, "no PVH entry note"},
		{[]string{"-m", "16M", big}, "outside guest RAM"},
		{[]string{"-m", "1K", good}, "too small"},
		{[]string{"-frob", good}, "not defined: -frob"},
		{[]string{filepath.Join(dir, "missing.img")}, "missing.img"},
		{nil, "missing IMAGE"},
		{[]string{"-smp", "65", good}, "-smp 65: want 1 to 64 vCPUs"},
		{[]string{"-e", "BIG=" + strings.Repeat("x", 4090), good}, "the guest keeps at most 4095"},
		{append([]string{good, "--"}, make([]string, 255)...), "arguments 255, the guest keeps at most 254"},
	} {
		code, out, errs := runInProcess(tc.args...)
		assert.Equal(t, exitLauncher, code, tc.args)
		assert.Empty(t, out)
		assert.Contains(t, errs, tc.msg, tc.args)
		assert.True(t, strings.HasPrefix(errs, "unigo run: "), errs)
		assert.Equal(t, 1, strings.Count(errs, "\n"), "one line: %q", errs)
	}
	code, out, _ := runInProcess("-h")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "usage: unigo run")
}

// Out-of-process runs: exit statuses, signals, no stack traces.

func TestRunBinary(t *testing.T) {
	bin := launchtest.Binaries(t)
	dir := t.TempDir()
	text := filepath.Join(dir, "x.img")
	require.NoError(t, os.WriteFile(text, []byte("\x7fELF garbage"), 0o644))
	cmd := exec.Command(bin, "run", text)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, exitLauncher, ee.ExitCode())
	assert.Equal(t, 1, strings.Count(stderr.String(), "\n"), stderr.String())
	assert.NotContains(t, stderr.String(), "goroutine")

	kvmOK(t)
	img := writeImage(t, testguest.Hello())
	cmd = exec.Command(bin, "run", "-m", "16M", img)
	out, err := cmd.Output()
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 7, ee.ExitCode())
	assert.Equal(t, "hi\n", string(out))
}

func TestRunSignals(t *testing.T) {
	kvmOK(t)
	bin := launchtest.Binaries(t)
	img := writeImage(t, testguest.Hang())
	for sig, want := range map[syscall.Signal]int{syscall.SIGINT: exitSIGINT, syscall.SIGTERM: exitSIGTERM, syscall.SIGQUIT: exitSIGQUIT} {
		cmd := exec.Command(bin, "run", "-v", "-m", "16M", img)
		var stderr launchtest.SyncWriter
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		// Signal once the guest runs, so the handler is installed.
		require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "first vCPU run") }, 10*time.Second, 5*time.Millisecond)
		require.NoError(t, cmd.Process.Signal(sig))
		err := cmd.Wait()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee)
		assert.Equal(t, want, ee.ExitCode(), stderr.String())
		if sig == syscall.SIGQUIT {
			assert.Contains(t, stderr.String(), "unigo run: SIGQUIT: dumping the guest\nunigo: guest state, 1 vCPU(s)\n")
		} else {
			assert.NotContains(t, stderr.String(), "dumping")
		}
	}
}

// BenchmarkRunExec measures `unigo run` of the tiny guest as a user sees
// it: exec to the guest's first console byte (the guest's third
// instruction) and exec to process exit, plus the launcher's peak RSS and
// its overhead over the same binary doing no VM work (`unigo run -h`).
func BenchmarkRunExec(b *testing.B) {
	kvmOK(b)
	bin := launchtest.Binaries(b)
	dir := b.TempDir()
	img := filepath.Join(dir, "hello.img")
	require.NoError(b, os.WriteFile(img, testguest.Image(testguest.Hello()), 0o644))

	maxrss := func(cmd *exec.Cmd) float64 {
		return float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) // KiB
	}
	base := exec.Command(bin, "run", "-h")
	base.Stdout = io.Discard
	require.NoError(b, base.Run())
	baseRSS := maxrss(base)

	var first, total time.Duration
	var rss float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(bin, "run", "-m", "128M", img)
		out, err := cmd.StdoutPipe()
		require.NoError(b, err)
		start := time.Now()
		require.NoError(b, cmd.Start())
		buf := make([]byte, 1)
		_, err = out.Read(buf)
		require.NoError(b, err)
		first += time.Since(start)
		io.Copy(io.Discard, out)
		err = cmd.Wait()
		total += time.Since(start)
		var ee *exec.ExitError
		require.ErrorAs(b, err, &ee)
		require.Equal(b, 7, ee.ExitCode())
		rss += maxrss(cmd)
	}
	b.ReportMetric(float64(first.Microseconds())/float64(b.N), "µs-exec-to-first-output")
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs-exec-to-exit")
	b.ReportMetric(rss/float64(b.N), "KiB-maxrss")
	b.ReportMetric(rss/float64(b.N)-baseRSS, "KiB-rss-overhead")
}

// TestRunWithoutBuilder: the launcher binary (no Hooks.Build) refuses
// source with one line rather than building it.
func TestRunWithoutBuilder(t *testing.T) {
	code, _, errs := runInProcess("../../examples/hello")
	assert.Equal(t, exitLauncher, code)
	assert.Equal(t, "unigo run: ../../examples/hello: this launcher boots images; unigo run builds packages\n", errs)
}
