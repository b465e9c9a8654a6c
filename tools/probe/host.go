// Package probe finds out what a host offers unigo and whether each way of
// booting an image works there: the host's CPU, what /dev/kvm is (hardware
// VMX or SVM, the PVM module, or missing), QEMU's version, and one boot of a
// small guest under each runner (the launcher, QEMU with KVM, QEMU with
// TCG). `unigo doctor` prints it; the end-to-end tests use the same probe to
// fail a runner's tests at once, with its one-line reason, when the runner
// cannot boot at all on the host.
package probe

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/tools/vmm/arch"
	"github.com/unigo-os/unigo/tools/vmm/kvm"
)

// QEMUBinary is the QEMU the probe and the tests run.
const QEMUBinary = "qemu-system-x86_64"

// KVMKind says what serves /dev/kvm.
type KVMKind int

const (
	// KVMMissing: there is no /dev/kvm.
	KVMMissing KVMKind = iota
	// KVMUnusable: /dev/kvm exists but cannot be used (permission, API
	// version); KVM.Why says why.
	KVMUnusable
	// KVMPVM: the PVM module (kvm_pvm), a software hypervisor; the kernel
	// runs in its CPL-3 SYSCALL mode there (docs/ARCHITECTURE.md).
	KVMPVM
	// KVMVMX: hardware virtualization, Intel VT-x (kvm_intel).
	KVMVMX
	// KVMSVM: hardware virtualization, AMD-V (kvm_amd).
	KVMSVM
	// KVMOther: usable, but neither PVM nor a known hardware module.
	KVMOther
)

// KVM is what /dev/kvm is on a host.
type KVM struct {
	Kind KVMKind
	// Why explains KVMMissing and KVMUnusable in one line.
	Why string
	// API is KVM_GET_API_VERSION when /dev/kvm opened.
	API int
	// PVMABI: the module implements PVM's paravirtual interface (a vCPU
	// has abi.MSRPVMVCPUStruct). Not the case of the PVM module on this
	// project's hosts (docs/ARCHITECTURE.md, "PVM paravirtual interface").
	PVMABI bool
}

// Usable reports whether /dev/kvm can run VMs.
func (k KVM) Usable() bool { return k.Kind >= KVMPVM }

// String is the one-line description doctor prints.
func (k KVM) String() string {
	switch k.Kind {
	case KVMMissing:
		return "missing: " + k.Why
	case KVMUnusable:
		return "unusable: " + k.Why
	case KVMPVM:
		if k.PVMABI {
			return "PVM (kvm_pvm module, software virtualization, with PVM's paravirtual interface; the kernel runs in CPL-3 SYSCALL mode)"
		}
		return "PVM (kvm_pvm module, software virtualization, without PVM's paravirtual interface; the kernel runs in CPL-3 SYSCALL mode)"
	case KVMVMX:
		return "hardware VMX (kvm_intel)"
	case KVMSVM:
		return "hardware SVM (kvm_amd)"
	}
	return "usable (neither kvm_pvm, kvm_intel nor kvm_amd loaded)"
}

// ClassifyKVM decides what /dev/kvm is from the result of opening it
// (kvm.Open's error, nil when it opened and had API version 12), the loaded
// kernel modules and the CPU's flags (from /proc/cpuinfo).
func ClassifyKVM(openErr error, hasModule func(name string) bool, flags map[string]bool) KVM {
	if openErr != nil {
		why := strings.TrimPrefix(openErr.Error(), kvm.ErrNoKVM.Error()+": ")
		if errors.Is(openErr, unix.ENOENT) || strings.Contains(why, "does not exist") {
			return KVM{Kind: KVMMissing, Why: why}
		}
		return KVM{Kind: KVMUnusable, Why: why}
	}
	k := KVM{API: 12}
	switch {
	case hasModule("kvm_pvm"):
		k.Kind = KVMPVM
	case hasModule("kvm_intel"):
		k.Kind = KVMVMX
	case hasModule("kvm_amd"):
		k.Kind = KVMSVM
	case flags["vmx"]:
		k.Kind = KVMVMX
	case flags["svm"]:
		k.Kind = KVMSVM
	default:
		k.Kind = KVMOther
	}
	return k
}

