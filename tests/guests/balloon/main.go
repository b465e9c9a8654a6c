// Command balloon fills memory and gives it back, for the free page
// reporting test (tests/balloon_test.go): it allocates and writes 96 MiB,
// says so and holds it for a while, drops it (runtime/debug.FreeOSMemory:
// the runtime unmaps it, the kernel frees the frames), says so, idles,
// says so and idles again, then allocates the 96 MiB once more and checks
// it reads zero (the kernel clears reported frames it hands out again). The host samples the VM's
// resident memory after "filled" and after "idled".
package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"time"
)

const size = 96 << 20

var sink [][]byte

func main() {
	hold := 2 * time.Second
	if len(os.Args) > 1 {
		d, err := time.ParseDuration(os.Args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, "balloon:", err)
			os.Exit(2)
		}
		hold = d
	}
	for n := 0; n < size; n += 1 << 20 {
		b := make([]byte, 1<<20)
		for i := range b {
			b[i] = byte(i) | 1
		}
		sink = append(sink, b)
	}
	fmt.Printf("balloon: filled %d MiB\n", size>>20)
	time.Sleep(hold)
	sink = nil
	debug.FreeOSMemory()
	fmt.Println("balloon: dropped")
	time.Sleep(3 * time.Second)
	fmt.Println("balloon: idled")
	time.Sleep(hold)
	// The memory again: what the kernel hands out must read zero, though
	// the host may have left anything in reported frames.
	for n := 0; n < size; n += 1 << 20 {
		b := make([]byte, 1<<20)
		for i, c := range b {
			if c != 0 {
				fmt.Printf("balloon: reused memory not zero: byte %d of MiB %d is %#x\n", i, n>>20, c)
				os.Exit(1)
			}
		}
		for i := range b {
			b[i] = byte(i) | 1
		}
		sink = append(sink, b)
	}
	fmt.Printf("balloon: refilled %d MiB, read zero\n", size>>20)
}
