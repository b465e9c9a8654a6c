package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The density benchmark (issue 13, part 7): start many idle
// examples/httpd guests at once, each under its own launcher with its own
// forwarded port, and measure what one idle guest costs the host and how
// fast they boot.

// densityResult is one density run.
type densityResult struct {
	guests, mem  int           // guests started, -m of each (MiB)
	booted       int           // guests that reported ready
	answered     int           // guests that served GET / once all were up
	bootAll      time.Duration // start of the first to ready of the last
	pssPerGuest  float64       // MiB: launcher process PSS (guest RAM touched included), mean
	rssPerGuest  float64       // MiB: launcher process RSS, mean
	hostPerGuest float64       // MiB: drop in memAvailable per guest (KVM's own memory included)
	failed       error
}

// densityMem is the guest memory of each density guest.
const densityMem = 64

// runDensity starts s.density httpd guests at once and measures them idle.
func (s *benchSuite) runDensity(tmp string) {
	n := s.density
	r := densityResult{guests: n, mem: densityMem}
	defer func() { s.densityRes = &r }()
	s.logf("density: %d idle examples/httpd guests, -m %dM each", n, densityMem)
	availBefore, err := memAvailable()
	if err != nil {
		r.failed = err
		return
	}
	type guest struct {
		cmd    *exec.Cmd
		port   int
		ready  string
		out    bytes.Buffer
		exited chan struct{} // closed once cmd has been waited for
	}
	guests := make([]*guest, n)
	defer func() {
		for _, g := range guests {
			if g != nil {
				g.cmd.Process.Kill()
				<-g.exited
			}
		}
	}()
	ports, err := unusedPorts(n)
	if err != nil {
		r.failed = err
		return
	}
	start := time.Now()
	for i := range guests {
		g := &guest{port: ports[i], ready: filepath.Join(tmp, "ready"+strconv.Itoa(i)), exited: make(chan struct{})}
		g.cmd = exec.Command(s.self, "run", "-m", strconv.Itoa(densityMem)+"M", "-ready-file", g.ready,
			"-p", fmt.Sprintf("127.0.0.1:%d:8080", g.port), s.httpd)
		g.cmd.Stdout, g.cmd.Stderr = &g.out, &g.out
		if err := g.cmd.Start(); err != nil {
			r.failed = fmt.Errorf("guest %d: %v", i, err)
			return
		}
		go func() { g.cmd.Wait(); close(g.exited) }()
		guests[i] = g
	}
	// Until all are ready, one has exited (fail at once: it will never be
	// ready), or the deadline.
	deadline := start.Add(time.Duration(n)*time.Second + 60*time.Second)
	var gone *guest
	for r.booted < n && gone == nil && time.Now().Before(deadline) {
		r.booted = 0
		for _, g := range guests {
			if _, err := os.Stat(g.ready); err == nil {
				r.booted++
				continue
			}
			select {
			case <-g.exited:
				gone = g
			default:
			}
		}
		r.bootAll = time.Since(start)
		time.Sleep(5 * time.Millisecond)
	}
	if gone != nil {
		r.failed = fmt.Errorf("a guest exited before it was ready (%d of %d ready after %v); it said: %s", r.booted, n, r.bootAll.Round(time.Millisecond), firstLine(gone.out.String(), "nothing"))
		return
	}
	if r.booted < n {
		for _, g := range guests {
			if _, err := os.Stat(g.ready); err != nil {
				r.failed = fmt.Errorf("%d of %d guests ready after %v; one said: %s", r.booted, n, r.bootAll.Round(time.Millisecond), firstLine(g.out.String(), "nothing"))
				return
			}
		}
	}
	// Idle for a moment, then measure: what a guest costs when it serves
	// nothing is what density is about.
	time.Sleep(2 * time.Second)
	var pss, rss float64
	for _, g := range guests {
		p, q, err := procMemory(g.cmd.Process.Pid)
		if err != nil {
			r.failed = err
			return
		}
		pss, rss = pss+p, rss+q
	}
	availAfter, err := memAvailable()
	if err != nil {
		r.failed = err
		return
	}
	r.pssPerGuest, r.rssPerGuest = pss/float64(n), rss/float64(n)
	r.hostPerGuest = float64(availBefore-availAfter) / float64(n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	client := &http.Client{Timeout: 30 * time.Second}
	for _, g := range guests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", g.port))
			if err != nil {
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				mu.Lock()
				r.answered++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, g := range guests {
		g.cmd.Process.Signal(syscall.SIGTERM)
	}
}

// memAvailable returns the host's MemAvailable in MiB, counting the free
// pages held in the per-CPU lists as available too: MemAvailable does not,
// and a launcher that frees memory on its first idle (the image copies,
// vmm/prefault.go) leaves megabytes there, which the next allocation on
// that CPU takes first.
func memAvailable() (int64, error) {
	v, err := procField("/proc/meminfo", "MemAvailable:")
	if err != nil {
		return 0, err
	}
	zi, err := os.ReadFile("/proc/zoneinfo")
	if err != nil {
		return 0, err
	}
	return (v + perCPUFreePages(zi)*int64(os.Getpagesize())>>10) >> 10, nil
}

// perCPUFreePages sums the "count:" lines of /proc/zoneinfo's per-CPU
// page sets: free pages not in MemFree.
func perCPUFreePages(zoneinfo []byte) (n int64) {
	for _, line := range strings.Split(string(zoneinfo), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "count:"); ok {
			if c, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				n += c
			}
		}
	}
	return n
}

