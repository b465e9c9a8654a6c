package vmm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/tools/vmm/arch"
	"github.com/unigo-os/unigo/tools/vmm/crash"
	"github.com/unigo-os/unigo/tools/vmm/kvm"
)

// ExitCrash is the launcher's exit status after a guest crash (EX_SOFTWARE).
const ExitCrash = 70

// symbols loads the image's symbols once, at the first crash: booting does
// not pay for parsing .gopclntab.
func (v *VM) symbols() *crash.Symbols {
	v.symsOnce.Do(func() {
		v.syms, _ = crash.NewSymbols(bytes.NewReader(v.cfg.Image))
	})
	return v.syms
}

// guestCrash handles a write to the crash port by vCPU c: paddr is the
// guest-physical address of an abi.CrashRecord. It runs on c's thread, so
// c's page tables can be read to follow the guest's stack.
func (v *VM) guestCrash(c *vcpu, paddr uint64) {
	if v.stopped.Load() {
		return // the guest already exited; a late report changes nothing
	}
	if !arch.InRAM(uint64(len(v.mem)), paddr, abi.CrashRecordSize) {
		v.Stop(Result{Reason: Crash, Err: fmt.Errorf("guest crashed; its crash record address %#x is outside guest memory", paddr)})
		return
	}
	rec, err := crash.ParseRecord(v.mem[paddr : paddr+abi.CrashRecordSize])
	if err != nil {
		v.Stop(Result{Reason: Crash, Err: fmt.Errorf("guest crashed; unusable crash record: %v", err)})
		return
	}
	syms := v.symbols()
	var b strings.Builder
	crash.Report(&b, syms, &rec, v.virtReader(c))
	v.writeTrace(&b, syms)
	v.Stop(Result{Reason: Crash, Err: fmt.Errorf("guest crashed: %s", crash.Reason(&rec, syms)), Report: b.String()})
}

// vcpuCrash stops the VM with a report built from the vCPU's own state, for
// exits where the guest could not report anything itself (triple fault,
// entry failure, emulation failure).
func (v *VM) vcpuCrash(c *vcpu, what, detail string) {
	var b strings.Builder
	fmt.Fprintf(&b, "unigo: vCPU %d: %s\n", c.ID, what)
	if detail != "" {
		fmt.Fprintf(&b, "  %s\n", detail)
	}
	r, rerr := c.Regs()
	s, serr := c.Sregs()
	if serr == nil {
		writeSregs(&errWriter{w: &b}, &s)
	}
	if rerr != nil {
		fmt.Fprintf(&b, "  (registers unavailable: %v)\n", rerr)
	} else {
		// Reuse the symbolizing report for registers, code and backtrace.
		rec := regsRecord(&r)
		rec.MsgLen = uint64(copy(rec.Msg[:], what))
		crash.Report(&b, v.symbols(), &rec, v.virtReader(c))
	}
	v.writeTrace(&b, v.symbols())
	v.Stop(Result{Reason: Crash, Err: fmt.Errorf("vCPU %d: %s", c.ID, what), Report: b.String()})
}

// virtReader returns a crash.MemReader translating guest-virtual addresses
// through c's current paging mode. It snapshots the control registers now,
// on c's thread.
func (v *VM) virtReader(c *vcpu) crash.MemReader {
	s, err := c.Sregs()
	if err != nil {
		return func(uint64, int) ([]byte, bool) { return nil, false }
	}
	return sregsReader(v.mem, s)
}

// sregsReader returns a crash.MemReader translating guest-virtual
// addresses through the paging state s.
func sregsReader(mem []byte, s kvm.Sregs) crash.MemReader {
	return func(addr uint64, n int) ([]byte, bool) {
		return readVirt(mem, s, addr, n)
	}
}

// readVirt copies n bytes at guest-virtual addr, page by page.
func readVirt(mem []byte, s kvm.Sregs, addr uint64, n int) ([]byte, bool) {
	if n < 0 || n > 1<<20 {
		return nil, false
	}
	out := make([]byte, 0, n)
	for len(out) < n {
		pa, ok := translate(mem, s, addr)
		if !ok {
			return out, false
		}
		chunk := min(uint64(n-len(out)), 4096-addr%4096)
		if !arch.InRAM(uint64(len(mem)), pa, chunk) {
			return out, false
		}
		out = append(out, mem[pa:pa+chunk]...)
		addr += chunk
	}
	return out, true
}

// Paging bits.
const (
	cr0PG   = 1 << 31
	cr4PAE  = 1 << 5
	cr4LA57 = 1 << 12
	eferLMA = 1 << 10
	ptePres = 1 << 0
	ptePS   = 1 << 7
	pteAddr = 0x000F_FFFF_FFFF_F000
)

// translate walks the guest page tables for va: identity with paging off,
// 4- or 5-level long-mode paging with 1G and 2M pages. Legacy 32-bit paging
// is not walked (the unigo kernel runs in long mode).
func translate(mem []byte, s kvm.Sregs, va uint64) (uint64, bool) {
	if s.CR0&cr0PG == 0 {
		return va & 0xFFFF_FFFF, true
	}
	if s.EFER&eferLMA == 0 || s.CR4&cr4PAE == 0 {
		return 0, false
	}
	levels := 4
	if s.CR4&cr4LA57 != 0 {
		levels = 5
	}
	table := s.CR3 & pteAddr
	for l := levels; l >= 1; l-- {
		shift := 12 + 9*uint(l-1)
		idx := (va >> shift) & 0x1FF
		ea := table + idx*8
		if !arch.InRAM(uint64(len(mem)), ea, 8) {
			return 0, false
		}
		pte := binary.LittleEndian.Uint64(mem[ea:])
		if pte&ptePres == 0 {
			return 0, false
		}
		if l == 1 || (pte&ptePS != 0 && (l == 2 || l == 3)) {
			mask := uint64(1)<<shift - 1
			return (pte & pteAddr &^ mask) | (va & mask), true
		}
		table = pte & pteAddr
	}
	return 0, false
}
