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

// Memory reports the launcher's memory use beside guest RAM: the
// process's VmRSS, VmHWM, RssAnon and RssFile from /proc/self/status, and
// guestKiB, the guest RAM pages resident in this process (mincore over the
// guest mapping). RSS minus guestKiB is the launcher's own overhead.
func Memory(w io.Writer, guest []byte) {
	fields := map[string]int64{}
	if f, err := os.Open("/proc/self/status"); err == nil {
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
		f.Close()
	}
	var guestKiB int64
	if len(guest) > 0 {
		page := os.Getpagesize()
		vec := make([]byte, (len(guest)+page-1)/page)
		// x/sys/unix has no wrapper for mincore(2).
		_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&guest[0])), uintptr(len(guest)), uintptr(unsafe.Pointer(&vec[0])))
		if errno == 0 {
			for _, b := range vec {
				if b&1 != 0 {
					guestKiB += int64(page / 1024)
				}
			}
		} else {
			guestKiB = -1
		}
	}
	mu.Lock()
	defer mu.Unlock()
	fmt.Fprintf(w, "%smemory rss=%d hwm=%d anon=%d file=%d shmem=%d guest=%d\n", Prefix,
		fields["VmRSS"], fields["VmHWM"], fields["RssAnon"], fields["RssFile"], fields["RssShmem"], guestKiB)
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
