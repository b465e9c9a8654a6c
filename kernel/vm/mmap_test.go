package vm

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/unigo-os/unigo/kernel/mm"

	_ "github.com/unigo-os/unigo/kernel/internal/linkstub" // rt's entry points
)

// TestCheckRange checks the ranges munmap, mprotect, madvise and msync
// accept: page-aligned, rounded up to whole pages, inside the user range,
// not wrapping.
func TestCheckRange(t *testing.T) {
	base := uintptr(mm.UserBase)
	lo, hi, ok := checkRange(base, 1)
	assert.True(t, ok)
	assert.Equal(t, base, lo)
	assert.Equal(t, base+uintptr(mm.PageSize), hi, "rounded up to a page")
	_, _, ok = checkRange(base+1, mm.PageSize)
	assert.False(t, ok, "unaligned")
	_, _, ok = checkRange(base-mm.PageSize, mm.PageSize)
	assert.False(t, ok, "below the user range")
	_, _, ok = checkRange(mm.UserTop-mm.PageSize, 2*mm.PageSize)
	assert.False(t, ok, "past the user range")
	_, _, ok = checkRange(base, ^uintptr(0)-mm.PageSize)
	assert.False(t, ok, "wraps")
}
