package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestParseBenchLines(t *testing.T) {
	var buf bytes.Buffer
	Mark(&buf, "first vCPU run", 1_500_000)
	Mark(&buf, "guest exit", 4_000_000)
	buf.WriteString("unigo run: some diagnostic\n")
	buf.WriteString(prefix + "memory rss=12000 hwm=12100 anon=7000 file=5000 shmem=0 guest=3000 guestanon=2000\n")
	buf.WriteString(prefix + "memory net.rss=9000 net.hwm=9100 net.anon=4000 net.file=5000\n")
	marks, mem := ParseLines(buf.String(), 1_000_000)
	assert.Equal(t, map[string]time.Duration{"first vCPU run": 500 * time.Microsecond, "guest exit": 3 * time.Millisecond}, marks)
	assert.Equal(t, int64(12000), mem["rss"])
	assert.Equal(t, int64(3000), mem["guest"])
	assert.Equal(t, int64(2000), mem["guestanon"])
	assert.Equal(t, int64(9000), mem["net.rss"])
}

func TestBenchMemoryReportsItself(t *testing.T) {
	// A mapping of its own, MAP_NORESERVE like the launcher's guest RAM
	// (which keeps the kernel from merging it with the Go heap's).
	guest, err := unix.Mmap(-1, 0, 64<<10, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	require.NoError(t, err)
	defer unix.Munmap(guest)
	for i := range guest {
		guest[i] = 1
	}
	var buf bytes.Buffer
	Memory(&buf, guest)
	_, mem := ParseLines(buf.String(), 0)
	assert.Positive(t, mem["rss"], buf.String())
	// The touched pages are resident, and anonymous.
	assert.GreaterOrEqual(t, mem["guest"], int64(64), buf.String())
	assert.GreaterOrEqual(t, mem["guestanon"], int64(64), buf.String())
	assert.Less(t, mem["guest"], mem["rss"], buf.String())
}

// TestBenchMemoryFilePages: guest RAM with a file mapped over part of it
// (as the image is): the mapping's Rss counts the file pages the process
// maps, not more than VmRSS, which mincore did (it reports page-cache
// residency).
func TestBenchMemoryFilePages(t *testing.T) {
	ram, err := unix.Mmap(-1, 0, 256<<10, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	require.NoError(t, err)
	defer unix.Munmap(ram)
	p := filepath.Join(t.TempDir(), "image")
	require.NoError(t, os.WriteFile(p, bytes.Repeat([]byte{7}, 128<<10), 0o644))
	f, err := os.Open(p)
	require.NoError(t, err)
	defer f.Close()
	// The file over the first half, MAP_FIXED, untouched: in the page
	// cache, not in this process's RSS.
	_, _, errno := unix.Syscall6(unix.SYS_MMAP, uintptr(unsafe.Pointer(&ram[0])), 128<<10, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_FIXED, f.Fd(), 0)
	require.Zero(t, errno)
	for i := 128 << 10; i < len(ram); i++ {
		ram[i] = 1
	}
	var buf bytes.Buffer
	Memory(&buf, ram)
	_, mem := ParseLines(buf.String(), 0)
	assert.GreaterOrEqual(t, mem["guest"], int64(128), buf.String())
	assert.Less(t, mem["guest"], int64(256), "the untouched file pages are not the process's: %s", buf.String())
}

func TestParseGuestFigures(t *testing.T) {
	out := "bench: cpus 2.0\r\nnoise\nbench: getpid_ns 152.5\nbench: FAIL something\n"
	assert.Equal(t, map[string]float64{"cpus": 2, "getpid_ns": 152.5}, parseGuestFigures(out))
}

func TestMedianOf(t *testing.T) {
	_, ok := medianOf(nil)
	assert.False(t, ok)
	m, _ := medianOf([]float64{5, 1, 3})
	assert.Equal(t, 3.0, m)
	m, _ = medianOf([]float64{4, 1, 3, 2})
	assert.Equal(t, 2.5, m)
}

func TestFirstWriteMark(t *testing.T) {
	var out bytes.Buffer
	n := 0
	w := FirstWrite(&out, func() { n++ })
	w.Write([]byte("a\n"))
	w.Write([]byte("b\n"))
	assert.Equal(t, 1, n)
	assert.Equal(t, "a\nb\n", out.String())
}

// TestWriteBenchTables renders a suite with made-up figures: every section
// and goal row is there, and the figures come out as medians.
func TestWriteBenchTables(t *testing.T) {
	s := &benchSuite{runs: 3, guestRuns: 1, smallestM: "7 MiB"}
	s.imageSize.unigo, s.imageSize.plain = 110, 100
	run := func(first, exit time.Duration) *runTimes {
		return &runTimes{firstLine: first, exit: exit, maxRSS: 10 << 10,
			marks:  map[string]time.Duration{"guest entry": first / 2},
			memory: map[string]int64{"rss": 12 << 10, "guest": 4 << 10, "anon": 8 << 10, "file": 4 << 10}}
	}
	s.boot = []bootResult{
		{runner: benchRunner{name: "native"}, runs: []*runTimes{{firstLine: time.Millisecond, exit: 2 * time.Millisecond}}},
		{runner: benchRunner{name: "launcher"}, runs: []*runTimes{run(4*time.Millisecond, 5*time.Millisecond), run(6*time.Millisecond, 7*time.Millisecond), run(40*time.Millisecond, 50*time.Millisecond)}},
		{runner: benchRunner{name: "QEMU KVM"}, runs: []*runTimes{{firstLine: 30 * time.Millisecond, exit: 40 * time.Millisecond}}},
		{runner: benchRunner{name: vmmBinaryName}, runs: []*runTimes{run(4*time.Millisecond, 6*time.Millisecond)}},
	}
	fig := func(par float64) map[string]float64 {
		return map[string]float64{"serial_ns": 2e8, "parallel_ns": par, "getpid_ns": 100, "pingpong_ns": 2e4, "touch_ns_per_page": 1000, "faults_per_16mib": 4096, "conline_ns": 800}
	}
	s.guestRes = []guestResult{
		{name: "native, GOMAXPROCS=1", figs: []map[string]float64{fig(2e8)}},
		{name: "native, GOMAXPROCS=2", figs: []map[string]float64{fig(1e8)}},
		{name: "launcher, 1 vCPU", figs: []map[string]float64{fig(2e8)}},
		{name: "launcher, 2 vCPUs", figs: []map[string]float64{fig(1e8)}},
	}
	s.net = []netResult{
		{name: "launcher, 1 vCPU", setup: "loopback", reqPerSec: 2000},
		{name: "launcher, 1 vCPU, -log", setup: "loopback", reqPerSec: 1900},
	}
	var out strings.Builder
	writeBenchTables(&out, s)
	text := out.String()
	for _, want := range []string{
		"| **exit** (process reaped) | **2.00** | **7.00** |",
		"| guest's first instructions (PVH entry mark) | – | 3.00 |",
		"launcher's own RSS is **8.0 MiB**",
		"| same work split over GOMAXPROCS goroutines, ms | 200.0 | 100.0 | 200.0 | 100.0 |",
		"| one page fault (16 MiB touched / faults taken), µs | 1.0 | 1.0 | 1.0 | 1.0 |",
		"| 100 B | 110 B | +10.0% | 7 MiB |",
		"| speedup 2 vCPUs vs 1 ≥ 1.9x (#4), across boots | 2.00x (native: 2.00x) | yes |",
		"| launcher exec to exit ≤ 3 ms (#3) | 7.00 ms | no |",
		"| hello boots with -m ≤ 8 MiB (#2) | 7 MiB | yes |",
		"| launcher: hello exec to exit ≤ 10 ms and ≤ 0.2x QEMU KVM (#13.2) | 7.00 ms, 0.17x | yes |",
		"| unigo-vmm: hello exec to exit ≤ 10 ms and ≤ 0.2x QEMU KVM (#13.2) | 6.00 ms, 0.15x | yes |",
		"| 100-byte line written to stdout (the console), µs | 0.80 | 0.80 | 0.80 | 0.80 |",
		"| 100-byte console line ≤ 10 µs in the guest (#13.5) | 0.80 µs (native 0.80 µs) | yes |",
		"| httpd logging a line per request loses ≤ 10% requests/s (#13.5) | -5.0% (1900 vs 2000 req/s) | yes |",
	} {
		assert.Contains(t, text, want)
	}
	require.NotContains(t, text, "NaN")
}

func TestBenchBadArgs(t *testing.T) {
	assert.Equal(t, 2, Main([]string{"-runs", "0"}, Tools{}))
	assert.Equal(t, 2, Main([]string{"extra"}, Tools{}))
	assert.Equal(t, 2, Main([]string{"-nosuchflag"}, Tools{}))
}
