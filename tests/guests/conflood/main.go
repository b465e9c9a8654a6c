// Command conflood writes a numbered pattern to stdout, -bytes in all, in
// writes of -chunk bytes, then a summary line: the host checks that every
// byte arrived, in order, however slowly it reads the console.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"
)

// Line is the pattern's line i: 64 bytes.
func Line(i int) string {
	return fmt.Sprintf("%08d abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123\n", i)
}

func main() {
	total := flag.Int("bytes", 1<<20, "bytes to write")
	chunk := flag.Int("chunk", 4096, "bytes per write")
	flag.Parse()
	var all []byte
	for i := 0; len(all) < *total; i++ {
		all = append(all, Line(i)...)
	}
	all = all[:*total]
	start := time.Now()
	for p := all; len(p) > 0; {
		n := min(len(p), *chunk)
		if _, err := os.Stdout.Write(p[:n]); err != nil {
			fmt.Fprintln(os.Stderr, "conflood:", err)
			os.Exit(1)
		}
		p = p[n:]
	}
	d := time.Since(start)
	fmt.Fprintf(os.Stderr, "conflood: wrote %d bytes in %v (%.1f MB/s)\n", *total, d.Round(time.Microsecond), float64(*total)/d.Seconds()/1e6)
}
