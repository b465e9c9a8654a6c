package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
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
const benchPrefix = "unigo-bench: "

// monotonicNow is CLOCK_MONOTONIC in nanoseconds.
func monotonicNow() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// benchMu keeps mark lines whole: phases end on different threads.
var benchMu sync.Mutex

func benchMark(w io.Writer, phase string, ns int64) {
	benchMu.Lock()
	defer benchMu.Unlock()
	fmt.Fprintf(w, "%smark %s %d\n", benchPrefix, phase, ns)
}

// firstWriteMark calls mark before the first write reaches w: the time the
// guest's first console line leaves the launcher.
type firstWriteMark struct {
	w    io.Writer
	once sync.Once
	mark func()
}

func (f *firstWriteMark) Write(p []byte) (int, error) {
	f.once.Do(f.mark)
	return f.w.Write(p)
}

// benchMemory reports the launcher's memory use beside guest RAM: the
// process's VmRSS, VmHWM, RssAnon and RssFile from /proc/self/status, and
// guestKiB, the guest RAM pages resident in this process (mincore over the
// guest mapping). RSS minus guestKiB is the launcher's own overhead.
func benchMemory(w io.Writer, guest []byte) {
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
	benchMu.Lock()
	defer benchMu.Unlock()
	fmt.Fprintf(w, "%smemory rss=%d hwm=%d anon=%d file=%d shmem=%d guest=%d\n", benchPrefix,
		fields["VmRSS"], fields["VmHWM"], fields["RssAnon"], fields["RssFile"], fields["RssShmem"], guestKiB)
}
