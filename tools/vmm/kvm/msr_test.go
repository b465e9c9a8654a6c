package kvm

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// MSR reads what KVM implements and says so for what it does not.
func TestVCPUMSR(t *testing.T) {
	s, err := Open()
	if err != nil {
		t.Skipf("no usable %s: %v", DevicePath, err)
	}
	defer s.Close()
	vm, err := s.CreateVM()
	require.NoError(t, err)
	defer vm.Close()
	c, err := vm.CreateVCPU(0)
	require.NoError(t, err)
	defer c.Close()

	// MSR_KVM_SYSTEM_TIME_NEW (kvmclock): every KVM has it, 0 at reset.
	v, ok, err := c.MSR(0x4b564d01)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Zero(t, v)
	// An index in no architectural or paravirtual range.
	_, ok, err = c.MSR(0x1234_5678)
	require.NoError(t, err)
	assert.False(t, ok)
}
