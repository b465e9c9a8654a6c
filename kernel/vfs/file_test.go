package vfs

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/unigo-os/unigo/kernel/internal/linkstub" // rt's entry points
)

// upperKinds are the kinds whose rows the layers above register.
var upperKinds = map[uint32]bool{FdSocket: true, FdNetchan: true}

// TestKindOps checks the shape of the operations table: every kind of
// this package has a row, and what the rows declare matches what each
// kind is.
func TestKindOps(t *testing.T) {
	for k := uint32(0); k < nKinds; k++ {
		if upperKinds[k] {
			continue
		}
		require.NotNil(t, OpsOf(k), "kind %d has no row", k)
	}
	seekable := map[uint32]bool{FdFile: true, fdDir: true, fdDevNull: true, FdDevZero: true, fdDevRand: true, fdFs: true}
	pollable := map[uint32]bool{fdConsole: true, fdPipeR: true, fdPipeW: true, FdEventfd: true, FdSocket: true, FdNetchan: true, fdFschan: true}
	for k := uint32(fdConsole); k < nKinds; k++ {
		ops := OpsOf(k)
		if upperKinds[k] {
			continue
		}
		assert.Equal(t, seekable[k], ops.seek != nil, "kind %d: seek", k)
		assert.Equal(t, seekable[k] && k != fdFs, ops.Inode, "kind %d: memfs inode", k)
		assert.Equal(t, pollable[k], ops.Poll != nil, "kind %d: poll", k)
		if !ops.Inode {
			assert.NotZero(t, ops.Mode, "kind %d: fstat mode", k)
		} else {
			assert.Nil(t, ops.Release, "kind %d: an inode kind drops its inode", k)
		}
		assert.Equal(t, k == fdConsole, ops.anyAccess, "kind %d: access mode", k)
	}
	assert.Equal(t, OpsOf(fdFree), &freeOps)
}

var testRow = FileOps{Mode: 0o140000}

// TestRegisterOps checks the rows of the kinds implemented above: missing
// until registered, then the registered row.
func TestRegisterOps(t *testing.T) {
	saved := upperOps
	defer func() { upperOps = saved }()
	upperOps = [nKinds]uintptr{}
	assert.Equal(t, uint64(1)<<FdSocket|1<<FdNetchan, MissingKinds())
	assert.Nil(t, OpsOf(FdSocket))
	RegisterOps(FdSocket, &testRow)
	assert.Same(t, &testRow, OpsOf(FdSocket))
	assert.Equal(t, uint64(1)<<FdNetchan, MissingKinds())
}
