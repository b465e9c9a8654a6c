package arch

import (
	"testing"

	"github.com/stretchr/testify/assert"
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
