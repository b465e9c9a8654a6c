package probe

import (
	"fmt"
	"strconv"
	"strings"
)

// GuestCPUParam is the kernel parameter that makes the kernel print its
// CPU line (GuestCPULinePrefix ...) at boot.
const GuestCPUParam = "unigo.cpuinfo=1"

// GuestCPULinePrefix starts the line the kernel prints with GuestCPUParam:
//
//	unigo: cpu vendor=AuthenticAMD xcr0=0x2e7 cpuid-xsave-size=2440 xsave-mask=0xe7 xsave-size=2440 pvm=1 pvm-abi=0
const GuestCPULinePrefix = "unigo: cpu "

// GuestCPU is the CPU as the kernel saw it inside the VM.
type GuestCPU struct {
	Vendor string
	// XCR0 is what XGETBV returned (under PVM, the host's XCR0).
	XCR0 uint64
	// CPUIDXSaveSize is CPUID(0xD,0).EBX, the size CPUID gives for XCR0.
	CPUIDXSaveSize int
	// XSaveMask is the mask the kernel saves and XSaveSize the area size
	// it computed for it.
	XSaveMask uint64
	XSaveSize int
	// PVM is 1 when the kernel runs in PVM's CPL-3 SYSCALL mode, 0 when
	// not, -1 when not reported.
	PVM int
	// PVMABI is 1 when the kernel found PVM's paravirtual interface
	// (pvm-abi=, kernel/host.go pvmParavirt), 0 when not, -1 when not
	// reported.
	PVMABI int
	// Fields are the line's key=value fields in order, unknown keys
	// included; String prints them.
	Fields []string
}

// ParseGuestCPU parses the text after GuestCPULinePrefix (or the whole line).
// Unknown keys are kept in Fields and otherwise ignored; a known key with a
// malformed value is an error.
func ParseGuestCPU(line string) (GuestCPU, error) {
	line = strings.TrimSpace(line)
	if i := strings.Index(line, GuestCPULinePrefix); i >= 0 {
		line = line[i+len(GuestCPULinePrefix):]
	}
	g := GuestCPU{PVM: -1, PVMABI: -1}
	for _, f := range strings.Fields(line) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		g.Fields = append(g.Fields, f)
		var err error
		switch k {
		case "vendor":
			g.Vendor = v
		case "xcr0":
			g.XCR0, err = strconv.ParseUint(v, 0, 64)
		case "xsave-mask":
			g.XSaveMask, err = strconv.ParseUint(v, 0, 64)
		case "cpuid-xsave-size":
			g.CPUIDXSaveSize, err = strconv.Atoi(v)
		case "xsave-size":
			g.XSaveSize, err = strconv.Atoi(v)
		case "pvm":
			g.PVM, err = zeroOrOne(v)
		case "pvm-abi":
			g.PVMABI, err = zeroOrOne(v)
		}
		if err != nil {
			return GuestCPU{}, fmt.Errorf("guest cpu line: %s: %v", f, err)
		}
	}
	if len(g.Fields) == 0 {
		return GuestCPU{}, fmt.Errorf("guest cpu line %q has no key=value fields", line)
	}
	return g, nil
}

func zeroOrOne(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err == nil && n != 0 && n != 1 {
		err = fmt.Errorf("want 0 or 1")
	}
	return n, err
}

// FindGuestCPU finds the kernel's CPU line in a guest's console output.
// ok is false when there is none (a kernel without the line, or a boot that
// stopped before it).
func FindGuestCPU(out string) (g GuestCPU, ok bool, err error) {
	for _, l := range strings.Split(out, "\n") {
		if i := strings.Index(l, GuestCPULinePrefix); i >= 0 {
			g, err = ParseGuestCPU(l[i:])
			return g, err == nil, err
		}
	}
	return GuestCPU{}, false, nil
}

// String is the line's fields, with a note when XCR0 holds components the
// kernel does not save (the host's own, e.g. AMX under PVM).
func (g GuestCPU) String() string {
	s := strings.Join(g.Fields, " ")
	if extra := g.XCR0 &^ g.XSaveMask; g.XCR0 != 0 && g.XSaveMask != 0 && extra != 0 {
		s += fmt.Sprintf(" (xcr0 components %#x not saved)", extra)
	}
	return s
}
