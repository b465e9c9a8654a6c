package arch

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/tools/vmm/kvm"
)

func kvmResetSregs() kvm.Sregs {
	return kvm.Sregs{CR0: 0x60000010, APICBase: 0xFEE00900}
}

// hostLike is a trimmed KVM_GET_SUPPORTED_CPUID of an Intel host.
var hostLike = []kvm.CPUIDEntry{
	{Function: 0, EAX: 0x1F, EBX: 0x756E6547},
	{Function: 1, EAX: 0x906EA, EBX: 0x00100800, ECX: 0xF7FA3223 | cpuid1ECXVMX, EDX: 0x1F8BFBFF | cpuid1EDXACPI},
	{Function: 4, Index: 0, Flags: 1, EAX: 0x1C004121},
	{Function: 6, EAX: 0x77},
	{Function: 0xA, EAX: 0x07300404},
	{Function: 0xB, Index: 0, Flags: 1, EAX: 1, EBX: 2, ECX: 0x100, EDX: 9},
	{Function: 0xB, Index: 1, Flags: 1, EAX: 4, EBX: 8, ECX: 0x201, EDX: 9},
	{Function: 0x40000000, EAX: 0x40000001, EBX: 0x4B4D564B},
	{Function: 0x40000001, EAX: 0x01007AFB},
	{Function: 0x80000000, EAX: 0x80000008},
	{Function: 0x80000001, ECX: 0x121 | cpuidExtECXSVM, EDX: 0x2C100800},
}

func find(t *testing.T, ents []kvm.CPUIDEntry, fn, idx uint32) kvm.CPUIDEntry {
	t.Helper()
	for _, e := range ents {
		if e.Function == fn && e.Index == idx {
			return e
		}
	}
	require.Failf(t, "missing leaf", "%#x.%d", fn, idx)
	return kvm.CPUIDEntry{}
}

func TestFilterCPUID(t *testing.T) {
	in := append([]kvm.CPUIDEntry(nil), hostLike...)
	out := FilterCPUID(in, CPUIDParams{VCPU: 2, NumVCPUs: 4, TSCKHz: 2_600_000})
	assert.Equal(t, hostLike, in, "input untouched")

	l1 := find(t, out, 1, 0)
	assert.NotZero(t, l1.ECX&cpuid1ECXHypervisor)
	assert.Zero(t, l1.ECX&cpuid1ECXVMX)
	assert.NotZero(t, l1.ECX&cpuid1ECXX2APIC)
	assert.NotZero(t, l1.ECX&cpuid1ECXTSCDeadline)
	assert.Zero(t, l1.EDX&cpuid1EDXACPI)
	assert.NotZero(t, l1.EDX&cpuid1EDXHTT)
	assert.EqualValues(t, 2, l1.EBX>>24, "APIC ID")
	assert.EqualValues(t, 4, (l1.EBX>>16)&0xFF, "logical count")
	assert.EqualValues(t, 0x0800, l1.EBX&0xFFFF, "CLFLUSH size kept")

	assert.Zero(t, find(t, out, 0x80000001, 0).ECX&cpuidExtECXSVM)
	assert.NotZero(t, find(t, out, 0x80000001, 0).ECX&0x1, "LAHF kept")
	assert.Zero(t, find(t, out, 0xA, 0).EAX, "PMU hidden")
	assert.EqualValues(t, 1<<2, find(t, out, 6, 0).EAX, "only ARAT")
	assert.EqualValues(t, 3, find(t, out, 4, 0).EAX>>26)

	sig := find(t, out, 0x40000000, 0)
	assert.EqualValues(t, 0x40000010, sig.EAX)
	var b []byte
	for _, r := range []uint32{sig.EBX, sig.ECX, sig.EDX} {
		b = append(b, byte(r), byte(r>>8), byte(r>>16), byte(r>>24))
	}
	assert.Equal(t, KVMSignature, string(b))
	feat := find(t, out, 0x40000001, 0)
	assert.NotZero(t, feat.EAX&KVMFeatureClocksource2)
	assert.NotZero(t, feat.EAX&KVMFeatureClocksourceStable)
	assert.EqualValues(t, 0x01007AFB, feat.EAX&0x01007AFB, "KVM features kept")
	timing := find(t, out, 0x40000010, 0)
	assert.EqualValues(t, 2_600_000, timing.EAX)
	assert.EqualValues(t, 1_000_000, timing.EBX)

	for _, leaf := range []uint32{0xB, 0x1F} {
		smt, core, end := find(t, out, leaf, 0), find(t, out, leaf, 1), find(t, out, leaf, 2)
		assert.EqualValues(t, 2, smt.EDX)
		assert.EqualValues(t, 1, smt.EBX)
		assert.EqualValues(t, 0x100, smt.ECX)
		assert.EqualValues(t, 2, core.EAX, "shift for 4 cores")
		assert.EqualValues(t, 4, core.EBX)
		assert.EqualValues(t, 0x201, core.ECX)
		assert.EqualValues(t, 2, end.EDX)
		assert.Zero(t, end.EBX)
	}
	// Sorted, no duplicates.
	for i := 1; i < len(out); i++ {
		a, b := out[i-1], out[i]
		assert.True(t, a.Function < b.Function || (a.Function == b.Function && a.Index < b.Index), "%#x.%d before %#x.%d", a.Function, a.Index, b.Function, b.Index)
	}
}

