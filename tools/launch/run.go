package launch

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/tools/bench/mark"
	"github.com/unigo-os/unigo/tools/vmm"
	"github.com/unigo-os/unigo/tools/vmm/arch"
	"github.com/unigo-os/unigo/tools/vmm/jail"
	"github.com/unigo-os/unigo/tools/vmm/kvm"
	"github.com/unigo-os/unigo/tools/vmm/netback"
	"github.com/unigo-os/unigo/tools/vmm/virtio"
)

// Exit statuses of `unigo run` besides the guest's own exit code. They
// follow timeout(1) and the shell: 124 timed out, 125 the launcher failed,
// 128+N killed by signal N.
const (
	exitTimeout  = 124
	exitLauncher = 125
	exitSIGINT   = 130
	exitSIGQUIT  = 131
	exitSIGTERM  = 143
)

const runUsage = `usage: unigo run [flags] IMAGE|PACKAGE|FILE.go [flags] [-- ARGS...]

Boots IMAGE (or builds PACKAGE/FILE.go first) under the KVM launcher. The
guest's console is stdin/stdout; unigo run exits with the guest's exit code.
Everything after -- becomes the guest program's arguments.

flags:
  -m SIZE          guest memory, e.g. 512M or 2G (default 128M)
  -smp N           number of vCPUs, 1 to 64 (default 1)
  -e KEY=VAL       set a guest environment variable (repeatable)
  -hostenv         pass the launcher's own environment to the guest (but
                   PATH, HOME, HOSTNAME, TERM); -e comes after it
  -grace DUR       on SIGTERM or SIGINT, deliver the signal to the guest
                   program and stop the VM only if it has not exited after
                   DUR (default 8s; 0 stops at once, as does a second signal)
  -status          end with one line on stderr for supervisors:
                   unigo-status: code=N reason=exit|crash|signal|timeout|error
                   and print unigo-status: ready when the guest first listens
                   on a TCP port
  -ready-file PATH create PATH when the guest first listens on a TCP port
                   (for readiness probes)
  -files HOSTDIR:GUESTDIR, -nocerts, -notz
                   as for unigo build, when run builds from source
  -timeout DUR     stop the guest after DUR (e.g. 30s), print its state
                   (as on SIGQUIT) and exit 124
  -cmdline STR     extra guest kernel command line
  -rng             attach a virtio-rng device (entropy from the host)
  -balloon=false   leave out the virtio-balloon through which the guest
                   reports the memory it frees, which the launcher then
                   gives back to the host (launcher runner only)
  -hugepages       back guest RAM with host transparent huge pages and copy
                   the image into it: a faster boot where first touches of
                   guest pages are costly (shadow paging, e.g. PVM), for
                   more host memory per guest and no image pages shared
                   between guests (launcher runner only)
  -v HOSTDIR:GUESTDIR[:ro]
                   share a host directory with the guest at GUESTDIR
                   (absolute) over virtio-9p (repeatable; also -volume);
                   the guest cannot reach outside HOSTDIR (.., symlinks),
                   fsync in the guest is fsync on the host; :ro refuses
                   every change with EROFS
  -drive FILE[:ro] attach FILE as a virtio-blk disk (repeatable): the
                   guest sees /dev/vda, /dev/vdb, ... in order; :ro makes
                   it read-only (writes fail with EROFS in the guest)
  -runner NAME     launcher (the default) or qemu: QEMU microvm, with KVM
                   when /dev/kvm can be used, else TCG (-m, -smp, -e,
                   -timeout, -cmdline, -rng, -p, -v, -drive map onto it)
  -raw             pass the guest's control characters (escape sequences)
                   to a terminal; without it they are shown escaped (^[)
  -jail            once the VM is set up, confine the launcher: no_new_privs
                   and a seccomp allowlist on every thread (other system
                   calls: EPERM); as root, unigo run is the jailer: the
                   launcher runs in fresh mount, PID, IPC, UTS (and, for a
                   guest without a network or with a TAP device, network)
                   namespaces, in an empty root, as user nobody
  -v               alone (not followed by HOSTDIR:GUESTDIR): print the
                   time of each boot phase to stderr
  -bench           print each boot phase's CLOCK_MONOTONIC time and the
                   launcher's memory use to stderr (read by unigo bench)
  -net MODE        guest network: user (user-mode NAT, the default when
                   networking is on), tap=NAME (a TAP device) or none;
                   user takes options: user,hostloopback (192.168.127.254
                   reaches the host's 127.0.0.1), user,restrict (no
                   outbound traffic), user,maxconns=N (concurrent outbound
                   TCP connections, default 1024; beyond it, refused)
  -p [HOSTADDR:]HOSTPORT:GUESTPORT[/udp]
                   forward a host port to the guest (repeatable; user-mode
                   network only; HOSTADDR defaults to 127.0.0.1)

networking is on with -net or -p, or when the image links the unigo
netstack; the user-mode guest is 192.168.127.2/24, gateway and DNS
192.168.127.1. It reaches the outside world, never the host itself
(loopback, the host's addresses, link-local) unless hostloopback.

SIGQUIT (Ctrl-\) or -timeout print the guest's state to stderr before
stopping it: each vCPU's registers, the instruction at RIP, a symbolized
backtrace, and the kernel's last 64 entries (system calls, faults,
interrupts).

SIGTERM and SIGINT reach the guest program as signals to its process
(os/signal sees them; without a handler Go exits 128+N); the VM is stopped
after -grace if the program has not exited by then.

UNIGO_PPROF=HOST:PORT serves the launcher's own Go profiles there
(net/http/pprof, e.g. go tool pprof http://HOST:PORT/debug/pprof/heap).

exit status: the guest's exit code; 70 guest crash; 124 timeout;
125 launcher error; 130/131/143 stopped by SIGINT/SIGQUIT/SIGTERM. A
guest may exit with these codes too: the launcher's own always come with
a "unigo run:" line (or the crash report) on stderr, and -status ends
stderr with a line naming the exit status's origin.
`

