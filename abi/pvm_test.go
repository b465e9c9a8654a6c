package abi

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

// The synthetic CPUID is INVLPG with a 32-bit absolute operand (ModRM
// 0x3c, SIB 0x25) that sign-extends to PVMSyntheticCPUIDAddress, then
// CPUID.
func TestPVMSyntheticCPUID(t *testing.T) {
	b := PVMSyntheticCPUID
	assert.Equal(t, []byte{0x0f, 0x01, 0x3c, 0x25}, b[:4])
	disp := int32(binary.LittleEndian.Uint32(b[4:8]))
	assert.Equal(t, uint64(PVMSyntheticCPUIDAddress), uint64(int64(disp)))
	assert.Equal(t, []byte{0x0f, 0xa2}, b[8:])
}

// The PVCS layout of pvm-spec.rst.
func TestPVMVCPUStructLayout(t *testing.T) {
	var s PVMVCPUStruct
	for name, c := range map[string][2]uintptr{
		"event_flags":   {unsafe.Offsetof(s.EventFlags), 0},
		"cr2":           {unsafe.Offsetof(s.CR2), 8},
		"user_cs":       {unsafe.Offsetof(s.UserCS), 64},
		"user_ss":       {unsafe.Offsetof(s.UserSS), 66},
		"event_errcode": {unsafe.Offsetof(s.EventErrcode), 68},
		"event_vector":  {unsafe.Offsetof(s.EventVector), 70},
		"user_gsbase":   {unsafe.Offsetof(s.UserGSBase), 72},
		"eflags":        {unsafe.Offsetof(s.EFlags), 80},
		"pkru":          {unsafe.Offsetof(s.PKRU), 84},
		"rip":           {unsafe.Offsetof(s.RIP), 88},
		"rcx":           {unsafe.Offsetof(s.RCX), 96},
		"r11":           {unsafe.Offsetof(s.R11), 104},
		"sizeof":        {unsafe.Sizeof(s), 128},
	} {
		assert.Equal(t, c[1], c[0], name)
	}
}

// "KVMKVMKVM" as CPUID's EBX, ECX, EDX; "PVM" as EBX.
func TestPVMSignatures(t *testing.T) {
	var b [12]byte
	binary.LittleEndian.PutUint32(b[0:], KVMSignatureEBX)
	binary.LittleEndian.PutUint32(b[4:], KVMSignatureECX)
	binary.LittleEndian.PutUint32(b[8:], KVMSignatureEDX)
	assert.Equal(t, "KVMKVMKVM\x00\x00\x00", string(b[:]))
	binary.LittleEndian.PutUint32(b[0:], PVMSignature)
	assert.Equal(t, "PVM\x00", string(b[:4]))
}
