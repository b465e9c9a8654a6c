package bench

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/tools/internal/sibling"
)

const benchUsage = `usage: unigo bench [-runs N] [-guest-runs N] [-qemu=false] [-min-mem=false] [-net=false | -net-only] [-density N | -density-only N]

Measures unigo against the goals of its issues, all in one run, and prints
the results as Markdown tables on stdout (progress goes to stderr):

  boot      examples/hello, exec to first output line and to exit, natively,
            under the launcher (with its boot phases: first instruction,
            runtime start), under QEMU microvm (TCG, and KVM if it boots),
            under the launcher with -hugepages and under the launcher
            binary (unigo-vmm) run directly; peak RSS of each, and the
            launcher's RSS beside guest RAM
  guest     tests/guests/bench natively and under the launcher on 1 and 2
            CPUs: a CPU-bound workload serial and parallel, the getpid round
            trip, a wake-up ping-pong between two threads
  network   examples/httpd natively and under the launcher (-p forward)
            over loopback; then, as root, the native process behind a veth
            pair against the launcher and QEMU microvm on TAP devices, each
            in network namespaces: requests/s, p50/p99 latency of
            keep-alive GETs (wrk when on PATH), bulk TCP both ways
  image     hello's image size against a plain go build, the smallest -m
            at which hello boots under the launcher
  density   (-density N) N idle examples/httpd guests (-m 64M) started at
            once: boots per second, host memory per guest, all answering

Every figure is the median over the runs. Needs the unigo source tree
(found like unigo build does) and /dev/kvm; QEMU is optional.

flags:
  -runs N         boot runs per runner (default 20)
  -guest-runs N   runs of the bench guest per configuration (default 3)
  -qemu           include QEMU runners when qemu-system-x86_64 is on PATH (default true)
  -min-mem        search the smallest -m for hello (default true)
  -net            include the network benchmark (default true)
  -net-only       run the network benchmark alone
  -net-match RE   measure only the network servers whose "setup, name"
                  matches RE (e.g. 'TAP, (native|launcher, 1)')
  -net-cmdline S  add S to the launcher guests' kernel command line (e.g.
                  unigo.stats=1); each guest is then stopped through
                  /quit and its output's last lines go to stderr
  -density N      start N idle httpd guests for the density benchmark (default 0: skip)
  -density-only N run the density benchmark alone, with N guests
  -soak D         run only the soak, for D (e.g. 60s): examples/httpd under
                  the launcher loaded by -soak-conns connections (default
                  1000) through the user-mode network and, as root, a TAP
                  device; requests, errors (exit 1 unless none), the memory
                  of the launcher, unigo-net and the guest through the load
                  (judged flat or not, a quarter in against the end; not an
                  exit status), and a request after
`

// Tools is what the suite needs from the unigo command.
type Tools struct {
	// Root finds the unigo source tree (examples/ and tests/guests/).
	Root func() (string, error)
	// Build builds a main package directory into an image (unigo build).
	Build func(pkg, out string) error
	// GoEnv is the go command's environment for a plain build of a guest.
	GoEnv []string
}

// Main implements `unigo bench`: it parses args, runs the suite with the
// running executable as the launcher (`unigo run`), and returns the exit
// status.
func Main(args []string, tools Tools) int {
	fs := flag.NewFlagSet("unigo bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	s := &benchSuite{log: os.Stderr, tools: tools}
	fs.IntVar(&s.runs, "runs", 20, "")
	fs.IntVar(&s.guestRuns, "guest-runs", 3, "")
	fs.BoolVar(&s.qemu, "qemu", true, "")
	fs.BoolVar(&s.minMem, "min-mem", true, "")
	fs.BoolVar(&s.netOn, "net", true, "")
	fs.BoolVar(&s.netOnly, "net-only", false, "")
	netMatch := fs.String("net-match", "", "")
	fs.StringVar(&s.netCmdline, "net-cmdline", "", "")
	fs.IntVar(&s.density, "density", 0, "")
	densityOnly := fs.Int("density-only", 0, "")
	fs.DurationVar(&s.soakTime, "soak", 0, "")
	fs.IntVar(&s.soakConns, "soak-conns", 1000, "")
	s.netLoad = defaultNetLoad
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Print(benchUsage)
			return 0
		}
		fmt.Fprintf(os.Stderr, "unigo bench: %v\n", err)
		return 2
	}
	if *netMatch != "" {
		re, err := regexp.Compile(*netMatch)
		if err != nil {
			fmt.Fprintf(os.Stderr, "unigo bench: -net-match: %v\n", err)
			return 2
		}
		s.netMatch = re
	}
	if *densityOnly > 0 {
		s.density, s.densityOnly = *densityOnly, true
	}
	if fs.NArg() != 0 || s.runs < 1 || s.guestRuns < 1 || s.density < 0 || s.density > 1000 || s.soakTime < 0 || s.soakConns < 1 {
		fmt.Fprintln(os.Stderr, "unigo bench: want no arguments and positive run counts (usage: unigo bench [-runs N] [-guest-runs N])")
		return 2
	}
	if err := s.run(os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "unigo bench: %v\n", err)
		return 1
	}
	return 0
}

