package devices

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/abi"
)

// ringGuest is the guest's side of a console ring in a fake guest RAM.
type ringGuest struct {
	mem       []byte
	hdr, size uint64
}

func (g *ringGuest) word(off uint64) *uint64 {
	return (*uint64)(unsafePointer(&g.mem[g.hdr+off]))
}

// write appends b as the kernel does, waiting for room through wait.
func (g *ringGuest) write(b []byte, r *ConsoleRing) {
	head := atomic.LoadUint64(g.word(abi.ConsoleRingHeadOff))
	for len(b) > 0 {
		used := head - atomic.LoadUint64(g.word(abi.ConsoleRingTailOff))
		if used >= g.size {
			r.Out(0, le32(abi.ConsoleRingWait))
			continue
		}
		off := head & (g.size - 1)
		k := min(uint64(len(b)), g.size-used, g.size-off)
		copy(g.mem[g.hdr+abi.ConsoleRingHeaderSize+off:], b[:k])
		head += k
		atomic.StoreUint64(g.word(abi.ConsoleRingHeadOff), head)
		b = b[k:]
	}
	if atomic.LoadUint64(g.word(abi.ConsoleRingSleepOff)) != 0 {
		r.Out(0, le32(abi.ConsoleRingKick))
	}
}

// setHead stores a ring's Head as the guest does.
func setHead(mem []byte, hdr, head uint64) {
	atomic.StoreUint64((*uint64)(unsafePointer(&mem[hdr+abi.ConsoleRingHeadOff])), head)
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

type ringOut struct {
	mu sync.Mutex
	b  []byte
}

func (s *ringOut) add(p []byte) {
	s.mu.Lock()
	s.b = append(s.b, p...)
	s.mu.Unlock()
}

func (s *ringOut) get() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}

func newTestRing(memSize int, out func([]byte)) (*ConsoleRing, []byte) {
	mem := make([]byte, memSize)
	inRAM := func(addr, n uint64) bool { return addr <= uint64(len(mem)) && n <= uint64(len(mem))-addr }
	return NewConsoleRing(mem, inRAM, out), mem
}

// TestConsoleRingOrder: bytes written through a small ring, wrapping many
// times and waiting for room, come out whole and in order, and Close
// writes out what the guest stored last.
func TestConsoleRingOrder(t *testing.T) {
	var out ringOut
	r, mem := newTestRing(1<<20, out.add)
	g := &ringGuest{mem: mem, hdr: 0x1000, size: abi.ConsoleRingMinSize}
	binary.LittleEndian.PutUint64(mem[g.hdr:], g.size)
	r.Out(0, le32(uint32(g.hdr)))
	require.True(t, r.Announced())
	var want []byte
	for i := 0; i < 2000; i++ {
		line := []byte("line " + string(rune('a'+i%26)) + " 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234\n")
		want = append(want, line...)
		g.write(line, r)
	}
	g.write([]byte("last words"), r)
	want = append(want, "last words"...)
	r.Close()
	assert.Equal(t, string(want), out.get())
}

// TestConsoleRingSleep: the consumer sets Sleeping once idle for
// RingLinger, and a write then kicks it awake.
func TestConsoleRingSleep(t *testing.T) {
	var out ringOut
	r, mem := newTestRing(1<<20, out.add)
	g := &ringGuest{mem: mem, hdr: 0x2000, size: 8 << 10}
	binary.LittleEndian.PutUint64(mem[g.hdr:], g.size)
	r.Out(0, le32(uint32(g.hdr)))
	defer r.Close()
	require.Eventually(t, func() bool { return atomic.LoadUint64(g.word(abi.ConsoleRingSleepOff)) == 1 },
		5*time.Second, time.Millisecond)
	g.write([]byte("wake up\n"), r)
	require.Eventually(t, func() bool { return out.get() == "wake up\n" }, 5*time.Second, time.Millisecond)
}

// TestConsoleRingBadAnnouncements: headers or data outside RAM, unaligned
// headers, bad sizes and second announcements are ignored; kicks and
// waits before an announcement do nothing.
func TestConsoleRingBadAnnouncements(t *testing.T) {
	const memSize = 1 << 20
	for _, c := range []struct {
		name      string
		hdr, size uint64
	}{
		{"unaligned", 0x1004, 4096},
		{"header outside", memSize - 64, 4096},
		{"data outside", memSize - 4096, 4096},
		{"not a power of two", 0x1000, 4096 + 8},
		{"too small", 0x1000, 2048},
		{"too large", 0x1000, abi.ConsoleRingMaxSize * 2},
		{"zero", 0x1000, 0},
		{"huge", 0x1000, 1 << 63},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, mem := newTestRing(memSize, func([]byte) { t.Error("output") })
			r.Out(0, le32(abi.ConsoleRingKick))
			r.Out(0, le32(abi.ConsoleRingWait))
			if c.hdr+8 <= memSize {
				binary.LittleEndian.PutUint64(mem[c.hdr:], c.size)
			}
			r.Out(0, le32(uint32(c.hdr)))
			assert.False(t, r.Announced())
			r.Close()
		})
	}
	var out ringOut
	r, mem := newTestRing(memSize, out.add)
	binary.LittleEndian.PutUint64(mem[0x1000:], 4096)
	r.Out(0, le32(0x1000))
	binary.LittleEndian.PutUint64(mem[0x8000:], 4096)
	r.Out(0, le32(0x8000)) // a second ring: ignored
	binary.LittleEndian.PutUint64(mem[0x8000+abi.ConsoleRingHeadOff:], 3)
	copy(mem[0x1000+abi.ConsoleRingHeaderSize:], "ok!")
	setHead(mem, 0x1000, 3)
	r.Close()
	assert.Equal(t, "ok!", out.get())
}

// TestConsoleRingBrokenHead: a Head more than Size ahead of Tail stops the
// ring for good, without output or a wait that never ends.
func TestConsoleRingBrokenHead(t *testing.T) {
	var out ringOut
	r, mem := newTestRing(1<<20, out.add)
	binary.LittleEndian.PutUint64(mem[0x1000:], 4096)
	r.Out(0, le32(0x1000))
	setHead(mem, 0x1000, 4097)
	r.Out(0, le32(abi.ConsoleRingWait)) // returns after ringWait at most
	setHead(mem, 0x1000, 1)
	r.Close()
	assert.Empty(t, out.get())
}
