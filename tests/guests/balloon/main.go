// Command balloon fills memory and gives it back, for the free page
// reporting test (tests/balloon_test.go): it allocates and writes 96 MiB,
// says so and holds it for a while, drops it (runtime/debug.FreeOSMemory:
// the runtime unmaps it, the kernel frees the frames), says so, idles,
// says so and idles again before exiting. The host samples the VM's
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
	fmt.Println("balloon: done")
}
