// Command faults checks that CPU faults reach Go as they do on Linux:
// recoverable runtime panics, debug.SetPanicOnFault, and Go's own fatal
// error for runaway recursion (run with the argument "overflow").
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"unsafe"
)

type node struct {
	next *node
	v    int
}

func catch(name string, want string, f func()) {
	defer func() {
		r := recover()
		if r == nil {
			fmt.Printf("faults: %s: no panic\n", name)
			os.Exit(1)
		}
		msg := fmt.Sprint(r)
		if !strings.Contains(msg, want) {
			fmt.Printf("faults: %s: panic %q, want %q\n", name, msg, want)
			os.Exit(1)
		}
		fmt.Printf("faults: %s ok (%s)\n", name, msg)
	}()
	f()
}

var zero = 0
var sink int

func recurse(n int) int {
	var pad [64]byte
	pad[n%64] = byte(n)
	return recurse(n+1) + int(pad[0])
}

// efault checks that system calls told to write into the image's
// read-only memory (text and rodata) fail with EFAULT, as on Linux,
// rather than writing there or crashing the kernel.
func efault() {
	ro := uintptr(unsafe.Pointer(unsafe.StringData("read-only target of the EFAULT checks")))
	for _, c := range []struct {
		name string
		nr   uintptr
		a    [3]uintptr
	}{
		{"pipe2", syscall.SYS_PIPE2, [3]uintptr{ro, 0, 0}},
		{"getcwd", syscall.SYS_GETCWD, [3]uintptr{ro, 64, 0}},
		{"clock_getres", 229, [3]uintptr{0, ro, 0}}, // SYS_CLOCK_GETRES
		{"uname", syscall.SYS_UNAME, [3]uintptr{ro, 0, 0}},
	} {
		_, _, e := syscall.RawSyscall(c.nr, c.a[0], c.a[1], c.a[2])
		if e != syscall.EFAULT {
			fmt.Printf("faults: %s into read-only memory: errno %d (%v), want EFAULT\n", c.name, int(e), e)
			os.Exit(1)
		}
	}
	fmt.Println("faults: efault ok")
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "overflow" {
		debug.SetMaxStack(1 << 20)
		fmt.Println(recurse(0))
		return
	}
	catch("nil", "nil pointer dereference", func() {
		var p *node
		sink = p.v
	})
	catch("nil-write", "nil pointer dereference", func() {
		var p *node
		p.v = 1
	})
	catch("divide", "integer divide by zero", func() {
		sink = 10 / zero
	})
	catch("unsafe-slice", "index out of range", func() {
		b := make([]byte, 8)
		s := unsafe.Slice(&b[0], 4)
		sink = int(s[len(b)+zero])
	})
	// Faults at addresses other than nil are fatal in Go unless the
	// goroutine asked for panics with debug.SetPanicOnFault.
	old := debug.SetPanicOnFault(true)
	catch("panic-on-fault", "invalid memory address", func() {
		p := (*int)(unsafe.Pointer(uintptr(0x7ffe00000000)))
		sink = *p
	})
	catch("read-only", "invalid memory address", func() {
		s := "constant data lives in read-only memory"
		b := unsafe.Slice(unsafe.StringData(s), len(s))
		b[0] = 'C'
	})
	debug.SetPanicOnFault(old)
	efault()
	runtime.GC()
	fmt.Println("faults: all ok")
}
