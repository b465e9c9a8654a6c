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
// (tap.go's lab), where the same program also runs natively, for what its
// Go runtime keeps without a VM. Each setup reports requests, errors (the goal is none),
// the launcher's RSS (and the part of it that is guest RAM), the
// user-mode network's process's (unigo-net) RSS and PSS, and the guest's
// own memory (its Go runtime's MemStats through /json?gc=1) idle before
// the load, a quarter into it, half-way, at its end, 2 s after it and
// soakSettle after it (guest RAM resident once the guest has reported
// the memory it freed, which the launcher's balloon gives back to the
// host), and whether the guest still answers once the load stops. Flat memory means
// the quarter and end figures agree: the load's working set (guest RAM
// the launcher maps in, socket buffers) is in both. judgeFlat says so
// per figure, within flatTolerance, and tells a plateau reached after
// the quarter from growth that goes on to the end.

// soakResult is one setup's figures.
type soakResult struct {
	setup            string
	requests, errors int
	errorKinds       map[string]int // failures by message
	// at: idle before, a quarter into the load, half-way, at its end,
	// 2 s after, soakSettle after.
	at           [6]memPoint
	answersAfter bool
	failed       error
	native       bool // httpd as a Linux process: rss is its RSS, no guest RAM
}

// memPoint is the memory at one moment.
type memPoint struct {
	rss    int64 // launcher VmRSS, bytes; -1 unknown
	net    int64 // the user-mode network's process's (unigo-net) VmRSS, bytes; -1 none
	netPSS int64 // its PSS (smaps_rollup), bytes; -1 none
	ram    int64 // of which guest RAM (the mapping of soakMem), bytes; -1 unknown
	heap   int64 // guest live heap after a GC, bytes; -1 unknown
	sys    int64 // guest Go runtime's Sys (all it has mapped), bytes; -1 unknown
}

// The moments of soakResult.at.
const (
	atIdle = iota
	atQuarter
	atHalf
	atEnd
	atAfter
	atSettled
)

// soakSettle is how long after the load the last sample is taken: time
// for the guest to report the pages it freed and for the launcher to
// discard them.
const soakSettle = 10 * time.Second

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
	Sys       uint64 `json:"sys"`
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
			switch t.name {
			case "launcher, 2 vCPUs":
				t.cmd.Args = append(t.cmd.Args[:len(t.cmd.Args)-1], "-m", strconv.Itoa(soakMem>>20)+"M", t.cmd.Args[len(t.cmd.Args)-1])
				s.soakOne(t)
			case "native":
				// The same program as a Linux process under the same
				// load: what its Go runtime keeps, without a VM.
				s.soakOne(t)
			}
		}
	}
	writeSoakTable(out, s)
	writeRunFooter(out, s)
}

func (s *benchSuite) soakOne(t netTarget) {
	s.logf("soak: %s, %d connections for %v", t.setup, s.soakConns, s.soakTime)
	r := soakResult{setup: t.setup, native: t.name == "native"}
	if r.native {
		r.setup += ", native"
	}
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
		p := memPoint{rss: vmRSS(pid), net: -1, netPSS: -1, ram: guestRAMResident(pid, soakMem), heap: -1, sys: -1}
		for _, c := range childPIDs(pid) {
			p.net, p.netPSS = vmRSS(c), -1
			if kb, err := procField("/proc/"+strconv.Itoa(c)+"/smaps_rollup", "Pss:"); err == nil {
				p.netPSS = kb << 10
			}
		}
		if m, err := readGuestMem(measure, t.base); err == nil {
			p.heap, p.sys = int64(m.HeapAlloc), int64(m.Sys)
		}
		return p
	}
	r.at[atIdle] = point()
	during := make(chan [3]memPoint, 1)
	go func() {
		var p [3]memPoint
		time.Sleep(d / 4)
		p[0] = point()
		time.Sleep(d / 4)
		p[1] = point()
		time.Sleep(d/2 - 2*time.Second)
		p[2] = point()
		during <- p
	}()
	lat, errs, kinds := hammerErrs(client, t.base+"/", conns, d)
	r.requests, r.errors, r.errorKinds = len(lat), errs, kinds
	p := <-during
	r.at[atQuarter], r.at[atHalf], r.at[atEnd] = p[0], p[1], p[2]
	tr.CloseIdleConnections()
	// Let the guest and the NAT close the load's connections.
	time.Sleep(2 * time.Second)
	r.at[atAfter] = point()
	if r.at[atAfter].heap < 0 {
		return fmt.Errorf("the guest no longer answers after the load; output: %s", lastLines(out.String()))
	}
	resp, err := client.Get(t.base + "/")
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	r.answersAfter = err == nil && resp.StatusCode == http.StatusOK
	time.Sleep(soakSettle - 2*time.Second)
	r.at[atSettled] = point()
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