// CPU is the host CPU as /proc/cpuinfo describes its first processor.
type CPU struct {
	Vendor string // vendor_id, e.g. GenuineIntel, AuthenticAMD
	Model  string // model name
	Flags  map[string]bool
}

// String is the one-line description doctor prints.
func (c CPU) String() string {
	if c.Vendor == "" && c.Model == "" {
		return "unknown (no /proc/cpuinfo)"
	}
	return fmt.Sprintf("%s, %s", orUnknown(c.Vendor), orUnknown(c.Model))
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// ParseCPUInfo reads the first processor's vendor, model name and flags
// from /proc/cpuinfo text.
func ParseCPUInfo(text string) CPU {
	c := CPU{Flags: map[string]bool{}}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	seen := false
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "processor":
			if seen {
				return c
			}
			seen = true
		case "vendor_id":
			c.Vendor = v
		case "model name":
			c.Model = v
		case "flags":
			for _, f := range strings.Fields(v) {
				c.Flags[f] = true
			}
		}
	}
	return c
}

// ParseQEMUVersion returns the version line of `qemu-system-x86_64
// --version` output, and the bare version number (e.g. "7.2.22").
func ParseQEMUVersion(out string) (line, version string) {
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if i := strings.Index(l, "version "); i >= 0 && strings.HasPrefix(l, "QEMU") {
			v := strings.Fields(l[i+len("version "):])
			if len(v) > 0 {
				return l, v[0]
			}
			return l, ""
		}
	}
	return "", ""
}

// QEMU is the QEMU found on a host.
type QEMU struct {
	// Version is the --version line, e.g. "QEMU emulator version 7.2.22
	// (Debian ...)"; empty when QEMU is absent or unusable.
	Version string
	// Why says in one line why QEMU cannot be used; empty when it can.
	Why string
}

// String is the one-line description doctor prints.
func (q QEMU) String() string {
	if q.Why != "" {
		return "absent: " + q.Why
	}
	return q.Version
}

// Host is what a host offers unigo.
type Host struct {
	CPU  CPU
	KVM  KVM
	QEMU QEMU
	// XFeatures is the set of XSAVE components the host's Linux supports
	// (arch_prctl ARCH_GET_XCOMP_SUPP): what it leaves in XCR0, which a
	// PVM guest reads back from XGETBV. 0 when unknown.
	XFeatures uint64
	// LauncherXSave is CPUID leaf 0xD as the launcher gives it to a
	// guest's vCPU 0 (KVM_GET_SUPPORTED_CPUID through the launcher's
	// filter); LauncherXSaveOK is false when /dev/kvm is not usable.
	LauncherXSave   XSaveLeaf
	LauncherXSaveOK bool
}

// XSaveLeaf is CPUID(0xD, 0): the XSAVE components the CPU supports
// (EDX:EAX) and the save area's size for the components enabled in XCR0
// (EBX) and for all supported ones (ECX).
type XSaveLeaf struct {
	Components    uint64
	EnabledSize   uint32
	SupportedSize uint32
}

// String is the one-line description doctor prints.
func (x XSaveLeaf) String() string {
	return fmt.Sprintf("components %s, size %d for XCR0 (ebx), %d for all (ecx)", XFeatureNames(x.Components), x.EnabledSize, x.SupportedSize)
}

// FindXSaveLeaf finds CPUID(0xD, 0) in a CPUID table.
func FindXSaveLeaf(entries []kvm.CPUIDEntry) (XSaveLeaf, bool) {
	for _, e := range entries {
		if e.Function == 0xd && e.Index == 0 {
			return XSaveLeaf{Components: uint64(e.EDX)<<32 | uint64(e.EAX), EnabledSize: e.EBX, SupportedSize: e.ECX}, true
		}
	}
	return XSaveLeaf{}, false
}

