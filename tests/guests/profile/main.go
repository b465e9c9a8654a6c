// Command profile checks that runtime/pprof CPU profiles record real
// samples: a profile of a busy loop must name the busy function.
package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"time"
)

var sink uint64

//go:noinline
func busyWork(d time.Duration) {
	end := time.Now().Add(d)
	x := uint64(1)
	for time.Now().Before(end) {
		for i := 0; i < 100000; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	sink = x
}

func main() {
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		fmt.Println("profile: start:", err)
		os.Exit(1)
	}
	busyWork(800 * time.Millisecond)
	pprof.StopCPUProfile()
	zr, err := gzip.NewReader(&buf)
	if err != nil {
		fmt.Println("profile: gzip:", err)
		os.Exit(1)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		fmt.Println("profile: read:", err)
		os.Exit(1)
	}
	// The profile's string table holds the names of sampled functions.
	if !bytes.Contains(raw, []byte("main.busyWork")) {
		fmt.Printf("profile: %d bytes, no sample in main.busyWork\n", len(raw))
		os.Exit(1)
	}
	fmt.Printf("profile: busyWork sampled (%d bytes)\n", len(raw))
	fmt.Println("profile: ok")
}
