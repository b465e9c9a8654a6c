package balloon

import (
	"testing"

	"github.com/unigo-os/unigo/kernel/kmem"
)

// FuzzDevice plays a hostile or slow device against the reporting loop,
// with the guest allocating and freeing memory in between: used entries
// and indexes of any value, chains taken and answered late or never. The
// driver must not panic, must never lend the device a frame in use (the
// simulated device scribbles over every range it is given), and must
// hand out reported frames cleared.
func FuzzDevice(f *testing.F) {
	f.Add([]byte{0, 40, 3, 100, 0})
	f.Add([]byte{0, 63, 1, 1, 0, 63, 3, 200, 1, 5, 4, 3, 1, 0, 1, 2})
	f.Add([]byte{0, 63, 5, 3, 150, 0, 6, 0, 0, 0, 0, 0, 3, 1, 0})
	f.Add([]byte{0, 63, 0, 63, 3, 200, 0, 7, 2, 3, 1, 1})
	f.Add([]byte{0, 63, 3, 200, 0, 6, 9, 0, 0, 0, 0, 3, 1, 0})
	f.Fuzz(func(t *testing.T, script []byte) {
		b, s := newSim(t, 8)
		s.auto = false
		b.Reserve = uintptr(kmem.DirtyBytes())
		held := map[uintptr]bool{}
		defer func() {
			for p := range held {
				kmem.FreePage(p)
			}
		}()
		next := func() byte {
			if len(script) == 0 {
				return 0
			}
			c := script[0]
			script = script[1:]
			return c
		}
		now := int64(0)
		for len(script) > 0 {
			switch next() % 8 {
			case 0: // churn: many frames freed
				n := int(next()%64) * 16
				var ps []uintptr
				for i := 0; i < n; i++ {
					if p := kmem.AllocPage(); p != 0 {
						ps = append(ps, p)
					}
				}
				for _, p := range ps {
					kmem.FreePage(p)
				}
			case 1: // a frame taken into use
				p := kmem.AllocPage()
				if p == 0 {
					break
				}
				if *u64(p) != 0 || *u64(p + kmem.PageSize - 8) != 0 {
					t.Fatalf("frame %#x handed out dirty", p)
				}
				*u64(p), *u64(p + kmem.PageSize - 8) = uint64(p), uint64(p)
				held[p] = true
			case 2: // a frame freed
				for p := range held {
					delete(held, p)
					kmem.FreePage(p)
					break
				}
			case 3: // the CPU idles
				now += int64(next()) * 10_000_000
				busy := next()%2 == 1
				b.Idle(at(now), func() bool { return busy })
			case 4: // the device answers properly
				s.answer()
			case 5: // the device takes a chain and says nothing
				s.take()
			case 6: // a raw used entry
				id := uint32(next())
				n := uint32(next()) | uint32(next())<<8 | uint32(next())<<16 | uint32(next())<<24
				s.put(id, n)
			case 7: // a raw used index
				s.used += uint16(next())
				*u16(b.used + 2) = s.used
			}
			for p := range held {
				if *u64(p) != uint64(p) || *u64(p + kmem.PageSize - 8) != uint64(p) {
					t.Fatalf("frame %#x in use was given to the device", p)
				}
			}
			if s.bad != "" {
				t.Fatalf("driver broke the protocol: %s", s.bad)
			}
			if kmem.ReportedBytes() > kmem.FreeBytes() {
				t.Fatalf("reported %d > free %d", kmem.ReportedBytes(), kmem.FreeBytes())
			}
		}
	})
}
