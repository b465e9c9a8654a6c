package vmm

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/tools/vmm/devices"
)

// TestConsoleInput: a descriptor written to abi.PortConsoleInput receives
// up to its capacity of the queued input and the count; the end of input
// is reported once everything was taken. A descriptor outside guest RAM,
// or one whose buffer is outside it or wraps around, takes nothing and
// writes nothing into guest memory.
func TestConsoleInput(t *testing.T) {
	const memSize = 1 << 20
	v := &VM{mem: make([]byte, memSize), uart: devices.NewUART(&lockedBuf{}, nil)}
	desc := func(at, addr, n uint64) uint64 {
		binary.LittleEndian.PutUint64(v.mem[at:], addr)
		binary.LittleEndian.PutUint64(v.mem[at+8:], n)
		binary.LittleEndian.PutUint64(v.mem[at+16:], 0xdead)
		binary.LittleEndian.PutUint64(v.mem[at+24:], 0xbeef)
		return at
	}
	result := func(at uint64) (n, flags uint64) {
		return binary.LittleEndian.Uint64(v.mem[at+16:]), binary.LittleEndian.Uint64(v.mem[at+24:])
	}
	require.Equal(t, 11, v.uart.Feed([]byte("hello world")))

	for _, d := range []uint64{
		memSize,                          // descriptor outside RAM
		memSize - 8,                      // descriptor straddling its end
		desc(0x1000, memSize-2, 6),       // buffer straddling the end
		desc(0x1000, ^uint64(0)-2, 6),    // buffer address wrapping around
		desc(0x1000, 0x2000, memSize),    // longer than RAM
		desc(0x1000, 0x2000, ^uint64(0)), // absurd length
		0xFFFFFFFF,                       // the largest port value
	} {
		before := append([]byte(nil), v.mem...)
		v.consoleInput(d)
		require.Equal(t, before, v.mem, "descriptor at %#x", d)
	}

	v.consoleInput(desc(0x1000, 0x2000, 5))
	n, flags := result(0x1000)
	assert.EqualValues(t, 5, n)
	assert.Zero(t, flags)
	assert.Equal(t, "hello", string(v.mem[0x2000:0x2005]))

	v.uart.Hangup()
	v.consoleInput(desc(0x1000, 0x3000, 100))
	n, flags = result(0x1000)
	assert.EqualValues(t, 6, n)
	assert.EqualValues(t, abi.ConsoleInputEOF, flags, "all input taken after the hangup")
	assert.Equal(t, " world", string(v.mem[0x3000:0x3006]))

	v.consoleInput(desc(0x1000, 0x3000, 100))
	n, flags = result(0x1000)
	assert.Zero(t, n)
	assert.EqualValues(t, abi.ConsoleInputEOF, flags)
}
