// Command stress exercises the parts of the Go runtime a unikernel has to get
// right: the scheduler (100k goroutines talking over channels with select),
// the garbage collector (a churned live heap of at least 256 MiB), timers and
// tickers, the sync package, and finalizers. Every part checks its own
// results, prints "stress: <part> ok", and the program exits 1 with a message
// on the first wrong result.
//
// Usage:
//
//	stress [PART...]
//
// With no arguments every part runs, in the order goroutines, heap, timers,
// sync, finalizers. STRESS_SCALE (a positive float, default 1) scales the
// sizes down for slow machines and unit tests; at the default the program
// meets the numbers above and fits a 512 MiB VM, because the parts run one
// after another and the heap part caps the heap with a soft memory limit.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"
)

// part is one self-checking workload. run returns a description of the first
// wrong result, or nil.
type part struct {
	name string
	run  func(scale float64) error
}

var parts = []part{
	{"goroutines", runGoroutines},
	{"heap", runHeap},
	{"timers", runTimers},
	{"sync", runSync},
	{"finalizers", runFinalizers},
}

func main() {
	if err := mainErr(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "stress: %v\n", err)
		os.Exit(1)
	}
	fmt.Println("stress: all ok")
}

func mainErr(args []string) error {
	scale, err := scaleFromEnv()
	if err != nil {
		return err
	}
	selected, err := selectParts(args)
	if err != nil {
		return err
	}
	for _, p := range selected {
		start := time.Now()
		if err := p.run(scale); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		fmt.Printf("stress: %s ok (%v)\n", p.name, time.Since(start).Round(time.Millisecond))
		// Hand the memory of one part back before the next starts, so
		// the parts' peaks do not add up inside a small VM.
		runtime.GC()
		debug.FreeOSMemory()
	}
	return nil
}

func scaleFromEnv() (float64, error) {
	s := os.Getenv("STRESS_SCALE")
	if s == "" {
		return 1, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 || f > 1 {
		return 0, fmt.Errorf("STRESS_SCALE=%q: want a number in (0, 1]", s)
	}
	return f, nil
}

func selectParts(args []string) ([]part, error) {
	if len(args) == 0 {
		return parts, nil
	}
	var out []part
	for _, a := range args {
		found := false
		for _, p := range parts {
			if p.name == a {
				out = append(out, p)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown part %q (want goroutines, heap, timers, sync or finalizers)", a)
		}
	}
	return out, nil
}

// scaled returns n*scale, but at least min.
func scaled(n int, scale float64, min int) int {
	v := int(float64(n) * scale)
	if v < min {
		return min
	}
	return v
}
