package kernel

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/kernel/syscalls"
	"github.com/unigo-os/unigo/kernel/vfs"
)

// TestFilesInit checks that boot registers a row for every kind of open
// file implemented above the file layer, and that those rows are the
// pollable, non-inode kinds they are.
func TestFilesInit(t *testing.T) {
	filesInit()
	require.Zero(t, vfs.MissingKinds(), "kinds without a row")
	for _, k := range []uint32{vfs.FdSocket, vfs.FdNetchan} {
		ops := vfs.OpsOf(k)
		assert.NotNil(t, ops.Poll, "kind %d: poll", k)
		assert.False(t, ops.Inode, "kind %d: memfs inode", k)
		assert.NotZero(t, ops.Mode, "kind %d: fstat mode", k)
	}
}

// TestSyscallsInit checks that boot installs a handler for every private
// call this package serves through the system-call table.
func TestSyscallsInit(t *testing.T) {
	syscallsInit()
	require.Zero(t, syscalls.MissingHandlers())
}