// runOptions is a parsed `unigo run` command line.
type runOptions struct {
	mem       uint64
	smp       int
	env       []string
	hostEnv   bool
	grace     time.Duration
	status    bool
	readyFile string
	timeout   time.Duration
	verbose   bool
	bench     bool
	cmdline   string
	rng       bool
	balloon   bool
	hugePages bool
	drives    []drive
	target    string
	guestArgs []string
	net       netOptions
	runner    string
	raw       bool
	jail      bool
	volumes   []volume
	buildSet  bool // -files, -nocerts or -notz was given
}

// Builder builds a run target from source: the CLI's builder. The
// launcher binary has none; it boots images only (or the image the CLI
// built for it, Hooks.Built).
type Builder interface {
	// AddFlags defines -files, -nocerts and -notz on fs.
	AddFlags(fs *flag.FlagSet)
	// Build builds target into the image out; a canceled ctx kills the
	// go commands.
	Build(ctx context.Context, target, out string) error
}

// Hooks connect Run to the binary it runs in.
type Hooks struct {
	// Build builds a target from source; nil in the launcher binary.
	Build Builder
	// Built is the image the CLI built for the target, in a temporary
	// directory of its own that Run removes (the launcher binary's
	// -built-image); empty: none.
	Built string
	// Handoff, if set, is offered the run once its image exists, before
	// anything is opened: it boots the image elsewhere (the CLI execs
	// the launcher binary) and returns its exit status and true, or
	// false to boot it in this process.
	Handoff func(o *Options, imagePath string) (int, bool)
	// TAP is the -net tap device, opened by the jailer before it gave
	// the launcher a network namespace of its own, and its MTU; nil:
	// open it by name.
	TAP    *os.File
	TAPMTU uint16
	// Files are what the jailer opened for the launcher: "kvm"
	// (/dev/kvm), "image", "driveN" and "volumeN" (the Nth -drive and -v,
	// from 0); the launcher opens by path what is not there.
	Files map[string]*os.File
	// ReadyFD, if set, gets one byte when the guest is ready, in place
	// of -ready-file, which the jailer creates.
	ReadyFD *os.File
	// UserNet starts the user-mode network in this process (tests); nil:
	// in a network process of its own (package netproc).
	UserNet UserNetFunc
	// NetSocket is the launcher's end of the network process the jailer
	// started, outside the launcher's network namespace; nil: the
	// launcher starts one when the guest has the user-mode network.
	NetSocket *os.File
	// JailRoot: the launcher was started in fresh namespaces (by the
	// CLI as the jailer) and -jail also moves it into an empty root.
	JailRoot bool
}

