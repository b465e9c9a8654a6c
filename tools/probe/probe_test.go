package probe

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/tools/vmm/kvm"
)

// Recorded /proc/cpuinfo beginnings (flags shortened).
const (
	cpuinfoAMD = `processor	: 0
vendor_id	: AuthenticAMD
cpu family	: 25
model		: 1
model name	: AMD EPYC
stepping	: 1
flags		: fpu vme de pse tsc msr pae mce cx8 apic sep syscall nx lm xsave avx xsaveopt hypervisor
bugs		: sysret_ss_attrs

processor	: 1
vendor_id	: AuthenticAMD
model name	: not the first
flags		: svm
`
	cpuinfoIntel = `processor	: 0
vendor_id	: GenuineIntel
cpu family	: 6
model		: 143
model name	: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags		: fpu vme de pse tsc msr pae vmx avx512f amx_bf16 amx_tile amx_int8 xsave
`
)

func TestParseCPUInfo(t *testing.T) {
	amd := ParseCPUInfo(cpuinfoAMD)
	assert.Equal(t, "AuthenticAMD", amd.Vendor)
	assert.Equal(t, "AMD EPYC", amd.Model)
	assert.True(t, amd.Flags["xsave"])
	assert.False(t, amd.Flags["svm"], "flags of the second processor")
	assert.Equal(t, "AuthenticAMD, AMD EPYC", amd.String())

	intel := ParseCPUInfo(cpuinfoIntel)
	assert.Equal(t, "GenuineIntel", intel.Vendor)
	assert.Equal(t, "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz", intel.Model)
	assert.True(t, intel.Flags["vmx"])
	assert.True(t, intel.Flags["amx_tile"])

	assert.Equal(t, "unknown (no /proc/cpuinfo)", ParseCPUInfo("").String())
}

func TestParseQEMUVersion(t *testing.T) {
	for _, tc := range []struct{ out, line, version string }{
		{"QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b2)\nCopyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers\n",
			"QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b2)", "7.2.22"},
		{"QEMU emulator version 8.2.2 (Debian 1:8.2.2+ds-0ubuntu1.4)\nCopyright (c) 2003-2023 Fabrice Bellard and the QEMU Project developers\n",
			"QEMU emulator version 8.2.2 (Debian 1:8.2.2+ds-0ubuntu1.4)", "8.2.2"},
		{"QEMU emulator version 9.1.0\r\nCopyright (c) 2003-2024 Fabrice Bellard and the QEMU Project developers\r\n",
			"QEMU emulator version 9.1.0", "9.1.0"},
		{"qemu-system-x86_64: error while loading shared libraries: libslirp.so.0\n", "", ""},
		{"", "", ""},
	} {
		line, v := ParseQEMUVersion(tc.out)
		assert.Equal(t, tc.line, line, tc.out)
		assert.Equal(t, tc.version, v, tc.out)
	}
}

func TestClassifyKVM(t *testing.T) {
	modules := func(names ...string) func(string) bool {
		return func(n string) bool {
			for _, m := range names {
				if m == n {
					return true
				}
			}
			return false
		}
	}
	none := map[string]bool{}
	missing := fmt.Errorf("%w: /dev/kvm does not exist (load the kvm_intel or kvm_amd module, or enable nested virtualization)", kvm.ErrNoKVM)
	denied := fmt.Errorf("%w: permission denied opening /dev/kvm (add yourself to the kvm group: sudo usermod -aG kvm $USER, then log in again)", kvm.ErrNoKVM)

	k := ClassifyKVM(missing, modules(), none)
	assert.Equal(t, KVMMissing, k.Kind)
	assert.False(t, k.Usable())
	assert.Equal(t, "missing: /dev/kvm does not exist (load the kvm_intel or kvm_amd module, or enable nested virtualization)", k.String())

	k = ClassifyKVM(denied, modules("kvm", "kvm_intel"), none)
	assert.Equal(t, KVMUnusable, k.Kind)
	assert.False(t, k.Usable())
	assert.Contains(t, k.String(), "unusable: permission denied opening /dev/kvm")

	for _, tc := range []struct {
		modules []string
		flags   map[string]bool
		kind    KVMKind
		text    string
	}{
		// PVM wins even when a hardware module is loaded too.
		{[]string{"kvm", "kvm_pvm", "kvm_amd"}, map[string]bool{"svm": true}, KVMPVM, "PVM (kvm_pvm module"},
		{[]string{"kvm", "kvm_intel"}, none, KVMVMX, "hardware VMX (kvm_intel)"},
		{[]string{"kvm", "kvm_amd"}, none, KVMSVM, "hardware SVM (kvm_amd)"},
		{[]string{"kvm"}, map[string]bool{"vmx": true}, KVMVMX, "hardware VMX"},
		{[]string{"kvm"}, map[string]bool{"svm": true}, KVMSVM, "hardware SVM"},
		{nil, none, KVMOther, "usable (neither"},
	} {
		k := ClassifyKVM(nil, modules(tc.modules...), tc.flags)
		assert.Equal(t, tc.kind, k.Kind, "%v", tc.modules)
		assert.True(t, k.Usable())
		assert.Equal(t, 12, k.API)
		assert.Contains(t, k.String(), tc.text)
	}

	assert.Contains(t, KVM{Kind: KVMPVM}.String(), "without PVM's paravirtual interface")
	assert.Contains(t, KVM{Kind: KVMPVM, PVMABI: true}.String(), "with PVM's paravirtual interface")
}