// procMemory returns the PSS and RSS in MiB of process pid and its
// children: the launcher and its user-mode network's process (unigo-net).
func procMemory(pid int) (pss, rss float64, err error) {
	for _, q := range append([]int{pid}, childPIDs(pid)...) {
		p, err := procField(fmt.Sprintf("/proc/%d/smaps_rollup", q), "Pss:")
		if err != nil {
			return 0, 0, err
		}
		r, err := procField(fmt.Sprintf("/proc/%d/status", q), "VmRSS:")
		if err != nil {
			return 0, 0, err
		}
		pss, rss = pss+float64(p)/1024, rss+float64(r)/1024
	}
	return pss, rss, nil
}

// childPIDs are pid's child processes, which any of its threads may
// have started.
func childPIDs(pid int) []int {
	var kids []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, task := range tasks {
		b, _ := os.ReadFile(task)
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				kids = append(kids, n)
			}
		}
	}
	return kids
}

// procField returns the kB value of the line starting with key in a
// /proc file.
func procField(path, key string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no %s line", path, key)
}

// writeDensityTable prints the density results.
func writeDensityTable(w io.Writer, s *benchSuite) {
	r := s.densityRes
	if r == nil {
		return
	}
	fmt.Fprintf(w, "\n### Density: %d idle examples/httpd guests, -m %dM each\n\n", r.guests, r.mem)
	if r.failed != nil {
		fmt.Fprintf(w, "Failed: %v\n", r.failed)
		return
	}
	fmt.Fprintln(w, "| figure | value |")
	fmt.Fprintln(w, "|---|---|")
	fmt.Fprintf(w, "| guests ready | %d of %d |\n", r.booted, r.guests)
	fmt.Fprintf(w, "| all ready after | %s (%.1f boots/s) |\n", ms(r.bootAll), float64(r.booted)/r.bootAll.Seconds())
	fmt.Fprintf(w, "| host memory per idle guest (drop in MemAvailable and per-CPU free pages) | %.1f MiB |\n", r.hostPerGuest)
	fmt.Fprintf(w, "| launcher PSS per guest (guest RAM it touched included) | %.1f MiB |\n", r.pssPerGuest)
	fmt.Fprintf(w, "| launcher RSS per guest | %.1f MiB |\n", r.rssPerGuest)
	fmt.Fprintf(w, "| guests answering GET / afterwards | %d of %d |\n", r.answered, r.guests)
	fmt.Fprintf(w, "\nGoal (#13.7): <= 20 MiB host memory per idle guest: %s.\n", map[bool]string{true: "met", false: "not met"}[r.hostPerGuest <= 20 && r.answered == r.guests])
}
