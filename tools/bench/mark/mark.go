// Package mark holds the machine-readable timing and memory lines that
// `unigo run -bench` writes and `unigo bench` reads. It is apart from the
// benchmark suite (package bench) so that the launcher links it without
// the suite's dependencies (net/http among them).
package mark

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The machine-readable timing of `unigo run -bench`, which `unigo bench`
// parses: lines on stderr of the form
//
//	unigo-bench: mark PHASE... NANOSECONDS
//	unigo-bench: memory KEY=KiB ...
//
// Times are CLOCK_MONOTONIC, which is system-wide on Linux, so the process
// that exec'd the launcher can subtract its own reading taken just before
// the exec.
const Prefix = "unigo-bench: "

// Now is CLOCK_MONOTONIC in nanoseconds.
func Now() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// mu keeps mark lines whole: phases end on different threads.
var mu sync.Mutex

// Mark writes the mark line of a boot phase that happened at ns.
func Mark(w io.Writer, phase string, ns int64) {
	mu.Lock()
	defer mu.Unlock()
	fmt.Fprintf(w, "%smark %s %d\n", Prefix, phase, ns)
}

// FirstWrite returns a writer to w that calls mark before the first write
// reaches w: the time the guest's first console line leaves the launcher.
func FirstWrite(w io.Writer, mark func()) io.Writer {
	return &firstWriteMark{w: w, mark: mark}
}

type firstWriteMark struct {
	w    io.Writer
	once sync.Once
	mark func()
}

func (f *firstWriteMark) Write(p []byte) (int, error) {
	f.once.Do(f.mark)
	return f.w.Write(p)
}

// Memory reports the launcher's memory use beside guest memory: the
// process's VmRSS, VmHWM, RssAnon, RssFile and RssShmem from
// /proc/self/status, and, from /proc/self/smaps, guest, the Rss of the
// guest's mapping (RAM and the boot module past it, vmm.VM.GuestMemory),
// and guestanon, its Anonymous part. RSS minus guest
// is the launcher's own overhead, RssAnon minus guestanon its heap,
// stacks and data. The mapping's Rss is what VmRSS counts of it: guest
// RAM maps the image's file pages copy-on-write, which mincore(2), used
// before, counted as resident though they were the page cache's.
func Memory(w io.Writer, guest []byte) {
	fields := statusFields("/proc/self/status")
	var rss, anon int64 = -1, -1
	if len(guest) > 0 {
		lo := uint64(uintptr(unsafe.Pointer(&guest[0])))
		rss, anon = MappingRss("/proc/self/smaps", lo, lo+uint64(len(guest)))
	}
	mu.Lock()
	defer mu.Unlock()
	fmt.Fprintf(w, "%smemory rss=%d hwm=%d anon=%d file=%d shmem=%d guest=%d guestanon=%d\n", Prefix,
		fields["VmRSS"], fields["VmHWM"], fields["RssAnon"], fields["RssFile"], fields["RssShmem"], rss, anon)
}

// ProcessMemory reports another process's memory (the user-mode
// network's, unigo-net) as a memory line whose keys start with name and
// a dot: its VmRSS, VmHWM, RssAnon and RssFile.
func ProcessMemory(w io.Writer, name string, pid int) {
	fields := statusFields("/proc/" + strconv.Itoa(pid) + "/status")
	if len(fields) == 0 {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	fmt.Fprintf(w, "%smemory %s.rss=%d %s.hwm=%d %s.anon=%d %s.file=%d\n", Prefix,
		name, fields["VmRSS"], name, fields["VmHWM"], name, fields["RssAnon"], name, fields["RssFile"])
}

// statusFields reads the memory fields of a /proc/PID/status file, KiB.
func statusFields(path string) map[string]int64 {
	fields := map[string]int64{}
	f, err := os.Open(path)
	if err != nil {
		return fields
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch k {
		case "VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem":
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			fields[k] = n
		}
	}
	return fields
}

// MappingRss sums the Rss and Anonymous (KiB) of the mappings in the
// smaps file path that lie within [lo, hi): guest RAM is one anonymous
// mapping, split where the image's file is mapped over it, and
// MAP_NORESERVE, which keeps the kernel from merging it with the Go
// heap's mappings around it. -1, -1 when the file cannot be read.
func MappingRss(path string, lo, hi uint64) (rss, anon int64) {
	f, err := os.Open(path)
	if err != nil {
		return -1, -1
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) == 0 {
			continue
		}
		if a, z, ok := strings.Cut(fl[0], "-"); ok && !strings.HasSuffix(fl[0], ":") {
			start, err1 := strconv.ParseUint(a, 16, 64)
			end, err2 := strconv.ParseUint(z, 16, 64)
			in = err1 == nil && err2 == nil && start >= lo && end <= hi
			continue
		}
		if !in || len(fl) < 2 {
			continue
		}
		n, err := strconv.ParseInt(fl[1], 10, 64)
		if err != nil {
			continue
		}
		switch fl[0] {
		case "Rss:":
			rss += n
		case "Anonymous:":
			anon += n
		}
	}
	return rss, anon
}

// ParseLines reads the lines Mark and Memory wrote: marks relative to start, and the memory figures.
func ParseLines(s string, start int64) (map[string]time.Duration, map[string]int64) {
	marks := map[string]time.Duration{}
	mem := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), Prefix)
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		switch {
		case len(f) >= 3 && f[0] == "mark":
			ns, err := strconv.ParseInt(f[len(f)-1], 10, 64)
			if err == nil {
				marks[strings.Join(f[1:len(f)-1], " ")] = time.Duration(ns - start)
			}
		case len(f) >= 2 && f[0] == "memory":
			for _, kv := range f[1:] {
				k, v, _ := strings.Cut(kv, "=")
				if n, err := strconv.ParseInt(v, 10, 64); err == nil {
					mem[k] = n
				}
			}
		}
	}
	return marks, mem
}
