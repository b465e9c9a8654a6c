package arch

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/u-root/u-root/pkg/boot/kexec"
)

func TestInRAM(t *testing.T) {
	big := MappingSize(5 << 30) // 3G low, the hole, 2G high
	for _, tc := range []struct {
		mapLen, addr, n uint64
		ok              bool
	}{
		{128 << 20, 0, 128 << 20, true},
		{128 << 20, 128 << 20, 1, false},
		{128 << 20, 1 << 63, 1 << 63, false}, // overflow
		{big, LowMemEnd - 8, 8, true},
		{big, LowMemEnd - 8, 9, false}, // into the hole
		{big, LowMemEnd, 1, false},
		{big, HighMemStart - 1, 2, false},
		{big, HighMemStart, 4096, true},
		{big, big - 1, 1, true},
		{big, big, 1, false},
		{big, 0, big, false}, // across the hole
	} {
		assert.Equal(t, tc.ok, InRAM(tc.mapLen, tc.addr, tc.n), "%#x: [%#x, +%#x)", tc.mapLen, tc.addr, tc.n)
	}
}

// TestPrefaultRange: arch.Prefault, clipped to RAM and to below the first
// image segment in it.
func TestPrefaultRange(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		segs       []kexec.Range
		mem        uint64
		start, end uint64
	}{
		{[]kexec.Range{{Start: 4 * mib, Size: mib}}, 64 * mib, mib, 4 * mib}, // a Go image at 4 MiB
		{[]kexec.Range{{Start: 3 * mib, Size: mib}}, 64 * mib, mib, 3 * mib},
		{[]kexec.Range{{Start: 0x1000, Size: 0x1000}}, 64 * mib, mib, 4 * mib}, // the boot block
		{[]kexec.Range{{Start: mib, Size: 0x2000}}, 64 * mib, mib, mib},        // an image at 1 MiB
		{[]kexec.Range{{Start: mib + 0x1800, Size: 0x100}}, 64 * mib, mib, mib + 0x1000},
		{[]kexec.Range{{Start: mib / 2, Size: mib}}, 64 * mib, mib, mib}, // covers its start
		{nil, 2*mib + mib/2, mib, 2*mib + mib/2},                         // RAM ends inside
	} {
		var l Layout
		for _, r := range tc.segs {
			l.Memory.Segments.Insert(kexec.NewSegment(make([]byte, r.Size), r))
		}
		start, end := l.PrefaultRange(tc.mem)
		assert.Equal(t, [2]uint64{tc.start, tc.end}, [2]uint64{start, end}, "%v, -m %#x", tc.segs, tc.mem)
	}
}
