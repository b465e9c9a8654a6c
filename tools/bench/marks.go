package bench

import (
	"io"
	"time"

	"github.com/unigo-os/unigo/tools/bench/mark"
)

// The lines `unigo run -bench` writes, from package mark.
const prefix = mark.Prefix

// Now is CLOCK_MONOTONIC in nanoseconds (mark.Now).
func Now() int64 { return mark.Now() }

// Mark writes a phase's mark line (mark.Mark).
func Mark(w io.Writer, phase string, ns int64) { mark.Mark(w, phase, ns) }

// FirstWrite marks the first write to w (mark.FirstWrite).
func FirstWrite(w io.Writer, f func()) io.Writer { return mark.FirstWrite(w, f) }

// Memory writes the memory line (mark.Memory).
func Memory(w io.Writer, guest []byte) { mark.Memory(w, guest) }

// ParseLines reads mark and memory lines (mark.ParseLines).
func ParseLines(s string, start int64) (map[string]time.Duration, map[string]int64) {
	return mark.ParseLines(s, start)
}