// Flatness: a figure is flat when it grows from a quarter into the load
// to its end by at most flatTolerance percent of its quarter value or
// flatSlack bytes, whichever is more (a fall is flat: a heap after a GC
// or a Go runtime handing memory back). The slack covers the noise of a
// few MiB that a GC cycle or a burst of connections moves. A figure that
// is not flat but is flat by the same rule from half-way to the end rose
// to a plateau (a high-water mark reached after the quarter: the Go
// runtime's heap goal under the load); one that is neither still grows.
const (
	flatTolerance = 5       // percent
	flatSlack     = 4 << 20 // bytes
)

// flatness is one figure's judgement.
type flatness struct {
	name               string
	quarter, half, end int64 // bytes
	known              bool  // quarter and end measured
	flat               bool  // quarter -> end within the tolerance
	plateau            bool  // not flat, but half -> end within it
	growth             int64 // end - quarter, bytes
	growthPercent      float64
}

// within says whether to grew from from by at most the tolerance.
func within(from, to int64) bool {
	return to-from <= max(from*flatTolerance/100, flatSlack)
}

// judgeFlat judges one figure from its values a quarter into the load,
// half-way and at its end (-1: unknown).
func judgeFlat(name string, quarter, half, end int64) flatness {
	f := flatness{name: name, quarter: quarter, half: half, end: end}
	if quarter < 0 || end < 0 {
		return f
	}
	f.known = true
	f.growth = end - quarter
	if quarter > 0 {
		f.growthPercent = 100 * float64(f.growth) / float64(quarter)
	}
	f.flat = within(quarter, end)
	f.plateau = !f.flat && half >= 0 && within(half, end)
	return f
}

// own is the launcher's own share of its RSS (less guest RAM), or -1.
func (p memPoint) own() int64 {
	if p.rss < 0 || p.ram < 0 {
		return -1
	}
	return p.rss - p.ram
}

// soakFlatness judges each process's memory in r: the launcher's own
// share, the guest RAM it holds, unigo-net's RSS and PSS (when it ran),
// the guest's Go runtime's Sys and its live heap.
func soakFlatness(r soakResult) []flatness {
	q, h, e := r.at[atQuarter], r.at[atHalf], r.at[atEnd]
	if r.native {
		return []flatness{judgeFlat("process RSS", q.rss, h.rss, e.rss),
			judgeFlat("Go Sys", q.sys, h.sys, e.sys), judgeFlat("live heap", q.heap, h.heap, e.heap)}
	}
	fs := []flatness{
		judgeFlat("launcher own (RSS less guest RAM)", q.own(), h.own(), e.own()),
		judgeFlat("guest RAM resident", q.ram, h.ram, e.ram),
	}
	if q.net >= 0 || e.net >= 0 {
		fs = append(fs, judgeFlat("unigo-net RSS", q.net, h.net, e.net), judgeFlat("unigo-net PSS", q.netPSS, h.netPSS, e.netPSS))
	}
	return append(fs, judgeFlat("guest Go Sys", q.sys, h.sys, e.sys), judgeFlat("guest live heap", q.heap, h.heap, e.heap))
}

