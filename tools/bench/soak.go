package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// The soak (`unigo bench -soak D`, `make soak`): examples/httpd under the
// launcher, loaded by soakConns keep-alive connections for D through the
// user-mode network (a -p forward) and, as root, through a TAP device
// (tap.go's lab). Each setup reports requests, errors (the goal is none),
// the launcher's RSS and the guest's own memory (its Go runtime's
// MemStats through /json?gc=1) idle before the load, a quarter into it,
// at its end and after it, and whether the guest still answers once the
// load stops. Flat memory means the quarter and end figures agree: the
// load's working set (guest RAM the launcher maps in, socket buffers) is
// in both.

// soakResult is one setup's figures.
type soakResult struct {
	setup            string
	requests, errors int
	errorKinds       map[string]int // failures by message
	// at: idle before, a quarter into the load, at its end, after.
	at           [4]memPoint
	answersAfter bool
	failed       error
}

// memPoint is the memory at one moment.
type memPoint struct {
	rss  int64 // launcher VmRSS, bytes; -1 unknown
	net  int64 // the user-mode network's process's (unigo-net) VmRSS, bytes; -1 none
	ram  int64 // of which guest RAM (the mapping of soakMem), bytes; -1 unknown
	heap int64 // guest live heap after a GC, bytes; -1 unknown
}

// soakMem is the guest's -m.
const soakMem = 512 << 20

// guestRAMResident is how much of pid's guest RAM is resident, from
// /proc/PID/smaps, or -1. The guest RAM is ramSize bytes of contiguous
// mappings: one anonymous mapping, split where the image's file is mapped
// over it, so it is found as a run of adjacent mappings spanning exactly
// ramSize, all of them readable and writable.
func guestRAMResident(pid int, ramSize int64) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps")
	if err != nil {
		return -1
	}
	type vma struct {
		start, end, rss uint64
		rw              bool
	}
	var vmas []vma
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(f[0], "-"); ok && !strings.HasSuffix(f[0], ":") {
			a, err1 := strconv.ParseUint(lo, 16, 64)
			z, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 != nil || err2 != nil {
				return -1
			}
			vmas = append(vmas, vma{start: a, end: z, rw: len(f) > 1 && strings.HasPrefix(f[1], "rw")})
			continue
		}
		if f[0] == "Rss:" && len(f) >= 2 && len(vmas) > 0 {
			kb, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				return -1
			}
			vmas[len(vmas)-1].rss = kb << 10
		}
	}
	for i := range vmas {
		var rss uint64
		for j := i; j < len(vmas) && vmas[j].rw && (j == i || vmas[j].start == vmas[j-1].end); j++ {
			rss += vmas[j].rss
			if span := vmas[j].end - vmas[i].start; span == uint64(ramSize) {
				return int64(rss)
			} else if span > uint64(ramSize) {
				break
			}
		}
	}
	return -1
}

// guestMem is what examples/httpd's /json says about its memory.
type guestMem struct {
	HeapAlloc uint64 `json:"heap_alloc"`
}

func (s *benchSuite) runSoak(out io.Writer) {
	port, err := benchPort()
	if err != nil {
		s.soak = append(s.soak, soakResult{setup: "user-mode network", failed: err})
	} else {
		t := netTarget{name: "launcher", setup: "user-mode network", base: "http://127.0.0.1:" + strconv.Itoa(port),
			cmd: exec.Command(s.self, "run", "-m", strconv.Itoa(soakMem>>20)+"M", "-smp", "2", "-p", strconv.Itoa(port)+":8080", s.httpd)}
		s.soakOne(t)
	}
	lab, err := newTapLab()
	if err != nil {
		s.tapSkipped = err.Error()
		s.logf("soak: TAP skipped: %v", err)
	} else {
		defer lab.close()
		for _, t := range lab.targets(s) {
			if t.name == "launcher, 2 vCPUs" {
				t.cmd.Args = append(t.cmd.Args[:len(t.cmd.Args)-1], "-m", strconv.Itoa(soakMem>>20)+"M", t.cmd.Args[len(t.cmd.Args)-1])
				s.soakOne(t)
			}
		}
	}
	writeSoakTable(out, s)
	writeRunFooter(out, s)
}

func (s *benchSuite) soakOne(t netTarget) {
	s.logf("soak: %s, %d connections for %v", t.setup, s.soakConns, s.soakTime)
	r := soakResult{setup: t.setup}
	r.failed = soakServer(t, s.soakConns, s.soakTime, &r)
	if r.failed != nil {
		s.logf("soak: %s: %v", t.setup, r.failed)
	}
	s.soak = append(s.soak, r)
}

