package arch

import (
	"math/bits"
	"os"
	"sort"
	"strings"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/tools/vmm/kvm"
)

// CPUID bits the filter touches.
const (
	// Leaf 1 ECX.
	cpuid1ECXDTES64      = 1 << 2
	cpuid1ECXMonitor     = 1 << 3
	cpuid1ECXDSCPL       = 1 << 4
	cpuid1ECXVMX         = 1 << 5
	cpuid1ECXSMX         = 1 << 6
	cpuid1ECXEST         = 1 << 7
	cpuid1ECXTM2         = 1 << 8
	cpuid1ECXPDCM        = 1 << 15
	cpuid1ECXDCA         = 1 << 18
	cpuid1ECXX2APIC      = 1 << 21
	cpuid1ECXTSCDeadline = 1 << 24
	cpuid1ECXHypervisor  = 1 << 31
	// Leaf 1 EDX.
	cpuid1EDXDS   = 1 << 21
	cpuid1EDXACPI = 1 << 22
	cpuid1EDXHTT  = 1 << 28
	cpuid1EDXTM   = 1 << 29
	cpuid1EDXPBE  = 1 << 31
	// Leaf 0x80000001 ECX.
	cpuidExtECXSVM = 1 << 2

	// KVM paravirt leaves (Documentation/virt/kvm/x86/cpuid.rst).
	CPUIDKVMSignature = 0x4000_0000
	CPUIDKVMFeatures  = 0x4000_0001
	// CPUIDTimingInfo is the VMware-style timing leaf: EAX TSC kHz, EBX
	// LAPIC bus kHz. Linux and the unigo kernel read it to skip TSC
	// calibration.
	CPUIDTimingInfo = 0x4000_0010

	KVMFeatureClocksource2      = 1 << 3
	KVMFeatureClocksourceStable = 1 << 24

	// LAPICBusKHz is the frequency KVM's emulated LAPIC timer counts at
	// (1 ns per tick).
	LAPICBusKHz = 1_000_000
)

// KVMSignature is the hypervisor vendor string at leaf 0x40000000.
const KVMSignature = "KVMKVMKVM\x00\x00\x00"

// CPUIDParams are the per-vCPU inputs of the filter.
type CPUIDParams struct {
	VCPU     int    // this vCPU's index = its APIC ID
	NumVCPUs int    // vCPUs in the VM
	TSCKHz   uint32 // KVM_GET_TSC_KHZ
	// Brand is the processor brand string (CPUID 0x80000002-4) to give
	// the guest when KVM's leaves are empty, as on PVM hosts (HostBrand).
	Brand string
}

