package devices

import (
	"encoding/binary"
	"sync/atomic"
	"testing"

	"github.com/unigo-os/unigo/abi"
)

// FuzzConsoleRing drives the launcher's console ring consumer with a guest
// that controls everything in its RAM and every port write: each op is a
// kind byte and an 8-byte little-endian value: 0 a port write of the
// value's low 32 bits (an announcement, a kick, a wait), 1 a store of the
// value as the Head of the ring at 0x1000, 2 a store of the value as the
// Size at 0x1000, 3 a byte of data at an offset, 4 a drain. Nothing may
// panic or hang; the ring never hands out more than Head said, nor a
// piece larger than the UART's FIFO; Close returns.
func FuzzConsoleRing(f *testing.F) {
	op := func(kind byte, v uint64) []byte { return binary.LittleEndian.AppendUint64([]byte{kind}, v) }
	cat := func(ops ...[]byte) []byte {
		var b []byte
		for _, o := range ops {
			b = append(b, o...)
		}
		return b
	}
	f.Add(cat(op(2, 4096), op(0, 0x1000), op(3, 0x41<<32|0), op(1, 1), op(4, 0), op(0, abi.ConsoleRingKick)))
	f.Add(cat(op(2, 4096), op(0, 0x1000), op(1, 5000), op(0, abi.ConsoleRingWait), op(4, 0)))
	f.Add(cat(op(2, 1<<14), op(0, 0x1000), op(1, 1<<14), op(4, 0), op(1, 1<<15-1), op(4, 0), op(1, 0)))
	f.Add(cat(op(2, 1<<15), op(0, 0xffff_fff8), op(0, 0x1001), op(0, 0x1000)))
	f.Fuzz(func(t *testing.T, ops []byte) {
		const memSize = 64 << 10
		const hdr = 0x1000
		var total, maxHead uint64
		r, mem := newTestRing(memSize, func(b []byte) {
			if len(b) > ringChunk {
				t.Errorf("a piece of %d bytes", len(b))
			}
			atomic.AddUint64(&total, uint64(len(b)))
		})
		word := func(off uint64) *uint64 { return (*uint64)(unsafePointer(&mem[hdr+off])) }
		for ; len(ops) >= 9; ops = ops[9:] {
			v := binary.LittleEndian.Uint64(ops[1:])
			switch ops[0] % 5 {
			case 0:
				r.Out(0, le32(uint32(v)))
			case 1:
				maxHead = max(maxHead, v)
				atomic.StoreUint64(word(abi.ConsoleRingHeadOff), v)
			case 2:
				atomic.StoreUint64(word(0), v)
			case 3:
				mem[v%memSize] = byte(v >> 32)
			case 4:
				if r.Announced() {
					r.drain()
				}
			}
		}
		r.Close()
		if got := atomic.LoadUint64(&total); got > maxHead {
			t.Fatalf("%d bytes out, Head never above %d", got, maxHead)
		}
	})
}
