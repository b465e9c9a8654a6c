// Command conflood writes a numbered pattern to stdout, -bytes in all, in
// writes of -chunk bytes, then a summary line: the host checks that every
// byte arrived, in order, however slowly it reads the console. With
// -interleave, every other write goes to stderr; with -end exit3 or
// -end panic it ends right after its last write, without the summary, by
// os.Exit(3) or by panicking: the last bytes must still arrive.
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
	interleave := flag.Bool("interleave", false, "alternate between stdout and stderr")
	end := flag.String("end", "", "how to end without the summary: exit3 or panic")
	flag.Parse()
	var all []byte
	for i := 0; len(all) < *total; i++ {
		all = append(all, Line(i)...)
	}
	all = all[:*total]
	start := time.Now()
	for i, p := 0, all; len(p) > 0; i++ {
		n := min(len(p), *chunk)
		f := os.Stdout
		if *interleave && i%2 == 1 {
			f = os.Stderr
		}
		if _, err := f.Write(p[:n]); err != nil {
			fmt.Fprintln(os.Stderr, "conflood:", err)
			os.Exit(1)
		}
		p = p[n:]
	}
	switch *end {
	case "exit3":
		os.Exit(3)
	case "panic":
		panic("conflood: panic after writing")
	}
	d := time.Since(start)
	fmt.Fprintf(os.Stderr, "conflood: wrote %d bytes in %v (%.1f MB/s)\n", *total, d.Round(time.Microsecond), float64(*total)/d.Seconds()/1e6)
}