// FilterCPUID turns KVM_GET_SUPPORTED_CPUID into the table one vCPU sees:
// the hypervisor bit and KVM paravirt leaves on (with the timing leaf so the
// guest needs no calibration, and PVM's vendor leaf when the host has it), host-only features (VMX/SVM, SMX, thermal and
// power management, debug stores, PMU) off, x2APIC and TSC-deadline on, and
// APIC IDs and topology leaves describing NumVCPUs single-thread cores in
// one package. It does not modify supported.
func FilterCPUID(supported []kvm.CPUIDEntry, p CPUIDParams) []kvm.CPUIDEntry {
	apicID := uint32(p.VCPU)
	n := uint32(max(p.NumVCPUs, 1))
	var kvmFeatures uint32
	var maxBasic uint32
	out := make([]kvm.CPUIDEntry, 0, len(supported)+4)
	for _, e := range supported {
		switch {
		case e.Function == 0:
			maxBasic = e.EAX
		case e.Function == CPUIDKVMFeatures:
			kvmFeatures = e.EAX
		}
		if e.Function == abi.KVMCPUIDVendorFeatures && e.EBX == abi.PVMSignature {
			// A PVM host's vendor leaf: how the guest detects PVM's
			// paravirtual interface (kernel/host.go pvmParavirt).
			out = append(out, e)
			continue
		}
		if e.Function >= 0x4000_0000 && e.Function <= 0x4000_00FF {
			continue // rebuilt below
		}
		switch e.Function {
		case 0x1:
			e.ECX |= cpuid1ECXHypervisor | cpuid1ECXX2APIC | cpuid1ECXTSCDeadline
			e.ECX &^= cpuid1ECXVMX | cpuid1ECXSMX | cpuid1ECXEST | cpuid1ECXTM2 |
				cpuid1ECXPDCM | cpuid1ECXDCA | cpuid1ECXMonitor | cpuid1ECXDTES64 | cpuid1ECXDSCPL
			e.EDX &^= cpuid1EDXDS | cpuid1EDXACPI | cpuid1EDXTM | cpuid1EDXPBE
			// EBX[31:24] initial APIC ID, [23:16] logical processors
			// per package (meaningful with HTT).
			e.EBX = e.EBX&0x0000_FFFF | apicID<<24 | (n&0xFF)<<16
			if n > 1 {
				e.EDX |= cpuid1EDXHTT
			} else {
				e.EDX &^= cpuid1EDXHTT
			}
		case 0x4:
			// EAX[31:26]: cores per package - 1; [25:14]: threads
			// sharing this cache - 1 (one thread per core).
			if e.EAX&0x1F != 0 {
				e.EAX = e.EAX&0x0000_3FFF | (n-1)<<26
			}
		case 0x6:
			// Thermal and power management: only ARAT (APIC timer
			// always running) is meaningful in a VM.
			e.EAX &= 1 << 2
			e.EBX, e.ECX, e.EDX = 0, 0, 0
		case 0xA:
			// Architectural PMU: hidden, the guest gets no counters.
			e.EAX, e.EBX, e.ECX, e.EDX = 0, 0, 0, 0
		case 0xB, 0x1F:
			continue // topology, rebuilt below
		case 0x8000_0001:
			e.ECX &^= cpuidExtECXSVM
		case 0x8000_0002, 0x8000_0003, 0x8000_0004:
			if e.EAX|e.EBX|e.ECX|e.EDX == 0 && p.Brand != "" {
				var b [48]byte
				copy(b[:47], p.Brand) // NUL-terminated
				o := (e.Function - 0x8000_0002) * 16
				e.EAX, e.EBX, e.ECX, e.EDX = le32(b[o:]), le32(b[o+4:]), le32(b[o+8:]), le32(b[o+12:])
			}
		}
		out = append(out, e)
	}

	// Extended topology: SMT level with one thread, core level with n cores.
	coreShift := uint32(bits.Len32(n - 1))
	for _, leaf := range []uint32{0xB, 0x1F} {
		if maxBasic < leaf {
			continue
		}
		out = append(out,
			kvm.CPUIDEntry{Function: leaf, Index: 0, Flags: kvm.CPUIDFlagSignificantIndex,
				EAX: 0, EBX: 1, ECX: 0 | 1<<8, EDX: apicID},
			kvm.CPUIDEntry{Function: leaf, Index: 1, Flags: kvm.CPUIDFlagSignificantIndex,
				EAX: coreShift, EBX: n, ECX: 1 | 2<<8, EDX: apicID},
			kvm.CPUIDEntry{Function: leaf, Index: 2, Flags: kvm.CPUIDFlagSignificantIndex,
				ECX: 2, EDX: apicID},
		)
	}

	sig := []byte(KVMSignature)
	out = append(out,
		kvm.CPUIDEntry{Function: CPUIDKVMSignature, EAX: CPUIDTimingInfo,
			EBX: le32(sig[0:]), ECX: le32(sig[4:]), EDX: le32(sig[8:])},
		kvm.CPUIDEntry{Function: CPUIDKVMFeatures,
			EAX: kvmFeatures | KVMFeatureClocksource2 | KVMFeatureClocksourceStable},
		kvm.CPUIDEntry{Function: CPUIDTimingInfo, EAX: p.TSCKHz, EBX: LAPICBusKHz},
	)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Function != out[j].Function {
			return out[i].Function < out[j].Function
		}
		return out[i].Index < out[j].Index
	})
	return out
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// HostBrand returns the host processor's brand string ("model name" in
// /proc/cpuinfo), or "".
func HostBrand() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if name, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
