package abi

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

func TestTraceLayout(t *testing.T) {
	var b TraceBuffer
	assert.EqualValues(t, TraceEventSize, unsafe.Sizeof(TraceEvent{}))
	assert.EqualValues(t, TraceRingSize, unsafe.Sizeof(TraceRing{}))
	assert.EqualValues(t, TraceHeadSize, unsafe.Offsetof(b.Rings))
	assert.EqualValues(t, TraceSize, unsafe.Sizeof(b))
	assert.Zero(t, TraceEvents&(TraceEvents-1), "a power of two")
}

func TestConsoleDescriptorSizes(t *testing.T) {
	assert.EqualValues(t, ConsoleStringSize, unsafe.Sizeof(ConsoleString{}))
	assert.EqualValues(t, ConsoleInputSize, unsafe.Sizeof(ConsoleInput{}))
}

func TestConsoleRingLayout(t *testing.T) {
	var r ConsoleRing
	assert.EqualValues(t, ConsoleRingHeaderSize, unsafe.Sizeof(r))
	assert.EqualValues(t, ConsoleRingHeadOff, unsafe.Offsetof(r.Head))
	assert.EqualValues(t, ConsoleRingTailOff, unsafe.Offsetof(r.Tail))
	assert.EqualValues(t, ConsoleRingSleepOff, unsafe.Offsetof(r.Sleeping))
}
