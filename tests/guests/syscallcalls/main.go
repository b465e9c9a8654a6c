// Command syscallcalls exercises system calls the way a kernel that
// rewrites SYSCALL sites into calls (CPL-3 mode on PVM hosts) must still
// serve them: results and errno values through each rewritten form
// (syscall.RawSyscall's register form, the runtime's MOVL forms), many
// goroutines making calls on all Ps while the GC preempts them, a CPU
// profile whose samples must attribute time spent around system calls to
// the calling function, and a fault's traceback.
package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"
)

func fail(format string, args ...any) {
	fmt.Printf("syscallcalls: FAIL "+format+"\n", args...)
	os.Exit(1)
}

//go:noinline
func getpidLoop(d time.Duration) (calls int) {
	pid := uintptr(os.Getpid())
	for end := time.Now().Add(d); time.Now().Before(end); {
		for i := 0; i < 1000; i++ {
			if r, _, e := syscall.RawSyscall(syscall.SYS_GETPID, 0, 0, 0); r != pid || e != 0 {
				fail("getpid = %d, %v; want %d", r, e, pid)
			}
		}
		calls += 1000
	}
	return calls
}

// results: return values and errno through the rewritten sites.
func results() {
	if _, _, e := syscall.RawSyscall(syscall.SYS_CLOSE, ^uintptr(0), 0, 0); e != syscall.EBADF {
		fail("close(-1): %v, want EBADF", e)
	}
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		fail("pipe: %v", err)
	}
	msg := []byte("through the stub")
	if n, err := syscall.Write(p[1], msg); err != nil || n != len(msg) {
		fail("write: %d, %v", n, err)
	}
	buf := make([]byte, 64)
	if n, err := syscall.Read(p[0], buf); err != nil || string(buf[:n]) != string(msg) {
		fail("read: %q, %v", buf[:n], err)
	}
	syscall.Close(p[0])
	syscall.Close(p[1])
	fmt.Println("syscallcalls: results ok")
}

// goroutines: many goroutines making system calls (pipes: futex, read,
// write; sleeps: nanosleep, timers) while GCs preempt them.
func goroutines() {
	const workers, rounds = 64, 200
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	stop := make(chan struct{})
	go func() { // GC pressure: preemption requests to every goroutine
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
				time.Sleep(time.Millisecond)
			}
		}
	}()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r, wr, err := os.Pipe()
			if err != nil {
				fail("os.Pipe: %v", err)
			}
			defer r.Close()
			defer wr.Close()
			b := []byte{byte(w)}
			sum := 0
			for i := 0; i < rounds; i++ {
				if _, err := wr.Write(b); err != nil {
					fail("pipe write: %v", err)
				}
				if _, err := io.ReadFull(r, b); err != nil || b[0] != byte(w) {
					fail("pipe read: %v %d", err, b[0])
				}
				if syscall.Getpid() != os.Getpid() {
					fail("getpid mismatch")
				}
				if i%50 == 0 {
					time.Sleep(time.Microsecond)
				}
				sum++
			}
			mu.Lock()
			total += sum
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	close(stop)
	if total != workers*rounds {
		fail("goroutines: %d rounds, want %d", total, workers*rounds)
	}
	fmt.Printf("syscallcalls: %d goroutines ok\n", workers)
}

// profile: SIGPROF samples taken while a loop makes system calls must
// unwind to the loop.
func profile() {
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		fail("start profile: %v", err)
	}
	calls := getpidLoop(600 * time.Millisecond)
	pprof.StopCPUProfile()
	zr, err := gzip.NewReader(&buf)
	if err != nil {
		fail("gzip: %v", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		fail("read profile: %v", err)
	}
	if !bytes.Contains(raw, []byte("main.getpidLoop")) {
		fail("profile of %d bytes has no sample in main.getpidLoop", len(raw))
	}
	fmt.Printf("syscallcalls: profile ok (%d getpid calls)\n", calls)
}

type node struct{ next *node }

//go:noinline
func deref(n *node) *node { return n.next }

// fault: a nil dereference is a panic whose stack names the function.
func fault() {
	defer func() {
		if recover() == nil {
			fail("no panic from a nil dereference")
		}
		if st := debug.Stack(); !bytes.Contains(st, []byte("main.deref")) {
			fail("fault traceback lacks main.deref:\n%s", st)
		}
		fmt.Println("syscallcalls: fault traceback ok")
	}()
	deref(nil)
}

func main() {
	results()
	goroutines()
	profile()
	fault()
	fmt.Println("syscallcalls: ok")
}
