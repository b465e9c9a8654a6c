package vmm

import (
	"encoding/binary"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/unigo-os/unigo/abi"
)

// The port protocol without a VM: nothing is queued until the guest arms
// the port; signals come out in order, one per read, then 0; readiness is
// reported once.
func TestHostSignalPort(t *testing.T) {
	raised, readies := 0, 0
	v := &VM{}
	v.hostSig.raise = func() { raised++ }
	v.OnReady(func() { readies++ })
	h := &v.hostSig
	read := func() uint32 {
		b := make([]byte, 4)
		h.In(0, b)
		return binary.LittleEndian.Uint32(b)
	}
	out := func(x uint32) {
		b := make([]byte, 4)
		binary.LittleEndian.PutUint32(b, x)
		h.Out(0, b)
	}

	assert.False(t, v.Signal(syscall.SIGTERM), "not armed")
	assert.Zero(t, raised)
	out(abi.HostSignalArmed)
	assert.True(t, v.Signal(syscall.SIGTERM))
	assert.True(t, v.Signal(syscall.SIGINT))
	assert.Equal(t, 2, raised)
	assert.EqualValues(t, syscall.SIGTERM, read())
	assert.EqualValues(t, syscall.SIGINT, read())
	assert.Zero(t, read())

	out(abi.HostReady)
	out(abi.HostReady)
	assert.Equal(t, 1, readies)
}