// Detect asks a vCPU for PVM's MSR: the module on this project's hosts
// has none; hardware KVM never has.
func TestDetectPVMABI(t *testing.T) {
	h := Detect()
	if !h.KVM.Usable() {
		t.Skipf("/dev/kvm: %s", h.KVM)
	}
	s, err := kvm.Open()
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, h.KVM.Kind == KVMPVM && hasPVMABI(s), h.KVM.PVMABI)
	if h.KVM.Kind != KVMPVM {
		assert.False(t, h.KVM.PVMABI)
	}
	t.Logf("%s", h.KVM)
}

func TestHostAbsent(t *testing.T) {
	h := &Host{KVM: KVM{Kind: KVMPVM}, QEMU: QEMU{Version: "QEMU emulator version 7.2.22"}}
	for _, r := range Runners {
		assert.Empty(t, h.Absent(r), r)
	}
	h = &Host{KVM: KVM{Kind: KVMMissing, Why: "/dev/kvm does not exist"}, QEMU: QEMU{Why: "qemu-system-x86_64 not on PATH"}}
	assert.Equal(t, "the launcher needs a usable /dev/kvm: missing: /dev/kvm does not exist", h.Absent(Launcher))
	assert.Equal(t, "qemu-system-x86_64 not on PATH", h.Absent(QEMUKVM))
	assert.Equal(t, "qemu-system-x86_64 not on PATH", h.Absent(QEMUTCG))
	h.QEMU = QEMU{Version: "QEMU emulator version 9.1.0"}
	assert.Equal(t, "no usable /dev/kvm (missing: /dev/kvm does not exist)", h.Absent(QEMUKVM))
	assert.Empty(t, h.Absent(QEMUTCG))
	assert.Contains(t, h.Absent("bochs"), "unknown runner")
}

func TestParseGuestCPU(t *testing.T) {
	g, err := ParseGuestCPU("unigo: cpu vendor=AuthenticAMD xcr0=0x2e7 cpuid-xsave-size=2440 xsave-mask=0xe7 xsave-size=2440 pvm=1 pvm-abi=0")
	require.NoError(t, err)
	assert.Equal(t, GuestCPU{
		Vendor: "AuthenticAMD", XCR0: 0x2e7, CPUIDXSaveSize: 2440, XSaveMask: 0xe7, XSaveSize: 2440, PVM: 1, PVMABI: 0,
		Fields: []string{"vendor=AuthenticAMD", "xcr0=0x2e7", "cpuid-xsave-size=2440", "xsave-mask=0xe7", "xsave-size=2440", "pvm=1", "pvm-abi=0"},
	}, g)
	assert.Equal(t, "vendor=AuthenticAMD xcr0=0x2e7 cpuid-xsave-size=2440 xsave-mask=0xe7 xsave-size=2440 pvm=1 pvm-abi=0 (xcr0 components 0x200 not saved)", g.String())

	// The Intel PVM host of issue 9: the host's AMX bits in XCR0; pvm
	// absent (printed before the first SYSCALL), an unknown key, a CR.
	g, err = ParseGuestCPU("unigo: cpu vendor=GenuineIntel xcr0=0x600e7 cpuid-xsave-size=2688 xsave-mask=0xe7 xsave-size=2696 future=yes\r")
	require.NoError(t, err)
	assert.Equal(t, uint64(0x600e7), g.XCR0)
	assert.Equal(t, 2688, g.CPUIDXSaveSize)
	assert.Equal(t, uint64(0xe7), g.XSaveMask)
	assert.Equal(t, 2696, g.XSaveSize)
	assert.Equal(t, -1, g.PVM)
	assert.Equal(t, -1, g.PVMABI)
	assert.Equal(t, "vendor=GenuineIntel xcr0=0x600e7 cpuid-xsave-size=2688 xsave-mask=0xe7 xsave-size=2696 future=yes (xcr0 components 0x60000 not saved)", g.String())

	// TCG: XCR0 is what the kernel saves, no note.
	g, err = ParseGuestCPU("vendor=AuthenticAMD xcr0=0x7 cpuid-xsave-size=832 xsave-mask=0x7 xsave-size=832 pvm=0")
	require.NoError(t, err)
	assert.Equal(t, 0, g.PVM)
	assert.Equal(t, "vendor=AuthenticAMD xcr0=0x7 cpuid-xsave-size=832 xsave-mask=0x7 xsave-size=832 pvm=0", g.String())

	for _, bad := range []string{"unigo: cpu xcr0=zz", "unigo: cpu xsave-size=-", "unigo: cpu pvm=2", "unigo: cpu pvm-abi=x", "unigo: cpu ", "unigo: cpu nothing here"} {
		_, err := ParseGuestCPU(bad)
		assert.Error(t, err, bad)
	}
}