// Main runs the launcher binary's command line: the run flags, after the
// CLI's own prefix of -built-image PATH, -jail-root, -tap-fd FD:MTU,
// -net-fd FD, -ready-fd FD and -fd NAME=FD (see tools/unigo-vmm).
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer, h Hooks) int {
	for len(args) > 0 {
		switch {
		case args[0] == "-built-image" && len(args) > 1:
			h.Built, args = args[1], args[2:]
			continue
		case args[0] == "-jail-root":
			h.JailRoot, args = true, args[1:]
			continue
		case args[0] == "-fd" && len(args) > 1:
			name, fd, _ := strings.Cut(args[1], "=")
			n, err := strconv.Atoi(fd)
			if name == "" || err != nil || n < 3 {
				fmt.Fprintf(stderr, "unigo run: -fd %q: want NAME=FD\n", args[1])
				return exitLauncher
			}
			if h.Files == nil {
				h.Files = map[string]*os.File{}
			}
			h.Files[name], args = os.NewFile(uintptr(n), name), args[2:]
			continue
		case args[0] == "-ready-fd" && len(args) > 1:
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 3 {
				fmt.Fprintf(stderr, "unigo run: -ready-fd %q: want a descriptor\n", args[1])
				return exitLauncher
			}
			h.ReadyFD, args = os.NewFile(uintptr(n), "ready"), args[2:]
			continue
		case args[0] == "-net-fd" && len(args) > 1:
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 3 {
				fmt.Fprintf(stderr, "unigo run: -net-fd %q: want a descriptor\n", args[1])
				return exitLauncher
			}
			if typ, err := unix.GetsockoptInt(n, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || typ != unix.SOCK_SEQPACKET {
				fmt.Fprintf(stderr, "unigo run: -net-fd %d: not a SOCK_SEQPACKET socket\n", n)
				return exitLauncher
			}
			// exec left it blocking (os.File.Fd); the poller wants it not.
			if err := unix.SetNonblock(n, true); err != nil {
				fmt.Fprintf(stderr, "unigo run: -net-fd %d: %v\n", n, err)
				return exitLauncher
			}
			h.NetSocket, args = os.NewFile(uintptr(n), "user-net"), args[2:]
			continue
		case args[0] == "-tap-fd" && len(args) > 1:
			fd, mtu, ok := strings.Cut(args[1], ":")
			n, err1 := strconv.Atoi(fd)
			m, err2 := strconv.ParseUint(mtu, 10, 16)
			if !ok || err1 != nil || err2 != nil || n < 3 {
				fmt.Fprintf(stderr, "unigo run: -tap-fd %q: want FD:MTU\n", args[1])
				return exitLauncher
			}
			h.TAP, h.TAPMTU, args = os.NewFile(uintptr(n), "tap"), uint16(m), args[2:]
			continue
		}
		break
	}
	return Run(args, stdin, stdout, stderr, h)
}

// Options is a parsed `unigo run` command line.
type Options = runOptions

// Target is the image or package the command line names.
func (o *runOptions) Target() string { return o.target }

// Jail reports -jail.
func (o *runOptions) Jail() bool { return o.jail }

// Verbose reports -v (alone): the boot phases' times.
func (o *runOptions) Verbose() bool { return o.verbose }

// Runner is -runner: launcher or qemu.
func (o *runOptions) Runner() string { return o.runner }

// OpenForJail opens what the launcher needs from the host for the run
// of the image at path, for the jailer to pass down (Hooks.Files): the
// names and the open files, in order. What cannot be opened is left out:
// the launcher then tries it by path and reports the error as usual.
func (o *runOptions) OpenForJail(path string) (names []string, files []*os.File) {
	add := func(name string, f *os.File, err error) {
		if err == nil {
			names, files = append(names, name), append(files, f)
		}
	}
	f, err := os.OpenFile(kvm.DevicePath, os.O_RDWR, 0)
	add("kvm", f, err)
	f, err = os.Open(path)
	add("image", f, err)
	for i, d := range o.drives {
		flags := os.O_RDWR
		if d.ro {
			flags = os.O_RDONLY
		}
		f, err := os.OpenFile(d.path, flags, 0)
		add(fmt.Sprintf("drive%d", i), f, err)
	}
	for i, v := range o.volumes {
		f, err := os.OpenFile(v.host, unix.O_PATH|unix.O_DIRECTORY, 0)
		add(fmt.Sprintf("volume%d", i), f, err)
	}
	return names, files
}

// ReadyFile is -ready-file.
func (o *runOptions) ReadyFile() string { return o.readyFile }

// TAPName is -net tap=NAME's NAME.
func (o *runOptions) TAPName() string { return o.net.tap }

// NetMode is -net's mode ("" when not given, user, none, tap).
func (o *runOptions) NetMode() string { return o.net.mode }

// NetFor reports whether the guest in the image at path gets a network
// device (-net, -p, or an image that links the netstack), and whether
// that is the user-mode network (else TAP). An image that cannot be read
// is the launcher's to report: none.
func (o *runOptions) NetFor(path string) (net, user bool) {
	image, _, _, release, err := mapImage(path)
	if err != nil {
		return false, false
	}
	defer release()
	net = o.net.enabled(image)
	return net, net && o.net.mode != "tap"
}

// errHelp asks for the usage text.
var errHelp = errors.New("help requested")

// splitGuestArgs splits a command line at its first lone "--": the CLI's
// own flags and arguments before, the guest's argv after.
func splitGuestArgs(args []string) (own, guest []string) {
	for i, a := range args {
		if a == "--" {
			return args[:i], args[i+1:]
		}
	}
	return args, nil
}

// parseRunArgs parses flags placed before or after the image argument;
// everything after the first lone "--" is the guest's argv.
func parseRunArgs(args []string) (*runOptions, error) { return ParseArgs(args, nil) }

// ParseArgs parses a `unigo run` command line; b defines the build flags
// (nil: they are accepted and ignored, for the launcher binary, which is
// given them only with an image the CLI built).
func ParseArgs(args []string, b Builder) (*runOptions, error) {
	o := &runOptions{mem: 128 << 20, smp: 1, grace: defaultGrace}
	args, o.guestArgs = splitGuestArgs(args)
	args = volumeFlagArgs(args)
	fs := flag.NewFlagSet("unigo run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Func("m", "", func(s string) error {
		n, err := parseMemSize(s)
		o.mem = n
		return err
	})
	fs.IntVar(&o.smp, "smp", 1, "")
	fs.Func("e", "", func(s string) error {
		if k, _, ok := strings.Cut(s, "="); !ok || k == "" || strings.ContainsAny(k, " \t\n\"\\") {
			return fmt.Errorf("want KEY=VAL, got %q", s)
		}
		o.env = append(o.env, s)
		return nil
	})
	fs.BoolVar(&o.hostEnv, "hostenv", false, "")
	fs.DurationVar(&o.grace, "grace", defaultGrace, "")
	fs.BoolVar(&o.status, "status", false, "")
	fs.StringVar(&o.readyFile, "ready-file", "", "")
	fs.DurationVar(&o.timeout, "timeout", 0, "")
	fs.BoolVar(&o.verbose, "v", false, "")
	fs.BoolVar(&o.bench, "bench", false, "")
	fs.StringVar(&o.cmdline, "cmdline", "", "")
	fs.BoolVar(&o.rng, "rng", false, "")
	fs.BoolVar(&o.balloon, "balloon", true, "")
	fs.BoolVar(&o.hugePages, "hugepages", false, "")
	fs.Func("drive", "", func(s string) error {
		d, err := parseDrive(s)
		o.drives = append(o.drives, d)
		return err
	})
	fs.StringVar(&o.runner, "runner", runnerLauncher, "")
	fs.BoolVar(&o.raw, "raw", false, "")
	fs.BoolVar(&o.jail, "jail", false, "")
	fs.Func("net", "", o.net.parseNetMode)
	fs.Func("volume", "", func(s string) error {
		v, err := parseVolume(s)
		if err != nil {
			return errors.New(strings.TrimPrefix(err.Error(), "-v "+s+": "))
		}
		o.volumes = append(o.volumes, v)
		return nil
	})
	if b != nil {
		b.AddFlags(fs)
	} else {
		fs.Func("files", "", func(string) error { return nil })
		fs.Bool("nocerts", false, "")
		fs.Bool("notz", false, "")
	}
	fs.Func("p", "", func(s string) error {
		f, err := netback.ParseForward(s)
		if err != nil {
			return errors.New(strings.TrimPrefix(err.Error(), "-p "+s+": "))
		}
		o.net.forwards = append(o.net.forwards, f)
		return nil
	})
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			// The flag package quotes nothing: keep a crafted
			// argument's line breaks out of the one-line error.
			return nil, errors.New(strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(err.Error()))
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	switch {
	case len(positional) == 0 || positional[0] == "":
		return nil, errors.New("missing IMAGE (usage: unigo run [flags] IMAGE [-- ARGS...])")
	case len(positional) > 1:
		return nil, fmt.Errorf("unexpected argument %q after %q; guest arguments go after --", positional[1], positional[0])
	case o.smp < 1 || o.smp > abi.MaxCPUs:
		return nil, fmt.Errorf("-smp %d: want 1 to %d vCPUs (the guest kernel starts at most %d)", o.smp, abi.MaxCPUs, abi.MaxCPUs)
	case o.timeout < 0:
		return nil, fmt.Errorf("-timeout %v: want a positive duration", o.timeout)
	case o.grace < 0:
		return nil, fmt.Errorf("-grace %v: want a duration of 0 or more", o.grace)
	}
	if err := arch.CheckMemSize(o.mem); err != nil {
		return nil, fmt.Errorf("-m: %v", err)
	}
	if err := o.net.check(); err != nil {
		return nil, err
	}
	if o.runner != runnerLauncher && o.runner != runnerQEMU {
		return nil, fmt.Errorf("-runner %s: want launcher or qemu", o.runner)
	}
	if err := checkVolumes(o.volumes); err != nil {
		return nil, err
	}
	o.target = positional[0]
	fs.Visit(func(f *flag.Flag) {
		o.buildSet = o.buildSet || f.Name == "files" || f.Name == "nocerts" || f.Name == "notz"
	})
	if o.buildSet && !needsBuild(o.target) {
		return nil, fmt.Errorf("-files, -nocerts and -notz apply when run builds from source; %s is an image (give them to unigo build)", o.target)
	}
	return o, nil
}

