package vmm

import (
	"fmt"
	"io"
	"time"

	"golang.org/x/sys/unix"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/tools/vmm/arch"
	"github.com/unigo-os/unigo/tools/vmm/crash"
	"github.com/unigo-os/unigo/tools/vmm/kvm"
)

// DumpWait bounds how long Dump waits for a vCPU thread to report.
const DumpWait = time.Second

// DumpEvents is how many kernel events Dump prints.
const DumpEvents = 64

// dumpRequest asks the vCPU threads for their state. KVM wants a vCPU's
// ioctls on the thread that runs it, so each thread answers for itself on
// its channel, then waits for resume: the guest stays stopped while the
// dump reads its memory.
type dumpRequest struct {
	answers []chan vcpuState // by vCPU, buffered
	resume  chan struct{}
}

// vcpuState is what a vCPU thread reports for a dump.
type vcpuState struct {
	regs  kvm.Regs
	sregs kvm.Sregs
	mp    uint32 // kvm.MPState*, when mpErr is nil
	mpErr error
	err   error
}

// maxCompletions bounds the exits answerDump handles to complete a pending
// one (a string I/O instruction may take several).
const maxCompletions = 16

// answerDump reports c's state for r and waits until the dump is written.
// It runs on c's thread, in the run loop. exitPending says the last exit
// is not complete yet: KVM_RUN with immediate_exit completes it and
// returns at once (EINTR), or with the next exit of an instruction that
// needs several, which is handled as the run loop would. Then the
// registers are the guest's, not those of a half-done instruction.
func (v *VM) answerDump(c *vcpu, r *dumpRequest, exitPending bool) {
	for i := 0; exitPending && i < maxCompletions && !v.stopped.Load(); i++ {
		c.SetImmediateExit(true)
		if c.Run() != nil {
			break
		}
		if err := v.handleExit(c); err != nil {
			v.Stop(Result{Reason: Failed, Err: fmt.Errorf("vCPU %d: %w", c.ID, err)})
			break
		}
	}
	// Take back the kick, unless a stop needs it: kickAll sets it under
	// c.mu after marking the VM stopped.
	c.mu.Lock()
	if !v.stopped.Load() {
		c.SetImmediateExit(false)
	}
	c.mu.Unlock()
	var st vcpuState
	st.regs, st.err = c.Regs()
	if st.err == nil {
		st.sregs, st.err = c.Sregs()
	}
	st.mp, st.mpErr = c.MPState()
	r.answers[c.ID] <- st
	<-r.resume
}

// Dump writes the state of the running guest to w: for every vCPU its
// registers, the instructions at RIP and a symbolized backtrace, then the
// last DumpEvents kernel entries from the kernel's trace ring
// (abi.TraceBuffer). Each vCPU is kicked out of KVM_RUN and reports from
// its own thread; one that does not within DumpWait is reported as such.
// The guest is stopped while the dump is taken and resumes afterwards. It
// is safe from any goroutine, concurrently with Run.
func (v *VM) Dump(w io.Writer) error {
	v.dumpMu.Lock()
	defer v.dumpMu.Unlock()
	ew := &errWriter{w: w}
	if v.closed {
		ew.printf("unigo: no dump: the VM is closed\n")
		return ew.err
	}
	r := &dumpRequest{resume: make(chan struct{})}
	defer close(r.resume)
	running := make([]bool, len(v.vcpus))
	for range v.vcpus {
		r.answers = append(r.answers, make(chan vcpuState, 1))
	}
	pid := unix.Getpid()
	for i, c := range v.vcpus {
		c.dump.Store(r)
		c.mu.Lock()
		c.SetImmediateExit(true)
		if running[i] = c.running; c.running {
			unix.Tgkill(pid, c.tid, unix.SIGURG)
		}
		c.mu.Unlock()
	}
	states := make([]*vcpuState, len(v.vcpus))
	deadline := time.NewTimer(DumpWait)
	defer deadline.Stop()
wait:
	for i, ch := range r.answers {
		if !running[i] {
			continue
		}
		select {
		case st := <-ch:
			states[i] = &st
		case <-deadline.C:
			break wait
		}
	}

	syms := v.symbols()
	ew.printf("unigo: guest state, %d vCPU(s)\n", len(v.vcpus))
	for i, st := range states {
		ew.printf("\nvCPU %d: ", i)
		switch {
		case !running[i]:
			ew.printf("not running\n")
		case st == nil:
			ew.printf("did not stop within %v (its thread is stuck outside the guest)\n", DumpWait)
		case st.err != nil:
			ew.printf("registers unavailable: %v\n", st.err)
		default:
			v.dumpVCPU(ew, syms, st)
		}
	}
	v.writeTrace(ew, syms)
	return ew.err
}

