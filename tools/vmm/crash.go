package vmm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/tools/vmm/kvm"
)

// ExitCrash is the launcher's exit status after a guest crash (EX_SOFTWARE).
const ExitCrash = 70

// regNames is the x86asm register order of abi.CrashRecord.Regs.
var regNames = [16]string{"RAX", "RCX", "RDX", "RBX", "RSP", "RBP", "RSI", "RDI",
	"R8", "R9", "R10", "R11", "R12", "R13", "R14", "R15"}

// guestCrash handles a write to the crash port: paddr is the guest-physical
// address of an abi.CrashRecord.
func (v *VM) guestCrash(paddr uint64) {
	if v.stopped.Load() {
		return // the guest already exited; a late report changes nothing
	}
	rec, err := ReadCrashRecord(v.mem, paddr)
	if err != nil {
		v.Stop(Result{Reason: Crash, Err: fmt.Errorf("guest crashed: %v", err),
			Report: fmt.Sprintf("guest crashed but its crash record is unusable: %v\n", err)})
		return
	}
	msg := rec.Message()
	v.Stop(Result{Reason: Crash, Err: fmt.Errorf("guest crashed: %s", msg), Report: FormatCrashRecord(rec)})
}

// ReadCrashRecord reads and validates the record at paddr.
func ReadCrashRecord(mem []byte, paddr uint64) (*CrashRecord, error) {
	if paddr > uint64(len(mem)) || uint64(len(mem))-paddr < abi.CrashRecordSize {
		return nil, fmt.Errorf("crash record address %#x is outside guest memory", paddr)
	}
	var r abi.CrashRecord
	if err := binary.Read(bytes.NewReader(mem[paddr:paddr+abi.CrashRecordSize]), binary.LittleEndian, &r); err != nil {
		return nil, err
	}
	if r.Magic != abi.CrashMagic {
		return nil, fmt.Errorf("bad crash record magic %#x at %#x", r.Magic, paddr)
	}
	return &CrashRecord{r}, nil
}

// CrashRecord is a validated abi.CrashRecord.
type CrashRecord struct{ abi.CrashRecord }

// Message is the record's one-line reason.
func (r *CrashRecord) Message() string {
	n := min(r.MsgLen, uint64(len(r.Msg)))
	msg := strings.TrimSpace(string(r.Msg[:n]))
	if msg == "" {
		msg = "no message"
	}
	return msg
}

// FormatCrashRecord prints a record as a human-readable report.
func FormatCrashRecord(r *CrashRecord) string {
	var b strings.Builder
	fmt.Fprintf(&b, "unigo: guest crashed: %s\n", r.Message())
	if r.Vector == 0xFFFF {
		fmt.Fprintf(&b, "  kernel panic\n")
	} else {
		fmt.Fprintf(&b, "  exception %d error %#x cr2 %#x\n", r.Vector, r.Error, r.CR2)
	}
	fmt.Fprintf(&b, "  RIP 0x%016x  RSP 0x%016x  RFLAGS %#x\n", r.RIP, r.RSP, r.RFLAGS)
	for i := 0; i < 16; i += 4 {
		fmt.Fprintf(&b, "  %-3s 0x%016x  %-3s 0x%016x  %-3s 0x%016x  %-3s 0x%016x\n",
			regNames[i], r.Regs[i], regNames[i+1], r.Regs[i+1], regNames[i+2], r.Regs[i+2], regNames[i+3], r.Regs[i+3])
	}
	return b.String()
}

// vcpuCrash stops the VM with a report built from the vCPU's registers,
// for exits where the guest could not report anything itself.
func (v *VM) vcpuCrash(c *vcpu, what, detail string) {
	v.Stop(Result{Reason: Crash, Err: fmt.Errorf("vCPU %d: %s", c.ID, what), Report: FormatVCPUCrash(c.VCPU, what, detail)})
}

// FormatVCPUCrash prints the registers of a stopped vCPU.
func FormatVCPUCrash(c *kvm.VCPU, what, detail string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "unigo: vCPU %d: %s\n", c.ID, what)
	if detail != "" {
		fmt.Fprintf(&b, "  %s\n", detail)
	}
	r, err := c.Regs()
	if err != nil {
		fmt.Fprintf(&b, "  (registers unavailable: %v)\n", err)
		return b.String()
	}
	s, err := c.Sregs()
	if err != nil {
		fmt.Fprintf(&b, "  (special registers unavailable: %v)\n", err)
	}
	fmt.Fprintf(&b, "  RIP 0x%016x  RSP 0x%016x  RFLAGS %#x\n", r.RIP, r.RSP, r.RFLAGS)
	regs := [16]uint64{r.RAX, r.RCX, r.RDX, r.RBX, r.RSP, r.RBP, r.RSI, r.RDI,
		r.R8, r.R9, r.R10, r.R11, r.R12, r.R13, r.R14, r.R15}
	for i := 0; i < 16; i += 4 {
		fmt.Fprintf(&b, "  %-3s 0x%016x  %-3s 0x%016x  %-3s 0x%016x  %-3s 0x%016x\n",
			regNames[i], regs[i], regNames[i+1], regs[i+1], regNames[i+2], regs[i+2], regNames[i+3], regs[i+3])
	}
	if err == nil {
		fmt.Fprintf(&b, "  CR0 %#x  CR2 %#x  CR3 %#x  CR4 %#x  EFER %#x\n", s.CR0, s.CR2, s.CR3, s.CR4, s.EFER)
		fmt.Fprintf(&b, "  CS %#x (base %#x L%d D%d DPL%d)  SS %#x  GDT %#x/%#x  IDT %#x/%#x\n",
			s.CS.Selector, s.CS.Base, s.CS.L, s.CS.DB, s.CS.DPL, s.SS.Selector, s.GDT.Base, s.GDT.Limit, s.IDT.Base, s.IDT.Limit)
	}
	return b.String()
}