// Detect examines this host. It opens /dev/kvm, reads /proc/cpuinfo and
// /sys/module and runs `qemu-system-x86_64 --version`; it boots nothing.
func Detect() *Host {
	h := &Host{}
	var pvmABI bool
	info, _ := os.ReadFile("/proc/cpuinfo")
	h.CPU = ParseCPUInfo(string(info))
	var openErr error
	if s, err := kvm.Open(); err != nil {
		openErr = err
	} else {
		if sup, err := s.SupportedCPUID(); err == nil {
			h.LauncherXSave, h.LauncherXSaveOK = FindXSaveLeaf(arch.FilterCPUID(sup, arch.CPUIDParams{NumVCPUs: 1}))
		}
		pvmABI = hasPVMABI(s)
		s.Close()
	}
	h.KVM = ClassifyKVM(openErr, func(name string) bool {
		_, err := os.Stat("/sys/module/" + name)
		return err == nil
	}, h.CPU.Flags)
	h.KVM.PVMABI = h.KVM.Kind == KVMPVM && pvmABI
	h.QEMU = detectQEMU()
	h.XFeatures = xfeatures()
	return h
}

// hasPVMABI reports whether a fresh vCPU has PVM's MSR_PVM_VCPU_STRUCT,
// which every implementation of PVM's paravirtual interface serves to the
// VMM (for migration) and nothing else has.
func hasPVMABI(s *kvm.System) bool {
	vm, err := s.CreateVM()
	if err != nil {
		return false
	}
	defer vm.Close()
	c, err := vm.CreateVCPU(0)
	if err != nil {
		return false
	}
	defer c.Close()
	_, ok, err := c.MSR(abi.MSRPVMVCPUStruct)
	return err == nil && ok
}

// DetectOnce is Detect, run once per process.
var DetectOnce = sync.OnceValue(Detect)

func detectQEMU() QEMU {
	path, err := exec.LookPath(QEMUBinary)
	if err != nil {
		return QEMU{Why: QEMUBinary + " not on PATH (apt-get install qemu-system-x86)"}
	}
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		return QEMU{Why: fmt.Sprintf("%s --version: %v", path, err)}
	}
	line, _ := ParseQEMUVersion(string(out))
	if line == "" {
		return QEMU{Why: fmt.Sprintf("%s --version printed no version: %q", path, firstLine(string(out)))}
	}
	return QEMU{Version: line}
}

// archGetXcompSupp is arch_prctl's ARCH_GET_XCOMP_SUPP (Linux 5.16).
const archGetXcompSupp = 0x1021

func xfeatures() uint64 {
	var mask uint64
	if _, _, e := unix.Syscall(unix.SYS_ARCH_PRCTL, archGetXcompSupp, uintptr(unsafe.Pointer(&mask)), 0); e != 0 {
		return 0
	}
	return mask
}

// Absent says why runner r cannot be used on this host at all (QEMU not
// installed, no usable /dev/kvm), or "" when it can be tried. Tests skip
// such a runner with this reason.
func (h *Host) Absent(r Runner) string {
	kvmWhy := func() string {
		if h.KVM.Usable() {
			return ""
		}
		return "no usable /dev/kvm (" + h.KVM.String() + ")"
	}
	switch r {
	case Launcher:
		if why := kvmWhy(); why != "" {
			return "the launcher needs a usable /dev/kvm: " + h.KVM.String()
		}
	case QEMUKVM:
		if h.QEMU.Why != "" {
			return h.QEMU.Why
		}
		return kvmWhy()
	case QEMUTCG:
		return h.QEMU.Why
	default:
		return fmt.Sprintf("unknown runner %q", r)
	}
	return ""
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(s)
}

// xfeatureNames name the XSAVE components by bit (Intel SDM vol. 1, 13.1).
var xfeatureNames = map[int]string{
	0: "x87", 1: "SSE", 2: "AVX", 3: "MPX-BNDREGS", 4: "MPX-BNDCSR",
	5: "AVX512-opmask", 6: "AVX512-ZMM_Hi256", 7: "AVX512-Hi16_ZMM",
	9: "PKRU", 11: "CET_U", 12: "CET_S", 17: "AMX-TILECFG", 18: "AMX-TILEDATA", 19: "APX",
}

// XFeatureNames spells out an XCR0-style mask: "0x7 (x87 SSE AVX)".
func XFeatureNames(mask uint64) string {
	var names []string
	for bit := 0; bit < 64; bit++ {
		if mask&(1<<bit) == 0 {
			continue
		}
		if n, ok := xfeatureNames[bit]; ok {
			names = append(names, n)
		} else {
			names = append(names, fmt.Sprintf("bit%d", bit))
		}
	}
	return fmt.Sprintf("%#x (%s)", mask, strings.Join(names, " "))
}
