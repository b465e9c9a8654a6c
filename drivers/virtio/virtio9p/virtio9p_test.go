package virtio9p

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
)

func tversionMsg(msize uint32, version string) []byte {
	m := binary.LittleEndian.AppendUint32(nil, 0)
	m = append(m, tversion, 0xff, 0xff)
	m = binary.LittleEndian.AppendUint32(m, msize)
	m = binary.LittleEndian.AppendUint16(m, uint16(len(version)))
	m = append(m, version...)
	binary.LittleEndian.PutUint32(m, uint32(len(m)))
	return m
}

func TestPlainVersion(t *testing.T) {
	assert.Equal(t, tversionMsg(65536, "9P2000.L"), plainVersion(tversionMsg(65536, "9P2000.L.Google.7")))
	for _, m := range [][]byte{
		tversionMsg(65536, "9P2000.L"),
		tversionMsg(8192, "9P2000.u"),
		{1, 2, 3},
		append(tversionMsg(1, "9P2000.L.Google.7"), 0), // size and string disagree
	} {
		assert.Equal(t, m, plainVersion(m))
	}
	other := tversionMsg(1, "9P2000.L.Google.7")
	other[4] = 110 // Tattach
	assert.Equal(t, other, plainVersion(other))
}

func TestFsyncWire(t *testing.T) {
	m := []byte{11, 0, 0, 0, tfsync, 3, 0, 9, 0, 0, 0}
	assert.Equal(t, []byte{15, 0, 0, 0, tfsync, 3, 0, 9, 0, 0, 0, 0, 0, 0, 0}, toWire(m))
	linux := []byte{15, 0, 0, 0, tfsync, 3, 0, 9, 0, 0, 0, 1, 0, 0, 0}
	assert.Equal(t, linux, toWire(linux))
	assert.Equal(t, tversionMsg(65536, "9P2000.L"), toWire(tversionMsg(65536, "9P2000.L.Google.7")))
}