// benchSuite is one `unigo bench` run.
type benchSuite struct {
	runs, guestRuns int
	qemu, minMem    bool
	log             io.Writer

	tools                    Tools
	self                     string // this binary, which is the launcher
	hello, helloPlain, guest string // image paths

	boot      []bootResult
	guestRes  []guestResult
	imageSize struct{ unigo, plain int64 }
	smallestM string
	loadStart string // host load average when the suite started

	netOn      bool // run the network benchmark (net.go)
	netOnly    bool // and nothing else
	netLoad    netLoad
	netMatch   *regexp.Regexp // nil: every server
	netCmdline string         // added to the launcher guests' command line
	httpd      string         // examples/httpd image
	net        []netResult
	tapSkipped string // why the TAP setup did not run (tap.go)

	density     int  // guests of the density benchmark; 0: skip (density.go)
	densityOnly bool // and nothing else
	densityRes  *densityResult

	soakTime  time.Duration // -soak: run the soak (soak.go) alone for this long
	soakConns int
	soak      []soakResult
}

// bootResult is every boot run of hello under one runner.
type bootResult struct {
	runner benchRunner
	runs   []*runTimes
	failed []error
}

// guestResult is every run of the bench guest in one configuration.
type guestResult struct {
	name   string
	figs   []map[string]float64
	failed []error
}

func (s *benchSuite) logf(format string, a ...any) {
	fmt.Fprintf(s.log, "unigo bench: "+format+"\n", a...)
}

func (s *benchSuite) run(out io.Writer) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	s.self = self
	s.loadStart = loadAverage()
	if _, err := os.Stat("/dev/kvm"); err != nil {
		return errors.New("/dev/kvm is missing: the launcher cannot run here")
	}
	root, err := s.tools.Root()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "unigo-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	if s.densityOnly || s.soakTime > 0 {
		s.httpd = filepath.Join(tmp, "httpd.img")
		if err := s.tools.Build(filepath.Join(root, "examples", "httpd"), s.httpd); err != nil {
			return err
		}
		if s.densityOnly {
			s.runDensity(tmp)
			writeDensityTable(out, s)
			writeRunFooter(out, s)
			return nil
		}
		s.runSoak(out)
		for _, r := range s.soak {
			if r.failed != nil || r.errors != 0 || !r.answersAfter {
				return fmt.Errorf("soak: %s: %d errors, answers after: %v, %v", r.setup, r.errors, r.answersAfter, r.failed)
			}
		}
		return nil
	}
	if s.netOnly {
		s.httpd = filepath.Join(tmp, "httpd.img")
		if err := s.tools.Build(filepath.Join(root, "examples", "httpd"), s.httpd); err != nil {
			return err
		}
		s.runNet()
		writeNetTable(out, s)
		writeRunFooter(out, s)
		return nil
	}

	s.logf("building images")
	s.hello = filepath.Join(tmp, "hello.img")
	s.guest = filepath.Join(tmp, "bench.img")
	s.helloPlain = filepath.Join(tmp, "hello.plain")
	if err := s.tools.Build(filepath.Join(root, "examples", "hello"), s.hello); err != nil {
		return err
	}
	if err := s.tools.Build(filepath.Join(root, "tests", "guests", "bench"), s.guest); err != nil {
		return err
	}
	// The same program as a plain Linux binary: the go build unigo build
	// runs, minus the kernel (no overlay) and the image step.
	plain := exec.Command("go", "build", "-o", s.helloPlain, "./examples/hello")
	plain.Dir, plain.Env, plain.Stderr = root, s.tools.GoEnv, s.log
	if err := plain.Run(); err != nil {
		return fmt.Errorf("plain go build of examples/hello: %v", err)
	}
	for _, f := range []struct {
		path string
		size *int64
	}{{s.hello, &s.imageSize.unigo}, {s.helloPlain, &s.imageSize.plain}} {
		st, err := os.Stat(f.path)
		if err != nil {
			return err
		}
		*f.size = st.Size()
	}

	if err := s.runBoot(); err != nil {
		return err
	}
	s.runGuest()
	if s.netOn {
		s.httpd = filepath.Join(tmp, "httpd.img")
		if err := s.tools.Build(filepath.Join(root, "examples", "httpd"), s.httpd); err != nil {
			return err
		}
		s.runNet()
	}
	if s.minMem {
		s.smallestM = s.searchMinMem()
	}
	if s.density > 0 {
		if s.httpd == "" {
			s.httpd = filepath.Join(tmp, "httpd.img")
			if err := s.tools.Build(filepath.Join(root, "examples", "httpd"), s.httpd); err != nil {
				return err
			}
		}
		s.runDensity(tmp)
	}
	writeBenchTables(out, s)
	return nil
}

