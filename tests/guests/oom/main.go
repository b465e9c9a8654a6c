// Command oom allocates without bound: it must end in the Go runtime's own
// "out of memory" fatal error (exit 2), never a hang or a fault.
package main

import (
	"fmt"
	"syscall"
)

var keep [][]byte

func main() {
	// As a Linux process, cap the address space so the same program hits
	// the same error without exhausting the host. (unigo's VM is capped by
	// its memory size; the kernel accepts and ignores the limit.)
	lim := syscall.Rlimit{Cur: 1 << 30, Max: 1 << 30}
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