func TestFindGuestCPU(t *testing.T) {
	out := "unigo: cpu vendor=AuthenticAMD xcr0=0x2e7 cpuid-xsave-size=2440 xsave-mask=0xe7 xsave-size=2440 pvm=1\nHello from unigo!\n"
	g, ok, err := FindGuestCPU(out)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "AuthenticAMD", g.Vendor)

	_, ok, err = FindGuestCPU("Hello from unigo!\n")
	require.NoError(t, err)
	assert.False(t, ok)

	_, ok, err = FindGuestCPU("unigo: cpu xcr0=0xq\n")
	assert.Error(t, err)
	assert.False(t, ok)
	r := Result{GuestErr: err}
	assert.Contains(t, r.GuestLine(), "(malformed: ")
	assert.Equal(t, "(not reported)", Result{}.GuestLine())
}

func TestResultLine(t *testing.T) {
	assert.Equal(t, "launcher: ok 153ms", Result{Runner: Launcher, OK: true, Elapsed: 153400 * time.Microsecond}.Line())
	assert.Equal(t, "qemu-kvm: FAILED: no exit after 30s; no output", Result{Runner: QEMUKVM, Reason: "no exit after 30s; no output"}.Line())
	assert.Equal(t, "qemu-tcg: skipped: qemu-system-x86_64 not on PATH", Result{Runner: QEMUTCG, Absent: "qemu-system-x86_64 not on PATH"}.Line())
}

func TestDecodeQEMUStatus(t *testing.T) {
	for _, tc := range []struct {
		status     int
		diag       string
		code       int
		poweredOff bool
		err        string
	}{
		{status: 1, code: 0},
		{status: 15, code: 7},
		{status: 0, poweredOff: true},
		{status: 1, diag: "qemu-system-x86_64: -kernel x: No such file", err: "qemu failed"},
		{status: 1, diag: "qemu: could not open kernel file 'x': No such file or directory", err: "qemu failed: qemu: could not open"},
		{status: 2, diag: "oops", err: "status 2"},
	} {
		code, off, err := DecodeQEMUStatus(tc.status, tc.diag)
		if tc.err != "" {
			assert.ErrorContains(t, err, tc.err, "status %d", tc.status)
			continue
		}
		require.NoError(t, err, "status %d", tc.status)
		assert.Equal(t, tc.code, code, "status %d", tc.status)
		assert.Equal(t, tc.poweredOff, off, "status %d", tc.status)
	}
}