// Runners. The QEMU command line is the one tests/runners_test.go uses.

func (s *benchSuite) nativeRunner() benchRunner {
	return benchRunner{
		name: "native",
		command: func(image string, env []string, _ int) *exec.Cmd {
			c := exec.Command(image)
			c.Env = append(os.Environ(), env...)
			return c
		},
		decode: func(st int) (int, error) { return st, nil },
	}
}

// launcherRunner boots under unigo run with -m mem and the run flags
// extra, which also name the runner ("launcher, -hugepages").
func (s *benchSuite) launcherRunner(mem string, extra ...string) benchRunner {
	name := "launcher"
	if len(extra) > 0 {
		name += ", " + strings.Join(extra, " ")
	}
	return benchRunner{
		name: name,
		command: func(image string, env []string, smp int) *exec.Cmd {
			args := []string{"run", "-bench", "-m", mem, "-smp", strconv.Itoa(max(smp, 1)), "-timeout", "5m"}
			args = append(args, extra...)
			for _, kv := range env {
				args = append(args, "-e", kv)
			}
			return exec.Command(s.self, append(args, image)...)
		},
		decode: func(st int) (int, error) { return st, nil },
	}
}

// vmmBinaryName is the launcher binary unigo run execs (tools/unigo-vmm),
// found next to this one.
const vmmBinaryName = "unigo-vmm"

// vmmRunner boots under the launcher binary at path directly.
func vmmRunner(path, mem string) benchRunner {
	return benchRunner{
		name: vmmBinaryName,
		command: func(image string, env []string, smp int) *exec.Cmd {
			args := []string{"-bench", "-m", mem, "-smp", strconv.Itoa(max(smp, 1)), "-timeout", "5m"}
			for _, kv := range env {
				args = append(args, "-e", kv)
			}
			return exec.Command(path, append(args, image)...)
		},
		decode: func(st int) (int, error) { return st, nil },
	}
}

func qemuRunner(name string, accel []string) benchRunner {
	return benchRunner{
		name: name,
		command: func(image string, env []string, smp int) *exec.Cmd {
			return qemuCommand(image, env, nil, smp, "128M", accel)
		},
		// isa-debug-exit: status (code<<1)|1; 0 means no exit code.
		decode: func(st int) (int, error) {
			if st%2 == 1 {
				return (st - 1) / 2, nil
			}
			return 0, fmt.Errorf("qemu status %d carries no exit code", st)
		},
	}
}

// qemuCommand boots image on QEMU microvm with environment env and kernel
// parameters kparams (such as unigo.ip=...), extra appended to QEMU's
// arguments (devices).
func qemuCommand(image string, env, kparams []string, smp int, mem string, accel []string, extra ...string) *exec.Cmd {
	cmdline, _ := abi.Compose(env, append([]string{"unigo.argv0=" + filepath.Base(image)}, kparams...), nil)
	args := append([]string{"-M", "microvm,x-option-roms=off,rtc=on,isa-serial=on"}, accel...)
	args = append(args,
		"-m", mem, "-smp", strconv.Itoa(max(smp, 1)),
		"-nodefaults", "-no-user-config", "-nographic",
		"-serial", "stdio", "-no-reboot",
		"-device", "isa-debug-exit,iobase=0xf4,iosize=4",
		"-kernel", image, "-append", cmdline)
	return exec.Command("qemu-system-x86_64", append(args, extra...)...)
}

