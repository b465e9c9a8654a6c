package syscalls

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/rt"
)

func testDMAAlloc(f *rt.Frame) int64 { return int64(f.RDI) + 1 }

// TestUpperHandlers checks the private calls served above this package:
// ENOSYS until their handlers are installed, then the installed handler.
func TestUpperHandlers(t *testing.T) {
	saved := upperFns
	defer func() { upperFns = saved }()
	upperFns = [nUpper]uintptr{}
	assert.Equal(t, nUpper, MissingHandlers())
	f := &rt.Frame{RAX: abi.SysDMAAlloc, RDI: 41}
	assert.Equal(t, int64(-abi.ENOSYS), callSyscall(f))
	SetHooks(UpperHandlers{DMAAlloc: testDMAAlloc})
	assert.Equal(t, nUpper-1, MissingHandlers())
	assert.Equal(t, int64(42), callSyscall(f))
}
