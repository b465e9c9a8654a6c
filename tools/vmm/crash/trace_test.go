package crash

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/abi"
)

// traceBytes encodes tb the way the guest lays it out.
func traceBytes(tb *abi.TraceBuffer) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, tb)
	return b.Bytes()
}

// push appends an event to ring r the way trapEntry does.
func push(r *abi.TraceRing, e abi.TraceEvent) {
	r.Events[r.Next%abi.TraceEvents] = e
	r.Next++
}

func newTrace(cpus uint32) *abi.TraceBuffer {
	return &abi.TraceBuffer{Magic: abi.TraceMagic, Version: abi.Version, CPUs: cpus}
}

func TestParseTrace(t *testing.T) {
	tb := newTrace(2)
	// CPU 0 wrapped around: 70 events, the ring keeps the last 64 (6..69).
	for i := uint64(0); i < 70; i++ {
		push(&tb.Rings[0], abi.TraceEvent{TSC: 1000 + 10*i, RIP: 0x401000 + i, Arg: i, Vector: abi.TraceVecSyscall})
	}
	// CPU 1 interleaves with CPU 0's last events.
	for i := uint64(0); i < 3; i++ {
		push(&tb.Rings[1], abi.TraceEvent{TSC: 1005 + 10*(67+i), RIP: 0x402000, Arg: 0xdead000, Vector: 14, Error: 2})
	}
	evs, err := ParseTrace(traceBytes(tb))
	require.NoError(t, err)
	require.Len(t, evs, 67)
	assert.Equal(t, uint64(6), evs[0].Seq)
	assert.Equal(t, uint64(6), evs[0].Arg)
	for i := 1; i < len(evs); i++ {
		assert.LessOrEqual(t, evs[i-1].TSC, evs[i].TSC)
	}
	last := evs[len(evs)-4:]
	assert.Equal(t, []int{0, 1, 0, 1}, []int{last[0].CPU, last[1].CPU, last[2].CPU, last[3].CPU})
	assert.Equal(t, uint64(2), last[3].Seq)

	var out strings.Builder
	require.NoError(t, WriteTrace(&out, nil, evs, 4, 1000)) // 1 MHz: 1 tick = 1 µs
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, 5, out.String())
	assert.Contains(t, lines[0], "time/ms")
	assert.Contains(t, lines[1], "-0.015")
	assert.Contains(t, lines[1], "syscall 68")
	assert.Contains(t, lines[2], "#PF 0xdead000 (write)")
	assert.Contains(t, lines[4], " 0  ")
	assert.Contains(t, lines[4], "0x402000")
}

func TestParseTraceHostile(t *testing.T) {
	good := traceBytes(newTrace(1))
	_, err := ParseTrace(good[:abi.TraceSize-1])
	assert.ErrorContains(t, err, "truncated")

	tb := newTrace(1)
	tb.Magic = 0
	_, err = ParseTrace(traceBytes(tb))
	assert.ErrorContains(t, err, "not initialised")
	tb.Magic = 0x1234
	_, err = ParseTrace(traceBytes(tb))
	assert.ErrorContains(t, err, "bad magic")
	tb = newTrace(1)
	tb.Version = 99
	_, err = ParseTrace(traceBytes(tb))
	assert.ErrorContains(t, err, "version 99")

	// A CPU count beyond the layout is clamped; huge indices wrap in the
	// ring, and no ring yields more than it holds.
	tb = newTrace(math.MaxUint32)
	tb.Rings[0].Next = math.MaxUint64
	tb.Rings[abi.TraceMaxCPUs-1].Next = abi.TraceEvents + 1
	tb.Rings[3].Next = 5
	evs, err := ParseTrace(traceBytes(tb))
	require.NoError(t, err)
	assert.Len(t, evs, 2*abi.TraceEvents+5)
	for _, e := range evs {
		assert.Contains(t, []int{0, 3, abi.TraceMaxCPUs - 1}, e.CPU)
	}

	// Times that are not in order across CPUs, and a vector no CPU makes.
	tb = newTrace(2)
	push(&tb.Rings[0], abi.TraceEvent{TSC: math.MaxUint64, Vector: 0xffffffff})
	push(&tb.Rings[1], abi.TraceEvent{TSC: 0, Vector: 13, Error: 0x18})
	evs, err = ParseTrace(traceBytes(tb))
	require.NoError(t, err)
	var out strings.Builder
	require.NoError(t, WriteTrace(&out, nil, evs, 64, 0))
	assert.Contains(t, out.String(), "time/ticks")
	assert.Contains(t, out.String(), "#GP error 0x18")
	assert.Contains(t, out.String(), "vector 0xffffffff")
}