// parseMemSize parses -m: a number with an optional K, M, G or T suffix
// (binary units, optionally followed by B or iB). A bare number is MiB, as
// in QEMU.
func parseMemSize(s string) (uint64, error) {
	bad := fmt.Errorf("invalid size %q: want e.g. 128M or 2G", s)
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	shift := 20
	if t != "" {
		if sh, ok := map[byte]int{'K': 10, 'M': 20, 'G': 30, 'T': 40}[t[len(t)-1]]; ok {
			shift, t = sh, t[:len(t)-1]
		}
	}
	n, err := strconv.ParseUint(t, 10, 64)
	if err != nil || n == 0 || n > (1<<62)>>shift {
		return 0, bad
	}
	return n << shift, nil
}

// guestCmdline splits the guest command line into environment, kernel
// parameters and arguments (abi.Compose puts them back together, adding the
// launcher's own parameters before the "--"). extra is -cmdline in the
// command line syntax; its arguments come before those after --.
func guestCmdline(extra string, env, args []string) (genv, params, gargs []string, err error) {
	genv, params, gargs, err = abi.Parse(extra)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("-cmdline: %v", err)
	}
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); strings.Contains(k, ".") {
			return nil, nil, nil, fmt.Errorf("-e %s: a KEY with a dot is a kernel parameter; pass it with -cmdline", kv)
		}
	}
	genv = append(genv, env...)
	gargs = append(gargs, args...)
	if _, err := abi.Compose(genv, params, gargs); err != nil {
		return nil, nil, nil, err
	}
	return genv, params, gargs, nil
}