// writeTrace writes the kernel events section of a dump or crash report.
func (v *VM) writeTrace(w io.Writer, syms *crash.Symbols) {
	ew := &errWriter{w: w}
	ew.printf("\nkernel events, the last %d of all CPUs, oldest first (time: before the newest event):\n", DumpEvents)
	v.dumpTrace(ew, syms)
}

// dumpVCPU writes one vCPU's state.
func (v *VM) dumpVCPU(ew *errWriter, syms *crash.Symbols, st *vcpuState) {
	r, s := &st.regs, &st.sregs
	ew.printf("%s at CPL %d", syms.Lookup(r.RIP), s.CS.Selector&3)
	if st.mpErr == nil {
		switch st.mp {
		case kvm.MPStateUninitialized, kvm.MPStateInitReceived:
			ew.printf(", not started (waiting for INIT-SIPI)")
		case kvm.MPStateHalted:
			ew.printf(", halted")
		}
	}
	ew.printf("\n")
	writeSregs(ew, s)
	rec := regsRecord(r)
	ew.err = crash.Context(ew, syms, &rec, sregsReader(v.mem, *s))
}

// dumpTrace writes the last DumpEvents events of the kernel's trace ring,
// or why there are none.
func (v *VM) dumpTrace(ew *errWriter, syms *crash.Symbols) {
	addr, size, ok := syms.Object(abi.TraceSymbol)
	switch {
	case !ok:
		ew.printf("  (none: the image has no %s)\n", abi.TraceSymbol)
		return
	case size != abi.TraceSize:
		ew.printf("  (none: the image's trace buffer is %d bytes, this launcher reads %d)\n", size, abi.TraceSize)
		return
	case !arch.InRAM(uint64(len(v.mem)), addr, abi.TraceSize):
		ew.printf("  (none: the trace buffer at %#x is outside guest memory)\n", addr)
		return
	}
	buf := append([]byte(nil), v.mem[addr:addr+abi.TraceSize]...)
	evs, err := crash.ParseTrace(buf)
	if err != nil {
		ew.printf("  (none: %v)\n", err)
		return
	}
	ew.err = crash.WriteTrace(ew, syms, evs, DumpEvents, v.tscKHz)
}

// regsRecord puts KVM registers in a crash record, for the report code.
func regsRecord(r *kvm.Regs) abi.CrashRecord {
	return abi.CrashRecord{
		Magic: abi.CrashMagic, Vector: crash.VectorSoftware,
		RIP: r.RIP, RSP: r.RSP, RFLAGS: r.RFLAGS,
		Regs: [16]uint64{r.RAX, r.RCX, r.RDX, r.RBX, r.RSP, r.RBP, r.RSI, r.RDI,
			r.R8, r.R9, r.R10, r.R11, r.R12, r.R13, r.R14, r.R15},
	}
}

// writeSregs writes the control registers and segments of s.
func writeSregs(ew *errWriter, s *kvm.Sregs) {
	ew.printf("  cr0 %#x  cr2 %#x  cr3 %#x  cr4 %#x  efer %#x\n", s.CR0, s.CR2, s.CR3, s.CR4, s.EFER)
	ew.printf("  cs %#x (base %#x L%d D%d DPL%d)  ss %#x  gdt %#x/%#x  idt %#x/%#x\n",
		s.CS.Selector, s.CS.Base, s.CS.L, s.CS.DB, s.CS.DPL, s.SS.Selector, s.GDT.Base, s.GDT.Limit, s.IDT.Base, s.IDT.Limit)
}

// errWriter keeps the first write error so the dump code stays linear.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	var n int
	n, e.err = e.w.Write(p)
	return n, e.err
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