func TestEventString(t *testing.T) {
	for _, tc := range []struct {
		e    abi.TraceEvent
		want string
	}{
		{abi.TraceEvent{Vector: abi.TraceVecSyscall, Arg: 202}, "syscall 202"},
		{abi.TraceEvent{Vector: abi.TraceVecPending}, "deferred interrupts"},
		{abi.TraceEvent{Vector: 14, Arg: 0x10, Error: 0}, "#PF 0x10 (read)"},
		{abi.TraceEvent{Vector: 14, Arg: 0x10, Error: 0x11}, "#PF 0x10 (fetch, protection)"},
		{abi.TraceEvent{Vector: 6}, "#UD"},
		{abi.TraceEvent{Vector: 31}, "exception 31"},
		{abi.TraceEvent{Vector: 236}, "interrupt 236"},
	} {
		assert.Equal(t, tc.want, EventString(&tc.e))
	}
}

func TestWriteTraceEmpty(t *testing.T) {
	var out strings.Builder
	require.NoError(t, WriteTrace(&out, nil, nil, 64, 1))
	assert.Equal(t, "  (no events)\n", out.String())
}

// The symbol table gives the address of package variables too.
func TestSymbolsObject(t *testing.T) {
	path := buildProg(t)
	syms, err := LoadSymbols(path)
	require.NoError(t, err)
	f, err := elf.Open(path)
	require.NoError(t, err)
	defer f.Close()
	wantAddr, wantSize := symbolAddr(t, f, "runtime.buildVersion")
	addr, size, ok := syms.Object("runtime.buildVersion")
	require.True(t, ok)
	assert.Equal(t, wantAddr, addr)
	assert.Equal(t, wantSize, size)
	_, _, ok = syms.Object("runtime.main") // a function, not data
	assert.False(t, ok)
	_, _, ok = (*Symbols)(nil).Object(abi.TraceSymbol)
	assert.False(t, ok)
}

// FuzzParseTrace feeds random trace buffers (the input is the start of
// the buffer, the rest zero) and random truncated ones to the parser and
// the printer: they must never panic, and the parser must stay within the
// layout's bounds.
func FuzzParseTrace(f *testing.F) {
	tb := newTrace(2)
	for i := uint64(0); i < 5; i++ {
		push(&tb.Rings[0], abi.TraceEvent{TSC: 100 * i, RIP: 0x401000, Arg: 1, Vector: abi.TraceVecSyscall})
	}
	push(&tb.Rings[1], abi.TraceEvent{TSC: 250, RIP: 0x402000, Arg: 0x10, Vector: 14, Error: 4})
	full := traceBytes(tb)
	f.Add(full[:abi.TraceHeadSize+2*abi.TraceRingSize], uint64(1000))
	tb.Rings[0].Next = math.MaxUint64
	tb.CPUs = 1000
	f.Add(traceBytes(tb)[:abi.TraceHeadSize+abi.TraceRingSize], uint64(0))
	f.Add(full[:16], uint64(1))
	f.Fuzz(func(t *testing.T, data []byte, khz uint64) {
		ParseTrace(data) // usually truncated; must not panic
		buf := make([]byte, abi.TraceSize)
		copy(buf, data)
		evs, err := ParseTrace(buf)
		if err != nil {
			return
		}
		if len(evs) > abi.TraceMaxCPUs*abi.TraceEvents {
			t.Fatalf("%d events", len(evs))
		}
		perCPU := map[int]int{}
		for i, e := range evs {
			if e.CPU < 0 || e.CPU >= abi.TraceMaxCPUs {
				t.Fatalf("cpu %d", e.CPU)
			}
			if perCPU[e.CPU]++; perCPU[e.CPU] > abi.TraceEvents {
				t.Fatalf("cpu %d: more than %d events", e.CPU, abi.TraceEvents)
			}
			if i > 0 && evs[i-1].TSC > e.TSC {
				t.Fatal("not sorted by TSC")
			}
		}
		var out bytes.Buffer
		if err := WriteTrace(&out, nil, evs, 64, khz); err != nil {
			t.Fatal(err)
		}
	})
}