// needsBuild reports whether the run target is source to build first (a
// directory, a .go file, or an import path) rather than an image file.
func needsBuild(target string) bool { return NeedsBuild(target) }

// NeedsBuild reports whether the run target is source to build first.
func NeedsBuild(target string) bool {
	if strings.HasSuffix(target, ".go") {
		return true
	}
	st, err := os.Stat(target)
	if err == nil {
		return st.IsDir()
	}
	// Not a file: an import path like example.com/cmd/hello builds; a
	// plain missing name is reported as a missing image.
	return strings.Contains(target, "/") && !strings.HasSuffix(target, ".img")
}

// defaultGrace is below docker stop's 10 s, so that the launcher's own
// stop and status line come before the runtime's SIGKILL.
const defaultGrace = 8 * time.Second

// Run is `unigo run` with explicit stdio: it parses args, builds the
// target when it is source (h.Build), boots it and returns the exit
// status.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer, h Hooks) (code int) {
	start := time.Now()
	reason := "error"
	var status bool
	defer func() {
		if status {
			fmt.Fprintf(stderr, "unigo-status: code=%d reason=%s\n", code, reason)
		}
	}()
	startMono := mark.Now()
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "unigo run: "+format+"\n", a...)
		return exitLauncher
	}
	o, err := ParseArgs(args, h.Build)
	if err != nil {
		status = wantsStatus(args) // a parse error still ends with the status line
	}
	if errors.Is(err, errHelp) {
		fmt.Fprint(stdout, runUsage)
		return 0
	}
	if err != nil {
		return fail("%v", err)
	}
	status = o.status
	if isTerminal(stdout) && !o.raw {
		ts := &termSafe{w: stdout}
		defer ts.flush()
		stdout = ts
	}
	last := start
	var traceMu sync.Mutex // phases end on different threads
	if o.bench {
		// The CLI that hands the run to the launcher binary marks its
		// own start apart: the launcher's comes after the exec.
		if h.Handoff != nil {
			mark.Mark(stderr, "cli start", startMono)
		} else {
			mark.Mark(stderr, "launcher start", startMono)
		}
		stdout = mark.FirstWrite(stdout, func() { mark.Mark(stderr, "first output", mark.Now()) })
	}
	trace := func(phase string) {
		if o.bench {
			mark.Mark(stderr, phase, mark.Now())
		}
		if o.verbose {
			traceMu.Lock()
			defer traceMu.Unlock()
			now := time.Now()
			fmt.Fprintf(stderr, "unigo run: %-15s %9.3fms  (+%.3fms)\n", phase,
				float64(now.Sub(start).Microseconds())/1000, float64(now.Sub(last).Microseconds())/1000)
			last = now
		}
	}

	imagePath := o.target
	switch {
	case h.Built != "":
		imagePath = h.Built
		defer os.Remove(filepath.Dir(h.Built)) // the CLI's temporary directory, empty by then
		defer os.Remove(h.Built)
	case needsBuild(o.target) && h.Build == nil:
		return fail("%s: this launcher boots images; unigo run builds packages", o.target)
	case needsBuild(o.target):
		tmp, err := os.MkdirTemp("", "unigo-run-")
		if err != nil {
			return fail("%v", err)
		}
		defer os.RemoveAll(tmp)
		imagePath = filepath.Join(tmp, "guest.img")
		if code, err := buildForRun(o.target, imagePath, h.Build); err != nil {
			fmt.Fprintf(stderr, "unigo run: build %s: %v\n", o.target, firstLineOf(err.Error()))
			return code
		}
		trace("build")
	}
	if h.Handoff != nil {
		if code, ok := h.Handoff(o, imagePath); ok {
			status = false // the launcher that ran it printed its own
			return code
		}
		if o.bench {
			mark.Mark(stderr, "launcher start", startMono) // this process is the launcher
		}
	}
	var image []byte
	var imageFile *os.File
	var evictImage, release func()
	if f := h.Files["image"]; f != nil {
		image, imageFile, evictImage, release, err = mapImageFile(f, imagePath)
	} else {
		image, imageFile, evictImage, release, err = mapImage(imagePath)
	}
	if err != nil {
		return fail("%v", unwrapPathError(err))
	}
	defer release() // after v.Close, deferred below

	if o.hostEnv {
		o.env = append(HostEnviron(), o.env...)
	}
	env, params, gargs, err := guestCmdline(o.cmdline, o.env, o.guestArgs)
	if err != nil {
		return fail("%v", err)
	}
	if o.runner == runnerQEMU {
		return runQEMU(o, imagePath, image, env, params, gargs, stdin, stdout, stderr)
	}
	var devs []virtio.Device
	if o.rng {
		devs = append(devs, virtio.NewRNG())
	}
	if len(o.volumes) > 0 {
		vdevs, closeVolumes, err := volumeDevices(o.volumes, func(i int) *os.File { return h.Files[fmt.Sprintf("volume%d", i)] })
		if err != nil {
			return fail("%v", err)
		}
		defer closeVolumes() // after v.Close, deferred below
		devs = append(devs, vdevs...)
	}
	for i, d := range o.drives {
		b, err := d.openFile(h.Files[fmt.Sprintf("drive%d", i)])
		if err != nil {
			return fail("%v", err)
		}
		defer b.Close()
		devs = append(devs, b)
	}
	if h.TAP != nil && o.net.mode == "tap" {
		o.net.opened = netback.TAPFromFile(h.TAP, o.net.tap, h.TAPMTU)
	}
	netOn := o.net.enabled(image) // before the image's pages are evicted
	var gn *guestNet
	if netOn {
		gn, err = setupNet(&o.net, h.UserNet, h.NetSocket, o.jail)
		if err != nil {
			return fail("%v", err)
		}
		defer gn.backend.Close()
		defer gn.report(stderr, o.verbose)
		devs = append(devs, gn.dev)
		params = gn.addParams(params)
		trace("network")
	}
	cfg := vmm.Config{
		Image:     image,
		ImageFile: imageFile,
		KVMFile:   h.Files["kvm"],
		MemSize:   o.mem,
		VCPUs:     o.smp,
		Env:       env,
		Params:    params,
		Args:      gargs,
		Virtio:    devs,
		NoBalloon: !o.balloon,
		HugePages: o.hugePages,
		// A measurement aid (tests/guests/trapcost), not a user option.
		PIODoorbell: os.Getenv("UNIGO_VMM_PIO_DOORBELL") != "",
		Stdout:      stdout,
		Stdin:       stdin,
		Trace:       trace,
	}
	if o.jail {
		cfg.VCPUThread = jail.EnterVCPU
	}
	v, err := vmm.New(cfg)
	if err != nil {
		if vmm.IsBadImage(err) {
			return fail("%s: %v", o.target, err)
		}
		return fail("%v", err)
	}
	defer v.Close()
	evictImage() // loaded into guest RAM
	if gn != nil && gn.ready != nil {
		// The network process started meanwhile; a -p port in use fails
		// the run here.
		if err := gn.ready(); err != nil {
			return fail("%v", err)
		}
		trace("network ready")
		stopWatch := make(chan struct{})
		defer close(stopWatch)
		go func() {
			select {
			case <-gn.gone:
				v.Stop(vmm.Result{Reason: vmm.Stopped, Code: exitLauncher, Err: errors.New("the user-mode network's process exited; stopping the guest")})
			case <-stopWatch:
			}
		}()
	}
	if o.status || o.readyFile != "" {
		v.OnReady(func() { ready(o, h.ReadyFD, stderr) })
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	go func() {
		forwarded := false
		for s := range sigs {
			code := exitSIGINT
			switch s {
			case syscall.SIGTERM:
				code = exitSIGTERM
			case syscall.SIGQUIT:
				code = exitSIGQUIT
				dumpGuest(stderr, v, "SIGQUIT")
			}
			// The first SIGTERM or SIGINT goes to the guest program,
			// which has -grace to exit on its own.
			if s != syscall.SIGQUIT && o.grace > 0 && !forwarded && v.Signal(s.(syscall.Signal)) {
				forwarded = true
				fmt.Fprintf(stderr, "unigo run: %v: delivered to the guest; stopping it in %v\n", s, o.grace)
				time.AfterFunc(o.grace, func() {
					v.Stop(vmm.Result{Reason: vmm.Stopped, Code: uint32(code),
						Err: fmt.Errorf("stopped: the guest did not exit within %v of %v", o.grace, s)})
				})
				continue
			}
			v.Stop(vmm.Result{Reason: vmm.Stopped, Code: uint32(code), Err: fmt.Errorf("stopped by %v", s)})
		}
	}()
	if o.timeout > 0 {
		t := time.AfterFunc(o.timeout, func() {
			dumpGuest(stderr, v, fmt.Sprintf("timeout after %v", o.timeout))
			v.Stop(vmm.Result{Reason: vmm.Stopped, Code: exitTimeout, Err: fmt.Errorf("guest timed out after %v", o.timeout)})
		})
		defer t.Stop()
	}

	if o.jail {
		if h.JailRoot {
			// /proc: the volumes' server reopens descriptors through it,
			// and -bench reads the memory line from it.
			// The user-mode network runs outside, in the jailer's
			// namespaces (netproc): the launcher needs no host file.
			ro := jail.RootOptions{Proc: len(o.volumes) > 0 || o.bench}
			if err := jail.EnterRoot(ro); err != nil {
				return fail("%v", err)
			}
		}
		if err := jail.Enter(); err != nil {
			return fail("%v", err)
		}
		if h.JailRoot {
			// The drop to nobody cleared the SIGKILL on the jailer's
			// death that it asked for (PR_SET_PDEATHSIG does not
			// survive a change of credentials): ask again, so that a
			// killed jailer leaves no launcher behind.
			if err := jail.DieWithParent(); err != nil {
				return fail("%v", err)
			}
		}
		if err := jail.Check(); err != nil {
			return fail("%v", err)
		}
		if o.verbose {
			fmt.Fprintf(stderr, "unigo run: jail: uid %d, empty root %v, seccomp: a call outside the allowlist (getppid) fails with EPERM\n", os.Geteuid(), h.JailRoot)
		}
		trace("jail")
	}
	r := v.Run()
	if o.bench {
		mark.Memory(stderr, v.GuestMemory())
		if gn != nil && gn.pid > 0 {
			mark.ProcessMemory(stderr, "net", gn.pid)
		}
	}
	switch r.Reason {
	case vmm.GuestExit:
		reason = "exit"
		if r.Code > 255 {
			fmt.Fprintf(stderr, "unigo run: guest exit code %d does not fit in an exit status; exiting 255\n", r.Code)
			return 255
		}
		return int(r.Code)
	case vmm.Crash:
		reason = "crash"
		fmt.Fprint(stderr, r.Report)
		return vmm.ExitCrash
	case vmm.Stopped:
		reason = "signal"
		switch r.Code {
		case exitTimeout:
			reason = "timeout"
		case exitLauncher: // the user-mode network's process died
			reason = "error"
		}
		if r.Err != nil {
			fmt.Fprintf(stderr, "unigo run: %v\n", r.Err)
		}
		return int(r.Code)
	}
	return fail("%v", r.Err)
}

