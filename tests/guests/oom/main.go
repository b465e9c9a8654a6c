// Command oom allocates without bound: it must end in the Go runtime's own
// "out of memory" fatal error (exit 2), never a hang or a fault.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

var keep [][]byte

// vmSize returns the address space already reserved (VmSize in
// /proc/self/status), or 0 where the file does not say.
func vmSize() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmSize:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

func main() {
	// As a Linux process, cap the address space so the same program hits
	// the same error without exhausting the host. The cap sits 512 MiB
	// above what the runtime has already reserved, which differs from host
	// to host. (unigo's VM is capped by its memory size; the kernel
	// accepts and ignores the limit.)
	limit := vmSize() + 512<<20
	lim := syscall.Rlimit{Cur: limit, Max: limit}
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &lim); err != nil {
		fmt.Println("oom: setrlimit:", err)
	}
	for i := 0; ; i++ {
		b := make([]byte, 4<<20)
		for j := range b {
			b[j] = byte(i)
		}
		keep = append(keep, b)
		if i%16 == 0 {
			fmt.Println("oom: allocated", (i+1)*4, "MiB")
		}
	}
}