func TestFilterCPUIDSingle(t *testing.T) {
	out := FilterCPUID(hostLike, CPUIDParams{VCPU: 0, NumVCPUs: 1, TSCKHz: 1000})
	l1 := find(t, out, 1, 0)
	assert.Zero(t, l1.EBX>>24)
	assert.Zero(t, l1.EDX&cpuid1EDXHTT)
	assert.EqualValues(t, 0, find(t, out, 0xB, 1).EAX)
	assert.EqualValues(t, 1, find(t, out, 0xB, 1).EBX)
}

// Empty brand leaves (PVM) get the host's brand; filled ones stay.
func TestFilterCPUIDBrand(t *testing.T) {
	in := append(append([]kvm.CPUIDEntry(nil), hostLike...),
		kvm.CPUIDEntry{Function: 0x80000002}, kvm.CPUIDEntry{Function: 0x80000003}, kvm.CPUIDEntry{Function: 0x80000004})
	brand := "AMD EPYC 7B13 64-Core Processor"
	out := FilterCPUID(in, CPUIDParams{NumVCPUs: 1, Brand: brand})
	var b []byte
	for fn := uint32(0x80000002); fn <= 0x80000004; fn++ {
		e := find(t, out, fn, 0)
		for _, r := range []uint32{e.EAX, e.EBX, e.ECX, e.EDX} {
			b = append(b, byte(r), byte(r>>8), byte(r>>16), byte(r>>24))
		}
	}
	assert.Equal(t, brand, string(bytes.TrimRight(b, "\x00")))

	in[len(in)-1].EAX = 0x20202020
	out = FilterCPUID(in, CPUIDParams{NumVCPUs: 1, Brand: brand})
	assert.EqualValues(t, 0x20202020, find(t, out, 0x80000004, 0).EAX, "KVM's own brand kept")
	assert.Zero(t, find(t, out, 0x80000004, 0).EBX)
}

// PVM's vendor leaf (0x40000002, EBX "PVM") reaches the guest, within the
// range the rebuilt signature leaf announces; nothing else of the host's
// hypervisor range does.
func TestFilterCPUIDPVMLeaf(t *testing.T) {
	out := FilterCPUID(hostLike, CPUIDParams{NumVCPUs: 1})
	for _, e := range out {
		assert.NotEqual(t, uint32(0x40000002), e.Function)
	}
	in := append(append([]kvm.CPUIDEntry(nil), hostLike...),
		kvm.CPUIDEntry{Function: 0x40000002, EAX: 0, EBX: 0x4d5650},
		kvm.CPUIDEntry{Function: 0x40000003, EBX: 0x4d5650})
	out = FilterCPUID(in, CPUIDParams{NumVCPUs: 1})
	assert.EqualValues(t, 0x4d5650, find(t, out, 0x40000002, 0).EBX)
	assert.GreaterOrEqual(t, find(t, out, 0x40000000, 0).EAX, uint32(0x40000002))
	for _, e := range out {
		assert.NotEqual(t, uint32(0x40000003), e.Function)
	}
}