// QEMU's accelerators as the benchmark runs them. QEMU 7.2 aborts on MSR
// 0x10a with plain -cpu host.
var (
	qemuTCG = []string{"-accel", "tcg", "-cpu", "max"}
	qemuKVM = []string{"-accel", "kvm", "-cpu", "host,-arch-capabilities"}
)

// runBoot boots hello s.runs times under each runner, the runners taking
// turns so that the host's noise spreads evenly over them.
func (s *benchSuite) runBoot() error {
	runners := []benchRunner{s.nativeRunner(), s.launcherRunner("128M")}
	if _, err := exec.LookPath("qemu-system-x86_64"); err == nil && s.qemu {
		runners = append(runners, qemuRunner("QEMU TCG", qemuTCG), qemuRunner("QEMU KVM", qemuKVM))
	}
	// Host huge pages behind guest RAM: fewer first-touch faults where
	// the host shadows the guest's page tables (PVM).
	runners = append(runners, s.launcherRunner("128M", "-hugepages"))
	// The launcher binary itself, as a supervisor (urunc, systemd) runs
	// it: without unigo run's start-up before its exec.
	if vmm, err := sibling.Path(vmmBinaryName); err == nil {
		runners = append(runners, vmmRunner(vmm, "128M"))
	}
	s.boot = make([]bootResult, len(runners))
	for i, r := range runners {
		s.boot[i].runner = r
	}
	s.logf("boot: %d runs of examples/hello per runner", s.runs)
	for n := 0; n < s.runs; n++ {
		for i := range s.boot {
			b := &s.boot[i]
			if len(b.failed) >= 3 {
				continue // this runner does not work here; reported in the table
			}
			rt, err := timedRun(b.runner, b.runner.command(s.hello, nil, 1), 60*time.Second)
			if err != nil {
				s.logf("%v", err)
				b.failed = append(b.failed, err)
				continue
			}
			b.runs = append(b.runs, rt)
		}
	}
	if len(s.boot[0].runs) == 0 || len(s.boot[1].runs) == 0 {
		return errors.New("hello does not run natively or under the launcher; nothing to compare")
	}
	return nil
}

// guestConfigs are the configurations the bench guest runs in: GOMAXPROCS
// 1 and 2 natively (the host has 2 CPUs here), 1 and 2 vCPUs booted.
func (s *benchSuite) runGuest() {
	type config struct {
		name   string
		runner benchRunner
		env    []string
		smp    int
	}
	configs := []config{
		{"native, GOMAXPROCS=1", s.nativeRunner(), []string{"GOMAXPROCS=1"}, 1},
		{"native, GOMAXPROCS=2", s.nativeRunner(), []string{"GOMAXPROCS=2"}, 2},
		{"launcher, 1 vCPU", s.launcherRunner("256M"), nil, 1},
		{"launcher, 2 vCPUs", s.launcherRunner("256M"), nil, 2},
	}
	s.guestRes = make([]guestResult, len(configs))
	s.logf("guest: %d runs of tests/guests/bench per configuration", s.guestRuns)
	for n := 0; n < s.guestRuns; n++ {
		for i, c := range configs {
			g := &s.guestRes[i]
			g.name = c.name
			rt, err := timedRun(c.runner, c.runner.command(s.guest, c.env, c.smp), 5*time.Minute)
			if err != nil {
				s.logf("%s: %v", c.name, err)
				g.failed = append(g.failed, err)
				continue
			}
			g.figs = append(g.figs, parseGuestFigures(rt.output))
		}
	}
}

// searchMinMem finds the smallest -m (whole MiB, 2 to 32) at which hello
// boots under the launcher, assuming more memory never hurts.
func (s *benchSuite) searchMinMem() string {
	s.logf("searching the smallest -m for hello")
	for mib := 2; mib <= 32; mib++ {
		r := s.launcherRunner(strconv.Itoa(mib) + "M")
		if _, err := timedRun(r, r.command(s.hello, nil, 1), 30*time.Second); err == nil {
			return fmt.Sprintf("%d MiB", mib)
		}
	}
	return "more than 32 MiB"
}
