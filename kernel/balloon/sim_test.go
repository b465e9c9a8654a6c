package balloon

import (
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	_ "github.com/unigo-os/unigo/kernel/internal/linkstub" // rt's entry points
	"github.com/unigo-os/unigo/kernel/kmem"
)

// The tests share kmem (global state) over one arena outside the Go heap.
var arenaOnce sync.Once

func setupKmem(t testing.TB) {
	arenaOnce.Do(func() {
		const size = 256 << 20
		b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		require.NoError(t, err)
		require.True(t, kmem.AddRange(uintptr(unsafe.Pointer(&b[0])), size))
		require.True(t, kmem.EnableReporting())
	})
}

func u16(a uintptr) *uint16 { return (*uint16)(unsafe.Pointer(a)) }
func u32(a uintptr) *uint32 { return (*uint32)(unsafe.Pointer(a)) }
func u64(a uintptr) *uint64 { return (*uint64)(unsafe.Pointer(a)) }

// sim plays the device against a Balloon's queue in host memory.
type sim struct {
	b      *Balloon
	avail  uint16 // next available entry the device takes
	used   uint16 // next used entry the device writes
	auto   bool   // answer each report when kicked
	ranges []kmem.Range
	bad    string // the first protocol error the driver made
}

// posted is the number of chains the driver made available.
func (s *sim) posted() int { return int(*u16(s.b.avail + 2)) }

func newSim(t testing.TB, num uint16) (*Balloon, *sim) {
	setupKmem(t)
	b := new(Balloon)
	b.reset(num)
	b.Active = true
	b.Reserve = uintptr(kmem.DirtyBytes())
	s := &sim{b: b, auto: true}
	b.onKick = func() {
		if s.auto {
			s.answer()
		}
	}
	return b, s
}

// take walks the next available chain, checks it as the launcher's
// device would, and "discards" its ranges (fills them with junk: their
// contents are undefined). It returns the head, or false.
func (s *sim) take() (uint16, bool) {
	b := s.b
	if *u16(b.avail + 2) == s.avail {
		return 0, false
	}
	head := *u16(b.avail + 4 + 2*uintptr(s.avail%b.num))
	s.avail++
	for i, n := head, 0; ; n++ {
		if i >= b.num || n >= int(b.num) {
			s.error("chain leaves the table")
			break
		}
		d := b.desc + uintptr(i)*16
		addr, l, flags := uintptr(*u64(d)), uintptr(*u32(d + 8)), *u16(d + 12)
		if flags&descFWrite == 0 {
			s.error("readable descriptor")
		}
		if addr%4096 != 0 || l%4096 != 0 || l == 0 {
			s.error("range not page-aligned")
		}
		s.ranges = append(s.ranges, kmem.Range{Addr: addr, Len: l})
		junk := unsafe.Slice((*byte)(unsafe.Pointer(addr)), l)
		for k := range junk {
			junk[k] = 0x5a
		}
		if flags&descFNext == 0 {
			break
		}
		i = *u16(d + 14)
	}
	return head, true
}

func (s *sim) error(why string) {
	if s.bad == "" {
		s.bad = why
	}
}

// put writes a used entry (id, n), whatever they are.
func (s *sim) put(id, n uint32) {
	b := s.b
	e := b.used + 4 + 8*uintptr(s.used%b.num)
	*u32(e), *u32(e + 4) = id, n
	s.used++
	*u16(b.used + 2) = s.used
}

// answer takes every available chain and returns it used.
func (s *sim) answer() {
	for {
		head, ok := s.take()
		if !ok {
			return
		}
		s.put(uint32(head), 0)
	}
}

// at is a clock starting at t and advancing 100 µs a reading.
func at(t int64) func() int64 {
	return func() int64 { t += 100_000; return t - 100_000 }
}

func idleCPU() bool { return false }
func busyCPU() bool { return true }

// churn allocates n frames and frees them again, leaving n frames more
// on the free lists than before.
func churn(t testing.TB, n int) {
	n += int(kmem.DirtyBytes() / kmem.PageSize) // the free lists serve first
	pages := make([]uintptr, 0, n)
	for i := 0; i < n; i++ {
		p := kmem.AllocPage()
		require.NotZero(t, p)
		pages = append(pages, p)
	}
	for _, p := range pages {
		kmem.FreePage(p)
	}
}
