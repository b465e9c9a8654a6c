package crash

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/unigo-os/unigo/abi"
)

// TraceEvent is one kernel entry from the guest's trace buffer.
type TraceEvent struct {
	CPU int    // kernel CPU index (the ring it came from)
	Seq uint64 // its number among the events of its CPU
	abi.TraceEvent
}

// ParseTrace decodes the abi.TraceBuffer in b (abi.TraceSize bytes copied
// from guest memory) and returns the events its rings hold, oldest first by
// TSC. The buffer is untrusted: the CPU count and the ring indices are
// clamped to the layout, so a hostile guest gets at most
// abi.TraceMaxCPUs*abi.TraceEvents events of garbage, never a panic.
func ParseTrace(b []byte) ([]TraceEvent, error) {
	if len(b) < abi.TraceSize {
		return nil, fmt.Errorf("trace buffer truncated: %d of %d bytes", len(b), abi.TraceSize)
	}
	le := binary.LittleEndian
	if m := le.Uint64(b); m != abi.TraceMagic {
		if m == 0 {
			return nil, errors.New("trace buffer not initialised (the kernel had not started)")
		}
		return nil, fmt.Errorf("trace buffer has bad magic %#x", m)
	}
	if v := le.Uint32(b[8:]); v != abi.Version {
		return nil, fmt.Errorf("trace buffer has version %d, want %d", v, abi.Version)
	}
	cpus := min(le.Uint32(b[12:]), abi.TraceMaxCPUs)
	var evs []TraceEvent
	for cpu := 0; cpu < int(cpus); cpu++ {
		ring := b[abi.TraceHeadSize+cpu*abi.TraceRingSize:][:abi.TraceRingSize]
		next := le.Uint64(ring)
		for seq := next - min(next, abi.TraceEvents); seq != next; seq++ {
			e := ring[64+(seq%abi.TraceEvents)*abi.TraceEventSize:][:abi.TraceEventSize]
			evs = append(evs, TraceEvent{CPU: cpu, Seq: seq, TraceEvent: abi.TraceEvent{
				TSC: le.Uint64(e), RIP: le.Uint64(e[8:]), Arg: le.Uint64(e[16:]),
				Vector: le.Uint32(e[24:]), Error: le.Uint32(e[28:]),
			}})
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].TSC < evs[j].TSC })
	return evs, nil
}

// WriteTrace writes the last n of evs (as ParseTrace returns them), one
// line each: CPU, time before the newest event (tscKHz converts TSC ticks;
// 0 prints ticks), what the entry was, and the symbolized RIP.
func WriteTrace(w io.Writer, syms *Symbols, evs []TraceEvent, n int, tscKHz uint64) error {
	ew := &errWriter{w: w}
	if len(evs) == 0 {
		ew.printf("  (no events)\n")
		return ew.err
	}
	evs = evs[max(0, len(evs)-n):]
	newest := evs[len(evs)-1].TSC
	unit := "ms"
	if tscKHz == 0 {
		unit = "ticks"
	}
	ew.printf("  %3s %14s  %-36s %s\n", "cpu", "time/"+unit, "event", "at")
	for _, e := range evs {
		d := float64(newest - e.TSC)
		if tscKHz != 0 {
			d /= float64(tscKHz)
		}
		t := "0"
		if d != 0 {
			t = fmt.Sprintf("-%.3f", d)
			if tscKHz == 0 {
				t = fmt.Sprintf("-%.0f", d)
			}
		}
		ew.printf("  %3d %14s  %-36s %s\n", e.CPU, t, EventString(&e.TraceEvent), syms.Lookup(e.RIP))
	}
	return ew.err
}

// EventString describes a trace event: the system call and its number,
// the exception with its error code (and CR2 for a page fault), or the
// interrupt vector.
func EventString(e *abi.TraceEvent) string {
	switch v := uint64(e.Vector); {
	case v == abi.TraceVecSyscall:
		return fmt.Sprintf("syscall %d", e.Arg)
	case v == abi.TraceVecPending:
		return "deferred interrupts"
	case v == 14:
		return fmt.Sprintf("#PF %#x (%s)", e.Arg, pfShort(e.Error))
	case v < 32:
		name := fmt.Sprintf("exception %d", v)
		if ex, ok := exceptions[v]; ok {
			name = ex[0]
		}
		if e.Error != 0 {
			name += fmt.Sprintf(" error %#x", e.Error)
		}
		return name
	case v < 256:
		return fmt.Sprintf("interrupt %d", v)
	}
	return fmt.Sprintf("vector %#x", e.Vector)
}

// pfShort is a terse page fault error code: read, write or fetch, and
// whether the page was present (a protection fault). All unigo code runs
// at CPL 3, so the user bit says nothing.
func pfShort(code uint32) string {
	s := "read"
	switch {
	case code&(1<<4) != 0:
		s = "fetch"
	case code&(1<<1) != 0:
		s = "write"
	}
	if code&1 != 0 {
		s += ", protection"
	}
	return s
}