// ready reports that the guest listens: -status's line, -ready-file.
func ready(o *runOptions, readyFD *os.File, stderr io.Writer) {
	if o.status {
		fmt.Fprintln(stderr, "unigo-status: ready")
	}
	if readyFD != nil {
		// The jailer creates the file: the jailed launcher has no path
		// to it.
		readyFD.Write([]byte{1})
		readyFD.Close()
		return
	}
	if o.readyFile != "" {
		if err := os.WriteFile(o.readyFile, nil, 0o644); err != nil {
			fmt.Fprintf(stderr, "unigo run: -ready-file: %v\n", unwrapPathError(err))
		}
	}
}

// buildForRun builds the image; a SIGINT, SIGTERM or SIGQUIT meanwhile
// kills the go commands and fails it with the signal's exit status, the
// caller's deferred cleanups (temporary directories) still running.
func buildForRun(target, out string, b Builder) (int, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	var got atomic.Value
	go func() {
		select {
		case s := <-sigs:
			got.Store(s)
			cancel()
		case <-ctx.Done():
		}
	}()
	err := b.Build(ctx, target, out)
	if s, ok := got.Load().(os.Signal); ok {
		code := map[os.Signal]int{syscall.SIGINT: exitSIGINT, syscall.SIGTERM: exitSIGTERM, syscall.SIGQUIT: exitSIGQUIT}[s]
		return code, fmt.Errorf("stopped by %v", s)
	}
	return exitLauncher, err
}

