package kernel

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// recordedCPUID is CPUID leaf 0xD of a real host: sub-leaf 0's EAX
// (supported components), EBX, ECX, and (size, offset) per component.
type recordedCPUID struct {
	supported, ebx, ecx uint32
	comp                map[uint32][2]uint32
}

func (r recordedCPUID) cpuid(leaf, sub uint32) (a, b, c, d uint32) {
	if leaf != 0xd {
		return 0, 0, 0, 0
	}
	if sub == 0 {
		return r.supported, r.ebx, r.ecx, 0
	}
	if sub == 1 {
		return 0, 0, 0, 0
	}
	c0 := r.comp[sub]
	return c0[0], c0[1], 0, 0
}

var (
	// Intel Xeon (Sapphire Rapids class) under PVM: XGETBV answers the
	// host's XCR0 with the AMX tiles (bits 17-18), CPUID(0xD,0).EBX the
	// size for 0xe7.
	intelSPR = recordedCPUID{
		supported: 0x602e7, ebx: 2688, ecx: 11008,
		comp: map[uint32][2]uint32{
			2: {256, 576}, 5: {64, 1088}, 6: {512, 1152}, 7: {1024, 1664},
			9: {8, 2688}, 17: {64, 2752}, 18: {8192, 2816},
		},
	}
	// AMD EPYC (family 0x19) under PVM, this project's other host kind.
	amdEPYC = recordedCPUID{
		supported: 0x7, ebx: 832, ecx: 832,
		comp: map[uint32][2]uint32{2: {256, 576}},
	}
)

func TestXSaveLayout(t *testing.T) {
	for _, tc := range []struct {
		name     string
		xcr0     uint64
		host     recordedCPUID
		wantMask uint64
		wantSize uintptr
	}{
		// The hang of the host-portability issue: the host's XCR0 names
		// the AMX tiles, which must neither be saved nor sized for.
		{"intel-pvm", 0x600e7, intelSPR, 0xe7, 2688},
		{"intel-kvm", 0xe7, intelSPR, 0xe7, 2688},
		{"intel-pkru", 0x2e7, intelSPR, 0xe7, 2688},
		{"intel-avx-only", 0x7, intelSPR, 0x7, 832},
		{"amd-pvm", 0x7, amdEPYC, 0x7, 832},
		// XCR0 bits the CPU does not report as supported are ignored.
		{"amd-bogus-xcr0", 0x600e7, amdEPYC, 0x7, 832},
		{"sse-only", 0x3, amdEPYC, 0x3, 576},
		// Without x87|SSE in the mask the kernel falls back to FXSAVE.
		{"no-sse", 0x0, amdEPYC, 0, 512},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mask, size := xsaveLayout(tc.xcr0, tc.host.cpuid)
			assert.Equal(t, tc.wantMask, mask, "mask")
			assert.Equal(t, tc.wantSize, size, "size")
		})
	}
}

// TestXSaveLayoutNeverSizesByEBX: a CPUID source whose EBX disagrees with
// the components (PVM's mix of host and guest views) does not change the
// size, and the size always covers every component in the mask.
func TestXSaveLayoutNeverSizesByEBX(t *testing.T) {
	lying := intelSPR
	lying.ebx = 512
	_, size := xsaveLayout(0x600e7, lying.cpuid)
	assert.Equal(t, uintptr(2688), size)
	for sub, c := range intelSPR.comp {
		mask, size := xsaveLayout(0xffffffff, intelSPR.cpuid)
		if mask&(1<<sub) != 0 {
			assert.GreaterOrEqual(t, size, uintptr(c[0]+c[1]), "component %d", sub)
		}
	}
}

// hypervisorLeaves answers the leaves in it and zeros elsewhere.
type hypervisorLeaves map[uint32][4]uint32

func (h hypervisorLeaves) cpuid(leaf, sub uint32) (a, b, c, d uint32) {
	r := h[leaf]
	return r[0], r[1], r[2], r[3]
}

func TestPVMParavirt(t *testing.T) {
	kvmSig := func(max uint32) [4]uint32 { return [4]uint32{max, 0x4b4d564b, 0x564b4d56, 0x4d} }
	for _, tc := range []struct {
		name   string
		leaves hypervisorLeaves
		want   bool
	}{
		// The unigo launcher's table on any host: KVM's leaves and the
		// timing leaf, no vendor-features leaf.
		{"launcher", hypervisorLeaves{0x40000000: kvmSig(0x40000010), 0x40000001: {0x1007efb}}, false},
		// A virt-pvm host: the vendor-features leaf says "PVM".
		{"virt-pvm", hypervisorLeaves{0x40000000: kvmSig(0x40000002), 0x40000002: {0, 0x4d5650}}, true},
		// "PVM" beyond the last leaf the signature leaf announces.
		{"beyond-max", hypervisorLeaves{0x40000000: kvmSig(0x40000001), 0x40000002: {0, 0x4d5650}}, false},
		// Another hypervisor's signature.
		{"other", hypervisorLeaves{0x40000000: {0x40000002, 1, 2, 3}, 0x40000002: {0, 0x4d5650}}, false},
		{"none", hypervisorLeaves{}, false},
	} {
		assert.Equal(t, tc.want, pvmParavirt(tc.leaves.cpuid), tc.name)
	}
}
