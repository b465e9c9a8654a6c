package abi

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseVirtioMMIO(t *testing.T) {
	good := map[string]VirtioMMIODevice{
		"4K@0xd0000000:5":     {Base: 0xd0000000, Size: 4096, GSI: 5},
		"512@0xfeb00e00:12":   {Base: 0xfeb00e00, Size: 512, GSI: 12},
		"0x200@0xfeb00000:24": {Base: 0xfeb00000, Size: 512, GSI: 24},
		"1M@4096:7:3":         {Base: 4096, Size: 1 << 20, GSI: 7},
	}
	for s, want := range good {
		d, ok := ParseVirtioMMIO([]byte(s))
		require.True(t, ok, s)
		assert.Equal(t, want, d, s)
	}
	for _, s := range []string{"", "4K", "4K@", "4K@0x1000", "4K@0x1000:", "0@0x1000:5",
		"4X@0x1000:5", "4K@0x1000:5:", "4K@0x1000:5x", "4K@0xffffffffffffffff:5",
		"99999999999999999999@0:1", "4K@0x1000:70000", "17179869184G@0:1"} {
		_, ok := ParseVirtioMMIO([]byte(s))
		assert.False(t, ok, s)
	}
}

func FuzzParseVirtioMMIO(f *testing.F) {
	f.Add("4K@0xd0000000:5")
	f.Add("512@0xfeb00e00:12:1")
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := ParseVirtioMMIO([]byte(s))
		if ok {
			require.NotZero(t, d.Size)
			require.GreaterOrEqual(t, d.Base+d.Size, d.Base)
		}
	})
}

func TestVirtioDoorbellValue(t *testing.T) {
	assert.EqualValues(t, 0x0000, VirtioDoorbellValue(0, 0))
	assert.EqualValues(t, 0x0102, VirtioDoorbellValue(1, 2))
	assert.EqualValues(t, 0x1fff, VirtioDoorbellValue(31, 255), "fits the 16-bit OUT")
}
