package tests

import (
	"crypto/sha256"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scenario is one guest program and what a run of it must produce.
type scenario struct {
	name string
	pkg  string // main package, relative to the module root
	args []string
	env  []string
	// memory is the VM size; default 128M.
	memory string
	// cpus is the number of VM CPUs; default 1.
	cpus int
	// timeout bounds one run; default 30s (stretched under TCG).
	timeout  time.Duration
	wantCode int
	// wantPowerOff expects the VM to stop without an exit code (QEMU
	// status 0). Native runs always have a code, so such a scenario
	// skips there.
	wantPowerOff bool
	// wantOut must all appear in the output.
	wantOut []string
	// check, if set, makes further checks; start and end bracket the run.
	check func(t *testing.T, r result, start, end time.Time)
	// qemuArgs are extra QEMU arguments (devices) for the qemu runner.
	qemuArgs []string
	// launcherArgs are extra `unigo run` flags (devices) for the launcher.
	launcherArgs []string
	// launcherEnv is added to the launcher's environment.
	launcherEnv []string
	// skip maps a runner name to why the scenario cannot run there.
	skip map[string]string
}

// qemuVirtio returns QEMU arguments adding devices, with the virtio-mmio
// transports made version 2 (virtio 1.x), the only one the drivers speak.
func qemuVirtio(devices ...string) []string {
	return append([]string{"-global", "virtio-mmio.force-legacy=false"}, devices...)
}

const noDevicesNatively = "a native process has no virtio devices"

// notifySkip: the notification timings need the launcher's doorbell port.
var notifySkip = map[string]string{"native": noDevicesNatively,
	"qemu": "QEMU has no port doorbell (abi.PortVirtioDoorbell) to time against its MMIO notification"}

// checkDoorbellNotified: the launcher's counts for the virtio-rng device
// show notifications, which only the port doorbell made.
func checkDoorbellNotified(t *testing.T, r result, _, _ time.Time) {
	m := regexp.MustCompile(`unigo: virtio device 4: .*notifications (\d+)`).FindStringSubmatch(r.diag)
	require.NotNil(t, m, "no virtio-rng counts in the launcher's output:\n%s", r.diag)
	n, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	assert.Positive(t, n)
}

// exePkg reads its own executable (the exe scenario).
const exePkg = "./tests/guests/exe"

var scenarios = []scenario{
	{
		name:    "hello",
		pkg:     "./examples/hello",
		args:    []string{"a1", "a2"},
		wantOut: []string{"Hello from unigo!", `"a1" "a2"]`, "platform: linux/amd64"},
	},
	{
		name:    "exit0",
		pkg:     "./tests/guests/exit0",
		wantOut: []string{"exit0: bye\n"},
	},
	{
		name:     "exit7",
		pkg:      "./tests/guests/exit7",
		wantCode: 7,
		wantOut:  []string{"exit7: exiting with 7\n"},
	},
	{
		name:     "panic",
		pkg:      "./tests/guests/panic",
		wantCode: 2,
		wantOut: []string{
			"panic guest: about to fail\n",
			"panic: assignment to entry in nil map",
			"goroutine 1 [running]:",
			"main.main()",
		},
	},
	{
		name: "argsenv",
		pkg:  "./tests/guests/argsenv",
		args: []string{"alpha", "-n=3", "omega"},
		env:  []string{"UNIGO_A=hello", "UNIGO_B=x=y", "PATH=/opt/bin", "HOME=/home/u"},
		wantOut: []string{
			`args=["alpha" "-n=3" "omega"]` + "\n",
			`env UNIGO_A="hello"` + "\n",
			`env UNIGO_B="x=y"` + "\n",
			"env UNIGO_UNSET unset\n",
			`env PATH="/opt/bin"` + "\n",
			`env HOME="/home/u"` + "\n",
		},
	},
	{
		// PATH and HOME when the command line sets none.
		name: "envdefaults",
		pkg:  "./tests/guests/argsenv",
		wantOut: []string{
			"args=[]\n",
			`env PATH="/usr/local/bin:/usr/bin:/bin"` + "\n",
			`env HOME="/"` + "\n",
		},
		skip: map[string]string{"native": "the defaults are the unigo kernel's"},
	},
	{
		name:    "fileio",
		pkg:     "./tests/guests/fileio",
		wantOut: []string{"fileio: ok\n"},
	},
	{
		name: "fsops",
		pkg:  "./tests/guests/fsops",
		wantOut: []string{
			"fsops: links ok\n", "fsops: chdir ok\n", "fsops: append and seek ok\n",
			"fsops: metadata ok\n", "fsops: unlinked open file ok\n", "fsops: dev null ok\n",
			"fsops: unigo files ok\n", "fsops: ids and modes ok\n",
			"fsops: fallocate ok\n", "fsops: ok\n",
		},
		check: func(t *testing.T, r result, _, _ time.Time) {
			// Under the harness stdout is a pipe: the launcher says the
			// console is no terminal (unigo.tty=0), so LF line ends and
			// TCGETS fails; QEMU's console stays a terminal with CRLF.
			tty := strings.Contains(r.out, "fsops: console tty=true\n")
			if crlf := strings.Contains(r.raw, "\r\n"); crlf != tty {
				t.Errorf("console tty=%v but CRLF line ends %v", tty, crlf)
			}
		},
	},
	{
		// File mappings against the file through syscall.Mmap: coherence
		// with pread/pwrite, private copies, ftruncate, errno.
		name:    "mmapcheck",
		pkg:     "./tests/guests/mmapcheck",
		cpus:    2,
		timeout: time.Minute,
		wantOut: []string{
			"mmapcheck: shared coherence ok\n", "mmapcheck: private copy-on-write ok\n",
			"mmapcheck: mprotect and msync ok\n", "mmapcheck: beyond EOF: ", "mmapcheck: ftruncate ok\n",
			"mmapcheck: unlinked file ok\n", "mmapcheck: concurrent ok", "mmapcheck: huge pages ok\n", "mmapcheck: errors ok\n", "mmapcheck: ok\n",
		},
	},
	{
		// go.etcd.io/bbolt: a shared read-only mmap of the database,
		// pwrite, ftruncate to grow, flock.
		name:    "bbolt",
		pkg:     "./tests/guests/bbolt",
		memory:  "256M",
		timeout: 2 * time.Minute,
		wantOut: []string{
			"bbolt: wrote 20000 keys in 20 transactions", "bbolt: second open timed out ok\n",
			"bbolt: verified 20000 keys after reopen\n", "bbolt: ok\n",
		},
	},
	{
		// modernc.org/sqlite in WAL mode: the -shm index is a shared
		// mmap of a file.
		name:    "sqlite",
		pkg:     "./tests/guests/sqlite",
		memory:  "256M",
		timeout: 3 * time.Minute,
		wantOut: []string{
			"sqlite: journal_mode=wal\n", "sqlite: inserted 10000 rows",
			"sqlite: count=10000 sum=149985000\n", "sqlite: reopen verified\n", "sqlite: ok\n",
		},
	},
	{
		name: "pipes",
		pkg:  "./tests/guests/pipes",
		wantOut: []string{
			"pipes: round trip ok\n", "pipes: parked reader ok\n", "pipes: large write ok\n",
			"pipes: raw blocking pipe ok\n", "pipes: eventfd ok\n", "pipes: epoll ok\n",
			"pipes: sleep ok\n", "pipes: dup ok\n", "pipes: ok\n",
		},
	},
	{
		name: "unixsock",
		pkg:  "./tests/guests/unixsock",
		wantOut: []string{
			"unixsock: stream echo ok (20 clients)\n", "unixsock: read deadline ok\n",
			"unixsock: close unblocks accept ok\n", `unixsock: datagram "ping-pong" from /dgc.sock` + "\n",
			`unixsock: socketpair "over the pair\n"` + "\n",
			`unixsock: seqpacket records ["a" "bb" "ccc" "dddd" "e"]` + "\n", "unixsock: seqpacket ok\n",
			"unixsock: done\n",
		},
	},
	{
		// Socket options, FIONREAD and SO_ERROR through raw system
		// calls, with Linux's values (the native run checks them).
		name: "sockopts",
		pkg:  "./tests/guests/sockopts",
		wantOut: []string{"sockopts: options ok\n", "sockopts: FIONREAD ok\n",
			"sockopts: refused connect ok\n", "sockopts: done\n"},
	},
	{
		name: "loopnet",
		pkg:  "./tests/guests/loopnet",
		wantOut: []string{
			"loopnet: tcp echo 4 MiB ok\n", "loopnet: 200 concurrent connections ok\n",
			"loopnet: tcp6 echo ok\n", `loopnet: http 200 "hello /unigo"` + "\n",
			`loopnet: udp echo "datagram"` + "\n", "loopnet: connection refused ok\n",
			"loopnet: close unblocks accept ok\n", `loopnet: TLS 1.3, "tls echo: hello\n"` + "\n",
			"loopnet: net/rpc 6*7=42\n",
			"loopnet: done\n",
		},
		timeout: 60 * time.Second,
	},
	{
		// The guest reads its executable; its size and SHA-256 must be the
		// image's on the host.
		name:    "exe",
		pkg:     exePkg,
		wantOut: []string{"exe: buildinfo github.com/unigo-os/unigo/tests/guests/exe go1.", "exe: ok\n"},
		check: func(t *testing.T, r result, start, end time.Time) {
			b, err := os.ReadFile(images[exePkg])
			require.NoError(t, err)
			assert.Contains(t, r.out, fmt.Sprintf("exe: size %d sha256 %x\n", len(b), sha256.Sum256(b)))
			if !strings.Contains(r.out, "exe: native\n") {
				assert.Contains(t, r.out, "exe: read-only ok\n")
			}
		},
	},
	{
		name: "mremap",
		pkg:  "./tests/guests/mremap",
		cpus: 2, // moved pages need the other CPU's TLB flushed
		wantOut: []string{
			"mremap: grow and shrink ok\n", "mremap: in place ok\n", "mremap: fixed ok\n",
			"mremap: 32 MiB ok\n", "mremap: file ok\n", "mremap: refusals ok\n", "mremap: ok\n",
		},
	},
	{
		name: "sendfile",
		pkg:  "./tests/guests/sendfile",
		wantOut: []string{
			"sendfile: offsets ok\n", "sendfile: pipes ok\n", "sendfile: non-blocking ok\n",
			"sendfile: refusals ok\n", "sendfile: copy_file_range ok\n", "sendfile: io.Copy to TCP ok\n",
			"sendfile: http.ServeFile ok\n", "sendfile: ok\n",
		},
		timeout: 60 * time.Second,
	},
	{
		name: "faults",
		pkg:  "./tests/guests/faults",
		wantOut: []string{
			"faults: nil ok", "faults: nil-write ok", "faults: divide ok (runtime error: integer divide by zero)",
			"faults: unsafe-slice ok", "faults: panic-on-fault ok", "faults: read-only ok", "faults: efault ok",
			"faults: all ok\n",
		},
	},
	{
		name:     "overflow",
		pkg:      "./tests/guests/faults",
		args:     []string{"overflow"},
		wantCode: 2,
		wantOut:  []string{"goroutine stack exceeds", "fatal error: stack overflow"},
	},
	{
		name: "preempt",
		pkg:  "./tests/guests/preempt",
		wantOut: []string{
			"preempt: main ran again after", "preempt: 3 GCs completed while spinning\n", "preempt: ok\n",
		},
	},
	{
		name:    "profile",
		pkg:     "./tests/guests/profile",
		wantOut: []string{"profile: busyWork sampled", "profile: ok\n"},
	},
	{
		// System calls as calls: on PVM hosts the kernel rewrites the
		// SYSCALL sites (TestSyscallCallsRewritten checks that it did).
		name:    "syscallcalls",
		pkg:     "./tests/guests/syscallcalls",
		cpus:    2,
		timeout: 2 * time.Minute,
		wantOut: []string{
			"syscallcalls: results ok\n", "syscallcalls: 64 goroutines ok\n", "syscallcalls: profile ok",
			"syscallcalls: fault traceback ok\n", "syscallcalls: ok\n",
		},
	},
	{
		name:    "smp",
		pkg:     "./tests/guests/smp",
		cpus:    2,
		env:     []string{"WANT_CPUS=2"},
		timeout: 2 * time.Minute,
		wantOut: []string{"smp: parallel work ok", "smp: synchronisation ok\n", "smp: ok\n"},
	},
	{
		// The guest `unigo bench` measures with, shrunk to a smoke test.
		name:    "benchguest",
		pkg:     "./tests/guests/bench",
		cpus:    2,
		env:     []string{"BENCH_REPS=1", "BENCH_ROUNDS=1000000", "BENCH_LOOP_MS=5"},
		timeout: 2 * time.Minute,
		wantOut: []string{"bench: workers 2", "bench: parallel_ns ", "bench: getpid_ns ", "bench: pingpong_ns "},
	},
	{
		// The guest behind docs/BENCHMARKS.md "PVM: where traps cost",
		// shrunk to a smoke test.
		name:    "trapcost",
		pkg:     "./tests/guests/trapcost",
		cpus:    2,
		env:     []string{"TRAPCOST_PAGES=64", "TRAPCOST_SPIN_MS=20", "TRAPCOST_TRIPS=50"},
		wantOut: []string{"trapcost: faults ", "trapcost: fault_ns ", "trapcost: detours ", "trapcost: trip_ns ", "trapcost: ok\n"},
	},
	{
		// docs/BENCHMARKS.md "Port-I/O doorbell vs MMIO notification on
		// PVM": a virtio notification each way, shrunk to a smoke test.
		name:         "trapcost-notify",
		pkg:          "./tests/guests/trapcost",
		env:          []string{"TRAPCOST_PAGES=0", "TRAPCOST_SPIN_MS=0", "TRAPCOST_TRIPS=0", "TRAPCOST_NOTIFY=2000"},
		launcherArgs: []string{"-rng"},
		launcherEnv:  []string{"UNIGO_VMM_PIO_DOORBELL=1"},
		skip:         notifySkip,
		wantOut:      []string{"trapcost: notify_mmio_ns ", "trapcost: notify_pio_ns ", "trapcost: ok\n"},
	},
	{
		// The port doorbell alone reaches the device (the launcher's
		// counts): the OUT from the kernel's CPL is allowed and matched.
		name:         "trapcost-doorbell",
		pkg:          "./tests/guests/trapcost",
		env:          []string{"TRAPCOST_PAGES=0", "TRAPCOST_SPIN_MS=0", "TRAPCOST_TRIPS=0", "TRAPCOST_NOTIFY=1000", "TRAPCOST_NOTIFY_WAY=pio"},
		launcherArgs: []string{"-rng"},
		launcherEnv:  []string{"UNIGO_VMM_PIO_DOORBELL=1", "UNIGO_VMM_STATS=1"},
		skip:         notifySkip,
		wantOut:      []string{"trapcost: notify_pio_ns ", "trapcost: ok\n"},
		check:        checkDoorbellNotified,
	},
	{
		// Kernel entries (faults, timer interrupts, IPIs, preemption
		// signals) must leave every register of the interrupted context
		// intact, also when one nests into istEntry (rt/shim_amd64.s).
		name:    "regstorm",
		pkg:     "./tests/guests/regstorm",
		cpus:    2,
		env:     []string{"REGSTORM_MS=1500"},
		timeout: 2 * time.Minute,
		wantOut: []string{"regstorm: ok\n"},
	},
	{
		name:    "signals",
		pkg:     "./tests/guests/signals",
		wantOut: []string{"signals: self-sent signals delivered\n", "signals: bad signal numbers refused\n", "signals: ok\n"},
		check:   checkSignalReports,
	},
	{
		name:    "wakeups",
		pkg:     "./tests/guests/wakeups",
		cpus:    2,
		timeout: 3 * time.Minute,
		wantOut: []string{"wakeups: ping-pong ok", "wakeups: mutex ok\n", "wakeups: sleepers ok\n", "wakeups: ok\n"},
	},
	{
		name:     "oom",
		pkg:      "./tests/guests/oom",
		memory:   "64M",
		wantCode: 2,
		// The runtime says "runtime: out of memory" when mapping memory
		// fails and "out of memory" when reserving a new arena fails;
		// which one a Linux process meets depends on the host.
		check: func(t *testing.T, r result, _, _ time.Time) {
			assert.Regexp(t, `fatal error: (runtime: )?out of memory`, r.out)
		},
	},
	{
		name: "threads",
		pkg:  "./tests/guests/threads",
		// 10,000 threads each need a runtime-allocated 16 KiB system
		// stack besides their goroutine stack, a 32 KiB signal stack,
		// and the kernel's own per-thread state: about 70 KiB a thread
		// in all, so 512M runs out near 7,200 threads.
		memory:  "1G",
		timeout: 3 * time.Minute,
		wantOut: []string{"threads: 10000 goroutines locked to threads\n", "threads: ok\n"},
	},
	{
		// A thread sleeping in nanosleep while another spins, on the one
		// vCPU: the kernel arms the sleeper's timer for the spinner's
		// slice end (task.armDeadline), never before its deadline.
		name:    "sleepbusy",
		pkg:     "./tests/guests/sleepbusy",
		wantOut: []string{"none early", "sleepbusy: ok\n"},
	},
	{
		name:    "time",
		pkg:     "./tests/guests/timenow",
		wantOut: []string{"now="},
		check:   checkClock,
	},
	{
		name:   "stress",
		pkg:    "./examples/stress",
		memory: "512M",
		// Natively about 5-10 s on 2 cores; the VM budget allows for a
		// slow host, and tcgSlowdown multiplies it under TCG.
		timeout: 5 * time.Minute,
		wantOut: []string{
			"stress: goroutines ok", "stress: heap ok", "stress: timers ok",
			"stress: sync ok", "stress: finalizers ok", "stress: all ok\n",
		},
	},
}

func init() {
	scenarios = append(scenarios,
		scenario{
			name:    "devices",
			pkg:     "./tests/guests/devices",
			skip:    map[string]string{"native": "the device services are unigo system calls"},
			wantOut: []string{"devices: dma ok\n", "devices: mmio ok\n", "devices: irq ok\n", "devices: ok\n"},
		},
		scenario{
			name: "fsmount",
			pkg:  "./tests/guests/fsmount",
			skip: map[string]string{"native": "the file channel is the unigo kernel's"},
			wantOut: []string{"fsmount: files ok\n", "fsmount: directories ok\n", "fsmount: chdir ok\n",
				"fsmount: symlinks ok\n", "fsmount: concurrent ok\n", "fsmount: read-only ok\n", "fsmount: ok\n"},
		},
		scenario{
			name:         "virtiorng",
			pkg:          "./tests/guests/virtiorng",
			qemuArgs:     qemuVirtio("-device", "virtio-rng-device"),
			launcherArgs: []string{"-rng"},
			skip:         map[string]string{"native": noDevicesNatively},
			wantOut:      []string{"virtiorng: found virtio-mmio", "virtiorng: ok\n"},
		},
		scenario{
			name:     "virtiorng-level",
			pkg:      "./tests/guests/virtiorng",
			args:     []string{"level"},
			qemuArgs: qemuVirtio("-device", "virtio-rng-device"),
			skip: map[string]string{"native": noDevicesNatively,
				"launcher": "the launcher signals virtio interrupts as edges (irqfd), not level"},
			wantOut: []string{"virtiorng: ok\n"},
		},
		scenario{
			name: "virtionet",
			pkg:  "./tests/guests/virtionet",
			args: []string{"level"},
			qemuArgs: qemuVirtio("-netdev", "user,id=n0",
				"-device", "virtio-net-device,netdev=n0,mac=52:54:00:12:34:56,host_mtu=1400"),
			skip: map[string]string{"native": noDevicesNatively,
				"launcher": "this raw-driver check names QEMU's user-network gateway (10.0.2.2 and its MAC) and host_mtu; " +
					"the launcher's virtio-net device is covered through the netstack by TestHostNetwork and TestHTTPDExample"},
			wantOut: []string{
				"virtionet: mac=52:54:00:12:34:56 mtu=1400 link=true\n",
				"virtionet: gateway 10.0.2.2 is at 52:55:0a:00:02:02\n",
				"virtionet: echo reply from 10.0.2.2 with 1372 bytes\n",
				"virtionet: ok\n",
			},
		},
	)
}

var nowRE = regexp.MustCompile(`now=(\d+)`)

// checkClock wants the guest's wall clock within a second of the host's
// while the guest ran.
func checkClock(t *testing.T, r result, start, end time.Time) {
	m := nowRE.FindStringSubmatch(r.out)
	require.NotNil(t, m, "no now=<nanoseconds> line")
	ns, err := strconv.ParseInt(m[1], 10, 64)
	require.NoError(t, err)
	guest := time.Unix(0, ns)
	assert.False(t, guest.Before(start.Add(-time.Second)), "guest clock %v is more than 1s before the run started (%v)", guest, start)
	assert.False(t, guest.After(end.Add(time.Second)), "guest clock %v is more than 1s after the run ended (%v)", guest, end)
}

func (sc scenario) spec() runSpec {
	s := runSpec{image: images[sc.pkg], args: sc.args, env: sc.env, memory: sc.memory, cpus: sc.cpus, timeout: sc.timeout}
	s.qemuArgs, s.launcherArgs, s.launcherEnv = sc.qemuArgs, sc.launcherArgs, sc.launcherEnv
	if s.cpus == 0 {
		s.cpus = 1
	}
	if s.memory == "" {
		s.memory = "128M"
	}
	if s.timeout == 0 {
		s.timeout = 30 * time.Second
	}
	return s
}

// TestScenarios runs every scenario under every runner.
func TestScenarios(t *testing.T) {
	for _, r := range runners {
		t.Run(r.name, func(t *testing.T) {
			r.check(t)
			if r.name == "qemu" && !kvmBootsKernel() {
				t.Log("no /dev/kvm that boots the kernel (absent, or PVM): QEMU uses TCG emulation (-accel tcg -cpu max), timeouts x", tcgSlowdown)
			}
			for _, sc := range scenarios {
				t.Run(sc.name, func(t *testing.T) {
					if why := sc.skip[r.name]; why != "" {
						t.Skip(why)
					}
					if sc.wantPowerOff && !r.boot {
						t.Skip("a native process cannot power off a VM")
					}
					start := time.Now()
					res, err := r.run(t, sc.spec())
					end := time.Now()
					require.NoError(t, err)
					t.Logf("%s in %v", describeStatus(res), end.Sub(start).Round(time.Millisecond))
					if sc.wantPowerOff {
						require.True(t, res.poweredOff, "want the VM to power off without an exit code, got %s; output:\n%s%s", describeStatus(res), res.out, res.diag)
					} else {
						require.False(t, res.poweredOff, "VM powered off without an exit code; output:\n%s%s", res.out, res.diag)
						require.Equal(t, sc.wantCode, res.code, "exit code; output:\n%s%s", res.out, res.diag)
					}
					for _, w := range sc.wantOut {
						assert.Contains(t, res.out, w)
					}
					if sc.check != nil {
						sc.check(t, res, start, end)
					}
				})
			}
		})
	}
}