// writeFlatness writes r's judgement as one line: "flat" when every
// figure is, "flat from half-way" when the rest rose to a plateau, "NOT
// flat" when one still grows or is unknown.
func writeFlatness(w io.Writer, r soakResult) {
	var parts []string
	verdict := "flat"
	for _, f := range soakFlatness(r) {
		switch {
		case !f.known:
			parts = append(parts, f.name+" unknown")
			verdict = "NOT flat"
		case f.flat:
			parts = append(parts, fmt.Sprintf("%s %s -> %s flat", f.name, mibOf(f.quarter), mibOf(f.end)))
		case f.plateau:
			parts = append(parts, fmt.Sprintf("%s %s -> %s -> %s plateau (%+.1f MiB by half-way, then flat)", f.name,
				mibOf(f.quarter), mibOf(f.half), mibOf(f.end), float64(f.half-f.quarter)/(1<<20)))
			if verdict == "flat" {
				verdict = "flat from half-way"
			}
		default:
			parts = append(parts, fmt.Sprintf("%s %s -> %s -> %s GROWS (%+.1f MiB, %+.0f%%)", f.name, mibOf(f.quarter), mibOf(f.half), mibOf(f.end),
				float64(f.growth)/(1<<20), f.growthPercent))
			verdict = "NOT flat"
		}
	}
	fmt.Fprintf(w, "%s: memory %s: %s.\n", r.setup, verdict, strings.Join(parts, "; "))
}

// writeGivenBack writes how much guest RAM the launcher held at the end
// of the load and soakSettle after it, once the guest reported what it
// freed.
func writeGivenBack(w io.Writer, r soakResult) {
	e, s := r.at[atEnd].ram, r.at[atSettled].ram
	if e < 0 || s < 0 {
		fmt.Fprintf(w, "%s: guest RAM resident %s MiB at the load's end, %s MiB %v after it.\n", r.setup, mibOf(e), mibOf(s), soakSettle)
		return
	}
	fmt.Fprintf(w, "%s: guest RAM resident %s MiB at the load's end, %s MiB %v after it (%+.1f MiB).\n", r.setup, mibOf(e), mibOf(s), soakSettle,
		float64(s-e)/(1<<20))
}

// mibOf formats bytes as MiB, "–" for unknown.
func mibOf(v int64) string {
	if v < 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f", float64(v)/(1<<20))
}

func writeSoakTable(w io.Writer, s *benchSuite) {
	fmt.Fprintf(w, "### Soak: examples/httpd under the launcher (2 vCPUs, 512M), %d connections for %v\n\n", s.soakConns, s.soakTime)
	fmt.Fprintf(w, "Memory at: idle before / a quarter into the load / half-way / its end / 2 s after / %v after; guest heap is the live heap after a GC, guest Sys all its Go runtime has mapped.\n\n", soakSettle)
	fmt.Fprintf(w, "| network | requests | req/s | errors | launcher RSS (MiB) | of which guest RAM (MiB) | unigo-net RSS (MiB) | unigo-net PSS (MiB) | guest heap (MiB) | guest Sys (MiB) | answers after |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---|---|---|---|---|---|:---:|\n")
	for _, r := range s.soak {
		if r.failed != nil && r.requests == 0 {
			fmt.Fprintf(w, "| %s | failed: %v | | | | | | | | | |\n", r.setup, r.failed)
			continue
		}
		var rss, ram, netRSS, netPSS, heap, sys []string
		for _, p := range r.at {
			rss, ram, heap, sys = append(rss, mibOf(p.rss)), append(ram, mibOf(p.ram)), append(heap, mibOf(p.heap)), append(sys, mibOf(p.sys))
			netRSS, netPSS = append(netRSS, mibOf(p.net)), append(netPSS, mibOf(p.netPSS))
		}
		yes := "no"
		if r.answersAfter {
			yes = "yes"
		}
		fmt.Fprintf(w, "| %s | %d | %.0f | %d | %s | %s | %s | %s | %s | %s | %s |\n", r.setup, r.requests,
			float64(r.requests)/s.soakTime.Seconds(), r.errors, strings.Join(rss, " / "), strings.Join(ram, " / "),
			strings.Join(netRSS, " / "), strings.Join(netPSS, " / "), strings.Join(heap, " / "), strings.Join(sys, " / "), yes)
	}
	fmt.Fprintf(w, "\nFlat: a quarter into the load -> its end, growing at most %d%% or %d MiB; a plateau: not flat, but flat from half-way to the end.\n\n", flatTolerance, flatSlack>>20)
	for _, r := range s.soak {
		if r.failed == nil || r.requests > 0 {
			writeFlatness(w, r)
			if !r.native {
				writeGivenBack(w, r)
			}
		}
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
