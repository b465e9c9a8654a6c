package virtio

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzUsedRing lets the fuzzer play a hostile device: it interleaves
// driver operations (add chains, pop, re-enable interrupts) with used-ring
// entries and index moves of its choosing. Whatever the device writes, the
// queue must not panic, must only hand back tokens of chains in flight
// with lengths they can hold, must keep its descriptor accounting exact,
// and once broken must stay broken having reported exactly once.
func FuzzUsedRing(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 0x40, 0, 0, 0x80, 0x81})
	f.Add([]byte{0, 0, 0, 0x41, 0x90, 0x42, 0x55, 0x80, 0x80, 0x80})
	f.Add([]byte{0x01, 0x02, 0x43, 0x07, 0xff, 0x80, 0xc0, 0xc1, 0x80})
	f.Add([]byte{0x03, 0x44, 0x10, 0x10, 0x10, 0x10, 0x80, 0x80})
	f.Fuzz(func(t *testing.T, script []byte) {
		const size = 8
		q, dev, reports := newTestQueue(t, size, len(script)%2 == 0)
		type rec struct {
			writable uint32
			n        int
		}
		inflight := map[uint64]rec{}
		next := uint64(1)
		descs := 0
		for i := 0; i < len(script); i++ {
			op := script[i]
			switch {
			case op < 0x40: // driver adds a chain of 1-4 buffers
				n := int(op&3) + 1
				bufs := make([]Buffer, n)
				var w uint32
				for j := range bufs {
					bufs[j] = Buffer{Addr: uint64(0x100000 * (j + 1)), Len: uint32(op>>2) * 64, Write: j >= n/2}
					if bufs[j].Write {
						w += bufs[j].Len
					}
				}
				err := q.Add(next, bufs...)
				if err == nil {
					inflight[next] = rec{w, n}
					descs += n
					next++
					q.Kick()
				}
			case op < 0x80: // device completes a real head with a length
				if h, _, ok := dev.next(); ok {
					n := uint32(0)
					if i+1 < len(script) {
						i++
						n = uint32(script[i]) * 64
					}
					if op&1 != 0 {
						h ^= uint16(op >> 1 & 7) // sometimes the wrong id
					}
					dev.use(uint32(h), n)
				}
			case op < 0xc0: // driver pops
				tok, n, ok, err := q.Pop()
				if err != nil {
					require.ErrorIs(t, err, ErrBroken)
					require.False(t, ok)
					continue
				}
				if ok {
					r, found := inflight[tok]
					require.True(t, found, "token %d not in flight", tok)
					require.LessOrEqual(t, n, r.writable)
					delete(inflight, tok)
					descs -= r.n
				}
			default: // device writes a raw used entry and moves its index
				if i+2 < len(script) {
					dev.use(uint32(script[i+1]), uint32(script[i+2])<<4)
					i += 2
				}
				q.EnableInterrupts()
			}
			if q.Broken() == nil {
				require.Equal(t, size-descs, q.Free())
				require.Equal(t, len(inflight), q.InFlight())
				require.Empty(t, *reports)
			} else {
				require.Len(t, *reports, 1)
			}
		}
	})
}