func TestQEMUArgs(t *testing.T) {
	kvm := QEMUArgs(true, "/x.img", "256M", 2, "K=V -- a")
	assert.Equal(t, []string{"-accel", "kvm", "-cpu", "host,-arch-capabilities"}, kvm[2:6])
	assert.Equal(t, []string{"-kernel", "/x.img", "-initrd", "/x.img", "-append", "K=V -- a"}, kvm[len(kvm)-6:])
	assert.Contains(t, strings.Join(kvm, " "), "-m 256M -smp 2 ")
	tcg := QEMUArgs(false, "/x.img", "256M", 0, "")
	assert.Equal(t, []string{"-accel", "tcg", "-cpu", "max"}, tcg[2:6])
	assert.Contains(t, strings.Join(tcg, " "), "-smp 1 ")
	assert.Contains(t, tcg, "stdio")
	assert.Contains(t, strings.Join(tcg, " "), "-device virtio-balloon-device,free-page-reporting=on -global virtio-mmio.force-legacy=false ")

	port := strings.Join(QEMUArgsStdinPort(false, "/x.img", "256M", 1, ""), " ")
	// The serial port writes to stdout; stdin is a virtserialport (which
	// QEMU closes at the chardev's end of file, unlike a virtconsole).
	assert.Contains(t, port, "-chardev file,id=serial0,path=/dev/stdout,append=on -serial chardev:serial0 ")
	assert.Contains(t, port, "-chardev stdio,id=stdin0 ")
	assert.Contains(t, port, "-device virtserialport,chardev=stdin0,nr=1 ")
	assert.Contains(t, port, "-global virtio-mmio.force-legacy=false ")
	assert.NotContains(t, port, "-serial stdio")
}

// fakeMonitor writes an executable shell script standing in for the unigo
// CLI or QEMU.
func fakeMonitor(t *testing.T, dir, name, script string) string {
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"+script+"\n"), 0o755))
	return p
}

const cpuLine = "unigo: cpu vendor=GenuineIntel xcr0=0x600e7 cpuid-xsave-size=2688 xsave-mask=0xe7 xsave-size=2696 pvm=1"

// TestBootLauncher checks how Boot reads the launcher's outcomes, with a
// script in its place.
func TestBootLauncher(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "img")
	require.NoError(t, os.WriteFile(img, nil, 0o644))
	for _, tc := range []struct {
		name, script string
		ok           bool
		reason       string
	}{
		{"ok", `echo "` + cpuLine + `"; echo "Hello from unigo!"`, true, ""},
		{"args", `case "$*" in "run -m 128M -timeout 5s -cmdline unigo.cpuinfo=1 /"*/img) ;; *) echo "args: $*" >&2; exit 125;; esac; echo "Hello from unigo!"`, true, ""},
		{"timeout", `echo "` + cpuLine + `"; echo "unigo run: guest timed out after 5s" >&2; exit 124`, false, `no exit after 5s; last output: "` + cpuLine + `"`},
		{"crash", `echo "guest crashed: page fault at 0x10 in kernel.kernelTrap" >&2; echo "goroutine 1" >&2; exit 70`, false, "guest crashed: page fault at 0x10 in kernel.kernelTrap"},
		{"vcpu failure", `echo "unigo: vCPU 0: KVM_EXIT_SHUTDOWN" >&2; exit 70`, false, "guest crashed: unigo: vCPU 0: KVM_EXIT_SHUTDOWN"},
		{"launcher error", `echo "unigo run: cannot use KVM: permission denied" >&2; exit 125`, false, "cannot use KVM: permission denied"},
		{"exit code", `echo "Hello from unigo!"; echo "panic: boom"; exit 2`, false, `guest exit code 2; last output: "panic: boom"`},
		{"no greeting", `echo "hi"`, false, `guest exited 0 without printing "Hello from unigo!"; last output: "hi"`},
		{"hang", `exec sleep 30`, false, "no exit after 5s; no output"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			unigo := fakeMonitor(t, dir, strings.ReplaceAll(tc.name, " ", "_"), tc.script)
			start := time.Now()
			res := Boot(context.Background(), Launcher, Config{Image: img, Unigo: unigo, Timeout: 5 * time.Second})
			assert.Equal(t, tc.ok, res.OK, res.Line())
			assert.Equal(t, tc.reason, res.Reason)
			assert.Less(t, time.Since(start), 15*time.Second)
			if tc.name == "ok" {
				require.True(t, res.GuestOK)
				assert.Equal(t, uint64(0x600e7), res.Guest.XCR0)
			}
		})
	}
}

func TestBootMissingImage(t *testing.T) {
	res := Boot(context.Background(), QEMUTCG, Config{Image: "/nonexistent/hello.img"})
	assert.False(t, res.OK)
	assert.Equal(t, "/nonexistent/hello.img: no such file or directory", res.Reason)
}