// wantsStatus finds -status in a command line that did not parse.
func wantsStatus(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-status", "--status", "-status=true", "--status=true":
			return true
		}
	}
	return false
}

// dumpGuest writes the state of the guest (vmm.VM.Dump) to stderr as one
// write, so that it does not interleave with other launcher output.
func dumpGuest(stderr io.Writer, v *vmm.VM, why string) {
	var b strings.Builder
	fmt.Fprintf(&b, "unigo run: %s: dumping the guest\n", why)
	v.Dump(&b)
	io.WriteString(stderr, b.String())
}

// unwrapPathError drops the "open" prefix noise of *os.PathError.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %v", pe.Path, pe.Err)
	}
	return err
}

// firstLineOf keeps error reports to one line.
func firstLineOf(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// HostEnviron is the launcher's environment as the guest's (unigo run
// -hostenv): what a container runtime sets from the image config and
// docker run -e. Variables the runtime adds for a shell (PATH, HOME,
// HOSTNAME, TERM) and names the guest command line cannot carry (kernel
// parameters have dots) stay out.
func HostEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, ok := strings.Cut(kv, "=")
		switch {
		case !ok || k == "" || strings.ContainsAny(k, " \t\n\"\\."):
		case k == "PATH" || k == "HOME" || k == "HOSTNAME" || k == "TERM":
		default:
			env = append(env, kv)
		}
	}
	return env
}
