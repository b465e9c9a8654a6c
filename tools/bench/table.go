package bench

import (
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// writeBenchTables prints the suite's results as Markdown: boot times,
// memory, the guest workload, image size, and the issues' goals against
// what was measured.
func writeBenchTables(w io.Writer, s *benchSuite) {
	fmt.Fprintf(w, "### Boot: examples/hello, median of %d runs, ms from exec\n\n", s.runs)
	header := "| from exec to |"
	sep := "|---|"
	for _, b := range s.boot {
		header += " " + b.runner.name + " |"
		sep += "---:|"
	}
	fmt.Fprintln(w, header)
	fmt.Fprintln(w, sep)
	// The launcher's phases (unigo run -bench marks), then what every
	// runner has.
	phases := []struct{ mark, label string }{
		{"launcher start", "launcher's Go main"},
		{"open kvm", "/dev/kvm opened"},
		{"create vm", "VM created (RAM mapped, memory slots set, irqchip)"},
		{"load image", "image loaded"},
		{"devices", "vCPUs and devices set up"},
		{"first vCPU run", "first KVM_RUN"},
		{"guest entry", "guest's first instructions (PVH entry mark)"},
		{"kernel entered", "PVH entry and entry64 done, kernel at CPL 3 (mark)"},
		{"runtime start", "kernel booted, Go runtime entered (mark)"},
		{"first output", "first console line leaves the launcher"},
		{"guest exit", "guest writes its exit code"},
	}
	for _, p := range phases {
		row := "| " + p.label + " |"
		for _, b := range s.boot {
			v, ok := medianDur(b.runs, func(r *runTimes) (time.Duration, bool) {
				d, ok := r.marks[p.mark]
				return d, ok
			})
			row += " " + msOrDash(v, ok) + " |"
		}
		fmt.Fprintln(w, row)
	}
	for _, m := range []struct {
		label string
		get   func(*runTimes) (time.Duration, bool)
	}{
		{"**first output line** (main is running)", func(r *runTimes) (time.Duration, bool) { return r.firstLine, true }},
		{"**exit** (process reaped)", func(r *runTimes) (time.Duration, bool) { return r.exit, true }},
	} {
		row := "| " + m.label + " |"
		for _, b := range s.boot {
			v, ok := medianDur(b.runs, m.get)
			row += " **" + msOrDash(v, ok) + "** |"
		}
		fmt.Fprintln(w, row)
	}
	// Peak RSS: the launcher reports its VmHWM. For the others only the
	// child's rusage maxrss is at hand, and Linux carries into it the
	// peak of the address space the child exec'd from, which is ours
	// (Go execs from a vfork-style child sharing our memory): a figure
	// not above our own peak says nothing about the child.
	var self syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	row := "| peak RSS (launcher: VmHWM; QEMU: rusage maxrss), MiB |"
	for _, b := range s.boot {
		v, ok := medianF(b.runs, func(r *runTimes) (float64, bool) {
			if hwm, ok := r.memory["hwm"]; ok && hwm > 0 {
				return float64(hwm) / 1024, true
			}
			return float64(r.maxRSS) / 1024, r.maxRSS > self.Maxrss
		})
		row += " " + numOrDash(v, ok, 1) + " |"
	}
	fmt.Fprintln(w, row)
	for _, b := range s.boot {
		if len(b.failed) > 0 {
			fmt.Fprintf(w, "\n%s: %d of its runs failed, first: %s\n", b.runner.name, len(b.failed), firstLine(b.failed[0].Error(), ""))
		}
	}

	// The launcher's own memory beside guest RAM, at guest exit.
	launcher := s.boot[1].runs
	mem := func(f func(m map[string]int64) float64) float64 {
		v, _ := medianF(launcher, func(r *runTimes) (float64, bool) { return f(r.memory), r.memory["rss"] > 0 })
		return v
	}
	rss := mem(func(m map[string]int64) float64 { return float64(m["rss"]) / 1024 })
	guest := mem(func(m map[string]int64) float64 { return float64(m["guest"]) / 1024 })
	overhead := mem(func(m map[string]int64) float64 { return float64(m["rss"]-m["guest"]) / 1024 })
	anonOver := mem(func(m map[string]int64) float64 { return float64(m["anon"]-m["guestanon"]) / 1024 })
	file := mem(func(m map[string]int64) float64 { return float64(m["file"]) / 1024 })
	fmt.Fprintf(w, "\nLauncher memory at guest exit (hello, -m 128M; medians): VmRSS %.1f MiB, of which "+
		"guest memory resident (the Rss in smaps of the guest's mapping: RAM and the boot module) %.1f MiB, so the launcher's own RSS is "+
		"**%.1f MiB**: %.1f MiB anonymous outside guest RAM (Go heap, stacks and data) and "+
		"%.1f MiB file-backed (the launcher binary's pages, and the image's in guest memory).\n", rss, guest, overhead, anonOver, file)

	fmt.Fprintf(w, "\n### Guest workload: tests/guests/bench, median of %d runs (each a median of its own repetitions)\n\n", s.guestRuns)
	header, sep = "| |", "|---|"
	for _, g := range s.guestRes {
		header += " " + g.name + " |"
		sep += "---:|"
	}
	fmt.Fprintln(w, header)
	fmt.Fprintln(w, sep)
	for _, f := range []struct {
		key, label string
		scale      float64
		prec       int
	}{
		{"serial_ns", "CPU-bound work, one goroutine, ms", 1e-6, 1},
		{"parallel_ns", "same work split over GOMAXPROCS goroutines, ms", 1e-6, 1},
		{"paired_speedup", "speedup: serial ÷ parallel, pairs run back to back", 1, 2},
		{"getpid_ns", "getpid round trip (RawSyscall), ns", 1, 0},
		{"faults_at_main", "page faults before main", 1, 0},
		{"touch_ns_per_page", "first touch of a page (16 MiB mapping), ns per 4 KiB page", 1, 0},
		{"faults_per_16mib", "page faults taken touching 16 MiB", 1, 0},
		{"pingpong_ns", "wake-up ping-pong between two locked threads, round trip µs", 1e-3, 1},
		{"conline_ns", "100-byte line written to stdout (the console), µs", 1e-3, 2},
	} {
		row := "| " + f.label + " |"
		for _, g := range s.guestRes {
			v, ok := guestFig(g, f.key)
			row += " " + numOrDash(v*f.scale, ok, f.prec) + " |"
		}
		fmt.Fprintln(w, row)
	}
	row = "| one page fault (16 MiB touched / faults taken), µs |"
	for _, g := range s.guestRes {
		per, ok1 := guestFig(g, "touch_ns_per_page")
		n, ok2 := guestFig(g, "faults_per_16mib")
		row += " " + numOrDash(per*4096/max(n, 1)/1e3, ok1 && ok2 && n > 0, 1) + " |"
	}
	fmt.Fprintln(w, row)
	for _, g := range s.guestRes {
		if len(g.failed) > 0 {
			fmt.Fprintf(w, "\n%s: %d of its runs failed, first: %s\n", g.name, len(g.failed), firstLine(g.failed[0].Error(), ""))
		}
	}

	fmt.Fprintf(w, "\n### Image: examples/hello\n\n")
	fmt.Fprintf(w, "| plain go build | unigo image | difference | smallest -m that boots (launcher) |\n|---:|---:|---:|---:|\n")
	fmt.Fprintf(w, "| %d B | %d B | %+.1f%% | %s |\n", s.imageSize.plain, s.imageSize.unigo,
		100*(float64(s.imageSize.unigo)/float64(s.imageSize.plain)-1), orDash(s.smallestM))

	writeNetTable(w, s)
	writeDensityTable(w, s)
	writeGoals(w, s)
	writeRunFooter(w, s)
}

// writeRunFooter says when and where the figures were taken.
func writeRunFooter(w io.Writer, s *benchSuite) {
	fmt.Fprintf(w, "\n(%s, %d CPUs seen by Go, %s; host load average at start %s, at end %s)\n",
		runtime.Version(), runtime.NumCPU(), time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		orDash(s.loadStart), orDash(loadAverage()))
}

// writeGoals compares the measured figures with the goals of issues #2-#4.
func writeGoals(w io.Writer, s *benchSuite) {
	fmt.Fprintf(w, "\n### Goals\n\n| goal | measured | met |\n|---|---:|:---:|\n")
	goal := func(name, measured string, met, ok bool) {
		m := "no"
		switch {
		case !ok:
			measured, m = "not measured", "?"
		case strings.Contains(name, "no target"):
			m = "–"
		case met:
			m = "yes"
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", name, measured, m)
	}
	exit := func(i int) (time.Duration, bool) {
		if i >= len(s.boot) {
			return 0, false
		}
		return medianDur(s.boot[i].runs, func(r *runTimes) (time.Duration, bool) { return r.exit, true })
	}
	native, nok := exit(0)
	launch, lok := exit(1)
	goal("launcher exec to exit ≤ 3 ms (#3)", ms(launch), launch <= 3*time.Millisecond, lok)
	goal("launcher ≤ 3x native exec to exit (#3)", fmt.Sprintf("%.1fx", float64(launch)/float64(native)), launch <= 3*native, lok && nok)
	overhead, ook := medianF(s.boot[1].runs, func(r *runTimes) (float64, bool) {
		return float64(r.memory["rss"]-r.memory["guest"]) / 1024, r.memory["rss"] > 0
	})
	goal("launcher RSS beside guest RAM ≤ 5 MiB (#3)", fmt.Sprintf("%.1f MiB", overhead), overhead <= 5, ook)
	for _, b := range s.boot {
		if b.runner.name != vmmBinaryName {
			continue
		}
		run, ok := medianDur(b.runs, func(r *runTimes) (time.Duration, bool) {
			d, ok := r.marks["first vCPU run"]
			return d, ok
		})
		goal("launcher binary exec to first KVM_RUN ≤ 3 ms (#13.1)", ms(run), run <= 3*time.Millisecond, ok)
	}

	fig := func(name, key string) (float64, bool) {
		for _, g := range s.guestRes {
			if g.name == name {
				return guestFig(g, key)
			}
		}
		return 0, false
	}
	p1, ok1 := fig("launcher, 1 vCPU", "parallel_ns")
	p2, ok2 := fig("launcher, 2 vCPUs", "parallel_ns")
	n1, nok1 := fig("native, GOMAXPROCS=1", "parallel_ns")
	n2, nok2 := fig("native, GOMAXPROCS=2", "parallel_ns")
	goal("speedup 2 vCPUs vs 1 ≥ 1.9x (#4), across boots", fmt.Sprintf("%.2fx (native: %.2fx)", p1/p2, n1/n2), p1/p2 >= 1.9, ok1 && ok2 && nok1 && nok2)
	ps, psok := fig("launcher, 2 vCPUs", "paired_speedup")
	nps, npsok := fig("native, GOMAXPROCS=2", "paired_speedup")
	goal("speedup on 2 vCPUs ≥ 1.9x (#4), paired in one boot", fmt.Sprintf("%.2fx (native: %.2fx)", ps, nps), ps >= 1.9, psok && npsok)
	goal("workload within 2% of native, 2 CPUs (#4)", fmt.Sprintf("%+.1f%%", 100*(p2/n2-1)), math.Abs(p2/n2-1) <= 0.02, ok2 && nok2)
	goal("workload within 2% of native, 1 CPU (#4)", fmt.Sprintf("%+.1f%%", 100*(p1/n1-1)), math.Abs(p1/n1-1) <= 0.02, ok1 && nok1)
	g, gok := fig("launcher, 1 vCPU", "getpid_ns")
	ng, ngok := fig("native, GOMAXPROCS=1", "getpid_ns")
	goal("trapped getpid ≤ 50 ns, below Linux's (#4)", fmt.Sprintf("%.0f ns (native %.0f ns)", g, ng), g <= 50 && g < ng, gok && ngok)
	pp, pok := fig("launcher, 2 vCPUs", "pingpong_ns")
	npp, npok := fig("native, GOMAXPROCS=2", "pingpong_ns")
	goal("cross-CPU wake-up round trip (#4, no target)", fmt.Sprintf("%.1f µs (native %.1f µs)", pp/1e3, npp/1e3), true, pok && npok)
	cl, clok := fig("launcher, 1 vCPU", "conline_ns")
	ncl, nclok := fig("native, GOMAXPROCS=1", "conline_ns")
	goal("100-byte console line ≤ 10 µs in the guest (#13.5)", fmt.Sprintf("%.2f µs (native %.2f µs)", cl/1e3, ncl/1e3), cl <= 10e3, clok && nclok)
	plain, pok2 := netReqPerSec(s, "loopback", "launcher, 1 vCPU")
	logged, lok2 := netReqPerSec(s, "loopback", "launcher, 1 vCPU, -log")
	goal("httpd logging a line per request loses ≤ 10% requests/s (#13.5)", fmt.Sprintf("%+.1f%% (%.0f vs %.0f req/s)", 100*(logged/plain-1), logged, plain),
		logged >= 0.9*plain, pok2 && lok2)
	grow := float64(s.imageSize.unigo)/float64(s.imageSize.plain) - 1
	goal("image ≤ 10% larger than plain go build (#2)", fmt.Sprintf("%+.1f%%", 100*grow), grow <= 0.10, s.imageSize.plain > 0)
	var mib int
	_, err := fmt.Sscanf(s.smallestM, "%d MiB", &mib)
	goal("hello boots with -m ≤ 8 MiB (#2)", s.smallestM, mib <= 8, err == nil)
	for i := 2; i < len(s.boot); i++ {
		d, ok := exit(i)
		first, _ := medianDur(s.boot[i].runs, func(r *runTimes) (time.Duration, bool) { return r.firstLine, true })
		goal(s.boot[i].runner.name+": start to first line / to exit (#2, no target)", ms(first)+" / "+ms(d), true, ok)
	}
	// #13.2, on a PVM host: hello exec to exit within 10 ms and 0.2x QEMU
	// KVM's time in the same run, for each way of running the launcher.
	qemu, qok := time.Duration(0), false
	for i, b := range s.boot {
		if b.runner.name == "QEMU KVM" {
			qemu, qok = exit(i)
		}
	}
	for i, b := range s.boot {
		if n := b.runner.name; n != "launcher" && n != vmmBinaryName {
			continue
		}
		d, ok := exit(i)
		goal(b.runner.name+": hello exec to exit ≤ 10 ms and ≤ 0.2x QEMU KVM (#13.2)",
			fmt.Sprintf("%s, %.2fx", ms(d), float64(d)/float64(qemu)), d <= 10*time.Millisecond && 5*d <= qemu, ok && qok)
	}
}

// netReqPerSec is the requests/s of a network run that succeeded.
func netReqPerSec(s *benchSuite, setup, name string) (float64, bool) {
	for _, r := range s.net {
		if r.setup == setup && r.name == name && r.failed == nil && r.reqPerSec > 0 {
			return r.reqPerSec, true
		}
	}
	return 0, false
}

func guestFig(g guestResult, key string) (float64, bool) {
	var v []float64
	for _, f := range g.figs {
		if x, ok := f[key]; ok {
			v = append(v, x)
		}
	}
	return medianOf(v)
}

func medianDur(runs []*runTimes, get func(*runTimes) (time.Duration, bool)) (time.Duration, bool) {
	v, ok := medianF(runs, func(r *runTimes) (float64, bool) {
		d, ok := get(r)
		return float64(d), ok
	})
	return time.Duration(v), ok
}

func medianF(runs []*runTimes, get func(*runTimes) (float64, bool)) (float64, bool) {
	var v []float64
	for _, r := range runs {
		if x, ok := get(r); ok {
			v = append(v, x)
		}
	}
	return medianOf(v)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }

func msOrDash(d time.Duration, ok bool) string {
	if !ok {
		return "–"
	}
	return fmt.Sprintf("%.2f", float64(d)/1e6)
}

func numOrDash(v float64, ok bool, prec int) string {
	if !ok {
		return "–"
	}
	return fmt.Sprintf("%.*f", prec, v)
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "–"
	}
	return s
}

// loadAverage is the host's 1-minute load average (/proc/loadavg): the
// figures mean little when the host's CPUs are busy with other work.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}
