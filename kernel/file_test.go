package kernel

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKindOps checks the shape of the operations table: every kind has a
// row, and what the rows declare matches what each kind is.
func TestKindOps(t *testing.T) {
	for k := uint32(0); k < nKinds; k++ {
		require.NotNil(t, opsOf(k), "kind %d has no row", k)
	}
	seekable := map[uint32]bool{fdFile: true, fdDir: true, fdDevNull: true, fdDevZero: true, fdDevRand: true, fdFs: true}
	pollable := map[uint32]bool{fdConsole: true, fdPipeR: true, fdPipeW: true, fdEventfd: true, fdSocket: true, fdNetchan: true, fdFschan: true}
	for k := uint32(fdConsole); k < nKinds; k++ {
		ops := opsOf(k)
		assert.Equal(t, seekable[k], ops.seek != nil, "kind %d: seek", k)
		assert.Equal(t, seekable[k] && k != fdFs, ops.inode, "kind %d: memfs inode", k)
		assert.Equal(t, pollable[k], ops.poll != nil, "kind %d: poll", k)
		if !ops.inode {
			assert.NotZero(t, ops.mode, "kind %d: fstat mode", k)
		} else {
			assert.Nil(t, ops.release, "kind %d: an inode kind drops its inode", k)
		}
		assert.Equal(t, k == fdConsole, ops.anyAccess, "kind %d: access mode", k)
	}
	assert.Equal(t, opsOf(fdFree), &freeOps)
}
