package idtable

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTable checks the life of ids: allocation round-robin from the hint,
// lookup, refusal of stale, foreign and out-of-range ids, and a full
// table.
func TestTable(t *testing.T) {
	var tab [3]Slot
	next := 0
	a := Alloc(tab[:], &next, 0x1000)
	b := Alloc(tab[:], &next, 0x2000)
	require.NotZero(t, a)
	require.NotZero(t, b)
	assert.Equal(t, uint64(1)<<32|0, a)
	assert.Equal(t, uint64(1)<<32|1, b)
	assert.Equal(t, uintptr(0x1000), Lookup(tab[:], a))
	assert.Equal(t, uintptr(0x2000), Lookup(tab[:], b))

	Free(tab[:], a)
	assert.Zero(t, Lookup(tab[:], a), "freed id")
	c := Alloc(tab[:], &next, 0x3000) // the hint goes on to slot 2
	assert.Equal(t, uint64(1)<<32|2, c)
	d := Alloc(tab[:], &next, 0x4000) // wraps to slot 0, a new generation
	assert.Equal(t, uint64(3)<<32|0, d)
	assert.Zero(t, Lookup(tab[:], a), "stale id of a reused slot")
	assert.Equal(t, uintptr(0x4000), Lookup(tab[:], d))

	assert.Zero(t, Alloc(tab[:], &next, 0x5000), "full")
	assert.Zero(t, Lookup(tab[:], 3), "out of range")
	assert.Zero(t, Lookup(tab[:], uint64(2)<<32|1), "forged generation")
	assert.Zero(t, Lookup(tab[:], 0), "id 0")
}

// TestAllocNoHeap checks that the table does not allocate.
func TestAllocNoHeap(t *testing.T) {
	var tab [4]Slot
	next := 0
	n := testing.AllocsPerRun(100, func() {
		id := Alloc(tab[:], &next, 0x1000)
		if Lookup(tab[:], id) != 0 {
			Free(tab[:], id)
		}
	})
	assert.Zero(t, n)
}