// TestBootQEMU checks how Boot reads QEMU's outcomes, with a script in
// its place on PATH.
func TestBootQEMU(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	img := filepath.Join(dir, "img")
	require.NoError(t, os.WriteFile(img, nil, 0o644))
	for _, tc := range []struct {
		name, script string
		runner       Runner
		ok           bool
		reason       string
	}{
		{"ok", `case "$*" in *"-accel kvm"*"-append unigo.argv0=img unigo.cpuinfo=1"*) ;; *) exit 3;; esac; echo "Hello from unigo!"; exit 1`, QEMUKVM, true, ""},
		{"tcg", `case "$*" in *"-accel tcg -cpu max"*) ;; *) exit 3;; esac; printf 'Hello from unigo!\r\n'; exit 1`, QEMUTCG, true, ""},
		{"qemu error", `echo "qemu-system-x86_64: -accel kvm: failed to initialize kvm: Permission denied" >&2; echo "second line" >&2; exit 1`, QEMUKVM, false, "qemu failed: qemu-system-x86_64: -accel kvm: failed to initialize kvm: Permission denied"},
		{"powered off", `echo "triple"; exit 0`, QEMUTCG, false, `VM powered off without an exit code; last output: "triple"`},
		{"code", `exit 15`, QEMUTCG, false, "guest exit code 7; no output"},
		{"hang", `echo "Hello from unigo!"; exec sleep 30`, QEMUKVM, false, `no exit after 2s; last output: "Hello from unigo!"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fakeMonitor(t, dir, QEMUBinary, tc.script)
			res := Boot(context.Background(), tc.runner, Config{Image: img, Timeout: 2 * time.Second})
			assert.Equal(t, tc.ok, res.OK, res.Line())
			assert.Equal(t, tc.reason, res.Reason)
		})
	}
}

// TestDetect checks Detect against what this host's files say.
func TestDetect(t *testing.T) {
	h := Detect()
	if info, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		assert.Equal(t, ParseCPUInfo(string(info)).Vendor, h.CPU.Vendor)
	}
	_, statErr := os.Stat("/sys/module/kvm_pvm")
	if h.KVM.Usable() && statErr == nil {
		assert.Equal(t, KVMPVM, h.KVM.Kind)
	}
	if _, err := os.Stat(kvm.DevicePath); os.IsNotExist(err) {
		assert.Equal(t, KVMMissing, h.KVM.Kind)
	}
	if h.QEMU.Why == "" {
		assert.True(t, strings.HasPrefix(h.QEMU.Version, "QEMU emulator version "), h.QEMU.Version)
	}
	if h.XFeatures != 0 {
		assert.Equal(t, uint64(3), h.XFeatures&3, "x87 and SSE are always there: %#x", h.XFeatures)
	}
	assert.Equal(t, h.KVM.Usable(), h.LauncherXSaveOK, "leaf 0xD from KVM_GET_SUPPORTED_CPUID")
	t.Logf("cpu %s; /dev/kvm %s; qemu %s; xfeatures %#x; launcher cpuid 0xd: %s", h.CPU, h.KVM, h.QEMU, h.XFeatures, h.LauncherXSave)
}

func TestXFeatureNames(t *testing.T) {
	assert.Equal(t, "0x7 (x87 SSE AVX)", XFeatureNames(7))
	assert.Equal(t, "0x600e7 (x87 SSE AVX AVX512-opmask AVX512-ZMM_Hi256 AVX512-Hi16_ZMM AMX-TILECFG AMX-TILEDATA)", XFeatureNames(0x600e7))
	assert.Equal(t, "0x2e7 (x87 SSE AVX AVX512-opmask AVX512-ZMM_Hi256 AVX512-Hi16_ZMM PKRU)", XFeatureNames(0x2e7))
	assert.Equal(t, "0x100 (bit8)", XFeatureNames(0x100))
}

func TestFindXSaveLeaf(t *testing.T) {
	x, ok := FindXSaveLeaf([]kvm.CPUIDEntry{
		{Function: 0xd, Index: 1, EAX: 0xf},
		{Function: 0xd, Index: 0, EAX: 0x600e7, EBX: 2688, ECX: 11008, EDX: 0},
	})
	require.True(t, ok)
	assert.Equal(t, XSaveLeaf{Components: 0x600e7, EnabledSize: 2688, SupportedSize: 11008}, x)
	assert.Equal(t, "components 0x600e7 (x87 SSE AVX AVX512-opmask AVX512-ZMM_Hi256 AVX512-Hi16_ZMM AMX-TILECFG AMX-TILEDATA), size 2688 for XCR0 (ebx), 11008 for all (ecx)", x.String())
	_, ok = FindXSaveLeaf([]kvm.CPUIDEntry{{Function: 0xd, Index: 1}})
	assert.False(t, ok)
}
