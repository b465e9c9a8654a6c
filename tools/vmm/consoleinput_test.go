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

// FuzzConsoleInput writes a guest-chosen descriptor (at a guest-chosen
// port value) to abi.PortConsoleInput: nothing panics, guest memory
// changes only in the buffer the descriptor names (within RAM) and in its
// Len and Flags, Len never exceeds the capacity or the input queued, and
// the buffer receives the queued input's first Len bytes.
func FuzzConsoleInput(f *testing.F) {
	f.Add(uint32(0x1000), uint64(0x2000), uint64(5), []byte("hello"), false)
	f.Add(uint32(0x1000), uint64(0x1008), uint64(100), []byte("overlapping the descriptor"), true)
	f.Add(uint32(1<<16-8), uint64(0), uint64(1<<16), []byte("x"), true)
	f.Add(uint32(0xFFFFFFFF), ^uint64(0), ^uint64(0), []byte{}, false)
	f.Fuzz(func(t *testing.T, paddr uint32, addr, n uint64, input []byte, hangup bool) {
		const memSize = 1 << 16
		v := &VM{mem: make([]byte, memSize), uart: devices.NewUART(&lockedBuf{}, nil)}
		if uint64(paddr)+16 <= memSize {
			binary.LittleEndian.PutUint64(v.mem[paddr:], addr)
			binary.LittleEndian.PutUint64(v.mem[paddr+8:], n)
		}
		fed := v.uart.Feed(input)
		if hangup {
			v.uart.Hangup()
		}
		before := append([]byte(nil), v.mem...)
		v.consoleInput(uint64(paddr))
		descOK := uint64(paddr)+abi.ConsoleInputSize <= memSize
		bufOK := addr <= memSize && n <= memSize-addr
		if !descOK || !bufOK {
			require.Equal(t, before, v.mem)
			return
		}
		got := binary.LittleEndian.Uint64(v.mem[paddr+16:])
		require.LessOrEqual(t, got, n)
		require.LessOrEqual(t, got, uint64(fed))
		for i := range v.mem {
			inDesc := uint64(i) >= uint64(paddr)+16 && uint64(i) < uint64(paddr)+abi.ConsoleInputSize
			inBuf := uint64(i) >= addr && uint64(i) < addr+got
			if !inDesc && !inBuf && v.mem[i] != before[i] {
				t.Fatalf("byte %#x changed outside the buffer and the result", i)
			}
		}
		if addr+got <= uint64(paddr) || addr >= uint64(paddr)+abi.ConsoleInputSize {
			require.Equal(t, input[:got], v.mem[addr:addr+got])
		}
	})
}