// soakServer starts t's launcher, loads it and fills r.
func soakServer(t netTarget, conns int, d time.Duration, r *soakResult) error {
	var out bytes.Buffer
	t.cmd.Stdout, t.cmd.Stderr = &out, &out
	if err := t.cmd.Start(); err != nil {
		return err
	}
	defer func() {
		t.cmd.Process.Kill()
		t.cmd.Wait()
	}()
	tr := &http.Transport{DialContext: t.dial, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := readGuestMem(client, t.base)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not serving after 60s: %v; output: %s", err, firstLine(out.String(), ""))
		}
		time.Sleep(100 * time.Millisecond)
	}
	pid := t.cmd.Process.Pid
	// Measurements go over a connection of their own, outside the load's
	// pool.
	mtr := &http.Transport{DialContext: t.dial, DisableKeepAlives: true}
	defer mtr.CloseIdleConnections()
	measure := &http.Client{Transport: mtr, Timeout: 30 * time.Second}
	point := func() memPoint {
		p := memPoint{rss: vmRSS(pid), net: -1, ram: guestRAMResident(pid, soakMem), heap: -1}
		for _, c := range childPIDs(pid) {
			p.net = vmRSS(c)
		}
		if m, err := readGuestMem(measure, t.base); err == nil {
			p.heap = int64(m.HeapAlloc)
		}
		return p
	}
	r.at[0] = point()
	during := make(chan [2]memPoint, 1)
	go func() {
		var p [2]memPoint
		time.Sleep(d / 4)
		p[0] = point()
		time.Sleep(d*3/4 - 2*time.Second)
		p[1] = point()
		during <- p
	}()
	lat, errs, kinds := hammerErrs(client, t.base+"/", conns, d)
	r.requests, r.errors, r.errorKinds = len(lat), errs, kinds
	p := <-during
	r.at[1], r.at[2] = p[0], p[1]
	tr.CloseIdleConnections()
	// Let the guest and the NAT close the load's connections.
	time.Sleep(2 * time.Second)
	r.at[3] = point()
	if r.at[3].heap < 0 {
		return fmt.Errorf("the guest no longer answers after the load; output: %s", lastLines(out.String()))
	}
	resp, err := client.Get(t.base + "/")
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	r.answersAfter = err == nil && resp.StatusCode == http.StatusOK
	if r.requests == 0 {
		return errors.New("no request succeeded")
	}
	return nil
}

func readGuestMem(c *http.Client, base string) (guestMem, error) {
	var m guestMem
	resp, err := c.Get(base + "/json?gc=1")
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return m, fmt.Errorf("/json: %s", resp.Status)
	}
	return m, json.NewDecoder(resp.Body).Decode(&m)
}

// vmRSS is pid's resident set size in bytes, or -1.
func vmRSS(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return -1
			}
			return kb << 10
		}
	}
	return -1
}

func writeSoakTable(w io.Writer, s *benchSuite) {
	fmt.Fprintf(w, "### Soak: examples/httpd under the launcher (2 vCPUs, 512M), %d connections for %v\n\n", s.soakConns, s.soakTime)
	fmt.Fprintf(w, "Memory at: idle before / a quarter into the load / its end / 2 s after; guest heap is the live heap after a GC.\n\n")
	fmt.Fprintf(w, "| network | requests | req/s | errors | launcher RSS (MiB) | of which guest RAM (MiB) | unigo-net RSS (MiB) | guest heap (MiB) | answers after |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---|---|---|---|:---:|\n")
	mib := func(v int64) string {
		if v < 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f", float64(v)/(1<<20))
	}
	for _, r := range s.soak {
		if r.failed != nil && r.requests == 0 {
			fmt.Fprintf(w, "| %s | failed: %v | | | | | | | |\n", r.setup, r.failed)
			continue
		}
		var rss, ram, netRSS, heap []string
		for _, p := range r.at {
			rss, ram, heap = append(rss, mib(p.rss)), append(ram, mib(p.ram)), append(heap, mib(p.heap))
			netRSS = append(netRSS, mib(p.net))
		}
		yes := "no"
		if r.answersAfter {
			yes = "yes"
		}
		fmt.Fprintf(w, "| %s | %d | %.0f | %d | %s | %s | %s | %s | %s |\n", r.setup, r.requests,
			float64(r.requests)/s.soakTime.Seconds(), r.errors, strings.Join(rss, " / "), strings.Join(ram, " / "),
			strings.Join(netRSS, " / "), strings.Join(heap, " / "), yes)
	}
	for _, r := range s.soak {
		for msg, n := range r.errorKinds {
			fmt.Fprintf(w, "\n%s: %d× %s", r.setup, n, msg)
		}
	}
	if s.tapSkipped != "" {
		fmt.Fprintf(w, "\nTAP: skipped (%s).\n", s.tapSkipped)
	}
}
