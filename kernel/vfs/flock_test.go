package vfs

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"

	"github.com/unigo-os/unigo/abi"
)

// TestFlockSemantics: flock locks belong to open file descriptions, as on
// Linux: two ofiles of one inode conflict, shared locks coexist, a
// conversion re-checks, and the last close releases.
func TestFlockSemantics(t *testing.T) {
	flocks = [maxFlocks]flockEntry{}
	defer func() { flocks = [maxFlocks]flockEntry{} }()
	var a, b, c, other OFile
	a.Obj, b.Obj, c.Obj, other.Obj = 0x1000, 0x1000, 0x1000, 0x2000
	fa, fb, fc := uintptr(unsafe.Pointer(&a)), uintptr(unsafe.Pointer(&b)), uintptr(unsafe.Pointer(&c))
	fo := uintptr(unsafe.Pointer(&other))

	assert.Zero(t, flockLocked(fa, lockEx))
	assert.Zero(t, flockLocked(fa, lockEx), "relocking by the owner")
	assert.Equal(t, int64(-abi.EWOULDBLOCK), flockLocked(fb, lockEx))
	assert.Equal(t, int64(-abi.EWOULDBLOCK), flockLocked(fb, lockSh))
	assert.Zero(t, flockLocked(fo, lockEx), "another inode")
	assert.Zero(t, flockLocked(fb, lockUn), "unlocking what one does not hold")

	// Downgrade: shared locks coexist; an upgrade waits for the others.
	assert.Zero(t, flockLocked(fa, lockSh))
	assert.Zero(t, flockLocked(fb, lockSh))
	assert.Equal(t, int64(-abi.EWOULDBLOCK), flockLocked(fc, lockEx))
	assert.Equal(t, int64(-abi.EWOULDBLOCK), flockLocked(fa, lockEx))
	assert.Zero(t, flockLocked(fb, lockUn))
	assert.Zero(t, flockLocked(fa, lockEx))

	// The last close of a's ofile releases its lock.
	flockRelease(fa)
	assert.Zero(t, flockLocked(fc, lockEx))
	flockRelease(fc)
	flockRelease(fo)
	for _, e := range flocks {
		assert.Zero(t, e.ino)
	}

	// A full table: ENOLCK.
	for i := range flocks {
		flocks[i] = flockEntry{ino: 0x9000 + uintptr(i), owner: fo}
	}
	assert.Equal(t, int64(-abi.ENOLCK), flockLocked(fa, lockSh))
}
