package virtionet

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzReceive feeds the receive path buffers as a hostile device would
// fill them: any lengths, any headers, any num_buffers. It must never
// panic, and must deliver only non-empty frames within maxMerged.
func FuzzReceive(f *testing.F) {
	f.Add(true, []byte{14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0xaa, 0xbb})
	f.Add(true, []byte{20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 3, 1, 2, 3})
	f.Add(false, []byte{2, 1, 2, 30, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, mergeable bool, data []byte) {
		d, r, got, rx := newTestRX(t, mergeable)
		buffers := 0
		for len(data) > 0 {
			n := min(int(data[0]), len(data)-1)
			r.receive(d, data[1:1+n], rx)
			data = data[1+n:]
			buffers++
		}
		s := d.Stats()
		require.LessOrEqual(t, s.RXFrames+s.RXDropped, uint64(buffers))
		for _, g := range *got {
			require.NotEmpty(t, g.frame)
			require.LessOrEqual(t, len(g.frame), maxMerged)
		}
	})
}
