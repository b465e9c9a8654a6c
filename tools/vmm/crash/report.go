package crash

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"

	"github.com/unigo-os/unigo/abi"
	"golang.org/x/arch/x86/x86asm"
)

// MemReader reads n bytes of guest memory at a guest-virtual address. It
// returns false when the range is not mapped or cannot be translated (user
// addresses the launcher does not know how to walk). It may return fewer
// than n bytes only together with false.
type MemReader func(addr uint64, n int) ([]byte, bool)

// Limits of the report.
const (
	MaxFrames      = 64 // backtrace depth
	codeAfter      = 6  // instructions shown from RIP on
	codeBefore     = 3  // instructions shown before RIP, when decodable
	maxFuncPrefix  = 4096
	maxInstLen     = 15
	VectorSoftware = 0xffff // abi.CrashRecord.Vector of a software kernel panic
)

// regNames is the abi.CrashRecord.Regs order (x86asm's RAX..R15).
var regNames = [16]string{"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"}

const regRBP = 5

// ParseRecord decodes an abi.CrashRecord from the abi.CrashRecordSize bytes
// the guest pointed PortCrash at.
func ParseRecord(b []byte) (abi.CrashRecord, error) {
	var rec abi.CrashRecord
	if len(b) < abi.CrashRecordSize {
		return rec, fmt.Errorf("crash record truncated: %d of %d bytes", len(b), abi.CrashRecordSize)
	}
	if err := binary.Read(bytes.NewReader(b[:abi.CrashRecordSize]), binary.LittleEndian, &rec); err != nil {
		return rec, err
	}
	if rec.Magic != abi.CrashMagic {
		return rec, fmt.Errorf("crash record has bad magic %#x", rec.Magic)
	}
	return rec, nil
}

var exceptions = map[uint64][2]string{
	0: {"#DE", "divide error"}, 1: {"#DB", "debug"}, 2: {"NMI", "non-maskable interrupt"},
	3: {"#BP", "breakpoint"}, 4: {"#OF", "overflow"}, 5: {"#BR", "bound range exceeded"},
	6: {"#UD", "invalid opcode"}, 7: {"#NM", "device not available"}, 8: {"#DF", "double fault"},
	9: {"#MF", "coprocessor segment overrun"}, 10: {"#TS", "invalid TSS"}, 11: {"#NP", "segment not present"},
	12: {"#SS", "stack-segment fault"}, 13: {"#GP", "general protection fault"}, 14: {"#PF", "page fault"},
	16: {"#MF", "x87 floating-point exception"}, 17: {"#AC", "alignment check"}, 18: {"#MC", "machine check"},
	19: {"#XM", "SIMD floating-point exception"}, 20: {"#VE", "virtualization exception"},
	21: {"#CP", "control protection exception"},
}

// Reason is the one-line summary of rec: the exception, where, and for a
// page fault the address and access.
func Reason(rec *abi.CrashRecord, syms *Symbols) string {
	var b strings.Builder
	switch e, ok := exceptions[rec.Vector]; {
	case rec.Vector == VectorSoftware:
		b.WriteString("kernel panic")
	case ok:
		fmt.Fprintf(&b, "%s (%s)", e[1], e[0])
	default:
		fmt.Fprintf(&b, "exception vector %d", rec.Vector)
	}
	fmt.Fprintf(&b, " at %s", syms.Lookup(rec.RIP))
	if rec.Vector == 14 {
		fmt.Fprintf(&b, " accessing %#x (%s)", rec.CR2, pageFaultKind(rec.Error))
	} else if rec.Error != 0 && rec.Vector != VectorSoftware {
		fmt.Fprintf(&b, " error code %#x", rec.Error)
	}
	if msg := message(rec); msg != "" {
		b.WriteString(": " + msg)
	}
	return b.String()
}

// pageFaultKind decodes the #PF error code.
func pageFaultKind(code uint64) string {
	var parts []string
	switch {
	case code&(1<<4) != 0:
		parts = append(parts, "instruction fetch")
	case code&(1<<1) != 0:
		parts = append(parts, "write")
	default:
		parts = append(parts, "read")
	}
	if code&1 != 0 {
		parts = append(parts, "protection violation")
	} else {
		parts = append(parts, "not present")
	}
	if code&(1<<2) != 0 {
		parts = append(parts, "user mode")
	} else {
		parts = append(parts, "kernel mode")
	}
	if code&(1<<3) != 0 {
		parts = append(parts, "reserved bit set")
	}
	if code&(1<<5) != 0 {
		parts = append(parts, "protection key")
	}
	if code&(1<<6) != 0 {
		parts = append(parts, "shadow stack")
	}
	return strings.Join(parts, ", ")
}

// message is rec's text with anything unprintable replaced.
func message(rec *abi.CrashRecord) string {
	n := min(rec.MsgLen, uint64(len(rec.Msg)))
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return '?'
		}
		return r
	}, string(rec.Msg[:n]))
}

func flagsString(f uint64) string {
	names := []struct {
		bit  uint
		name string
	}{{0, "CF"}, {2, "PF"}, {4, "AF"}, {6, "ZF"}, {7, "SF"}, {8, "TF"}, {9, "IF"}, {10, "DF"}, {11, "OF"}}
	var s []string
	for _, n := range names {
		if f&(1<<n.bit) != 0 {
			s = append(s, n.name)
		}
	}
	return strings.Join(s, " ")
}

// Report writes a crash report for rec: reason, registers, code around RIP
// and a symbolized backtrace. syms may be nil (no symbolization) and read
// may fail for any address. It returns only the writer's error.
func Report(w io.Writer, syms *Symbols, rec *abi.CrashRecord, read MemReader) error {
	ew := &errWriter{w: w}
	ew.printf("guest crashed: %s\n", Reason(rec, syms))
	ew.printf("  vector %d  error %#x  cr2 %#016x\n", rec.Vector, rec.Error, rec.CR2)
	writeContext(ew, syms, rec, read)
	return ew.err
}

// Context writes the general registers, the code around RIP and the
// backtrace of rec, without the crash's reason, vector, error code and CR2:
// the state of a context that did not crash, such as a vCPU the launcher
// stopped. syms and read are as for Report.
func Context(w io.Writer, syms *Symbols, rec *abi.CrashRecord, read MemReader) error {
	ew := &errWriter{w: w}
	writeContext(ew, syms, rec, read)
	return ew.err
}

func writeContext(ew *errWriter, syms *Symbols, rec *abi.CrashRecord, read MemReader) {
	if read == nil {
		read = func(uint64, int) ([]byte, bool) { return nil, false }
	}
	safeRead := func(addr uint64, n int) ([]byte, bool) {
		b, ok := read(addr, n)
		if !ok || len(b) < n {
			return nil, false
		}
		return b[:n], true
	}
	writeRegisters(ew, syms, rec)
	ew.printf("\ncode:\n")
	writeCode(ew, syms, rec.RIP, safeRead)
	ew.printf("\nbacktrace:\n")
	for i, f := range Backtrace(syms, rec, safeRead) {
		ew.printf("  #%-2d %#x %s\n", i, f.PC, frameLine(f))
	}
}

// ReportImage is Report with symbols loaded from the image at path. An
// unreadable image is noted in the report, which goes on unsymbolized.
func ReportImage(w io.Writer, image string, rec *abi.CrashRecord, read MemReader) error {
	syms, err := LoadSymbols(image)
	if rerr := Report(w, syms, rec, read); rerr != nil {
		return rerr
	}
	if err != nil {
		_, err = fmt.Fprintf(w, "(no symbols from %s: %v)\n", image, err)
	}
	return err
}

// frameLine is a backtrace entry: "function (file:line)".
func frameLine(f Frame) string {
	if f.Func == "" {
		return "?"
	}
	if f.File == "" {
		return fmt.Sprintf("%s+%#x", f.Func, f.PC-f.Entry)
	}
	return fmt.Sprintf("%s (%s:%d)", f.Func, f.File, f.Line)
}

func writeRegisters(ew *errWriter, syms *Symbols, rec *abi.CrashRecord) {
	ew.printf("  rip %#016x  %s\n", rec.RIP, syms.Lookup(rec.RIP))
	ew.printf("  rsp %#016x  rflags %#x [%s]\n", rec.RSP, rec.RFLAGS, flagsString(rec.RFLAGS))
	for i := 0; i < 16; i += 4 {
		ew.printf(" ")
		for j := i; j < i+4; j++ {
			ew.printf(" %-3s %#016x", regNames[j], rec.Regs[j])
		}
		ew.printf("\n")
	}
}

// symname adapts Symbols to x86asm's symbolizer so branch targets and
// RIP-relative operands print as function+off.
func symname(syms *Symbols) x86asm.SymLookup {
	return func(addr uint64) (string, uint64) {
		f := syms.Lookup(addr)
		return f.Func, f.Entry
	}
}

// writeCode disassembles the instructions before RIP (decoded from the start
// of its function, when that lands exactly on RIP) and from RIP on.
func writeCode(ew *errWriter, syms *Symbols, rip uint64, read MemReader) {
	fn := syms.Lookup(rip)
	if fn.Func != "" && rip > fn.Entry && rip-fn.Entry <= maxFuncPrefix {
		if code, ok := read(fn.Entry, int(rip-fn.Entry)); ok {
			// Decoding forward from the function entry is the only reliable
			// way to find instruction boundaries before RIP.
			var starts []int
			off := 0
			for off < len(code) {
				inst, err := x86asm.Decode(code[off:], 64)
				if err != nil {
					break
				}
				starts = append(starts, off)
				off += inst.Len
			}
			if off == len(code) {
				for _, o := range starts[max(0, len(starts)-codeBefore):] {
					writeInst(ew, syms, fn.Entry+uint64(o), code[o:], false)
				}
			}
		}
	}
	var code []byte
	for _, n := range []int{codeAfter * maxInstLen, 32, maxInstLen, 1} {
		if b, ok := read(rip, n); ok {
			code = b
			break
		}
	}
	if code == nil {
		ew.printf("  => %#x: code unreadable\n", rip)
		return
	}
	pc := rip
	for i := 0; i < codeAfter && len(code) > 0; i++ {
		n := writeInst(ew, syms, pc, code, i == 0)
		if n == 0 {
			break
		}
		code = code[n:]
		pc += uint64(n)
	}
}

// writeInst prints the instruction at pc decoded from code and returns its
// length, or 0 when it does not decode.
func writeInst(ew *errWriter, syms *Symbols, pc uint64, code []byte, cur bool) int {
	mark := "  "
	if cur {
		mark = "=>"
	}
	where := syms.Lookup(pc)
	loc := fmt.Sprintf("%#x", pc)
	if where.Func != "" {
		loc = fmt.Sprintf("%s+%#x", where.Func, pc-where.Entry)
	}
	inst, err := x86asm.Decode(code, 64)
	if err != nil {
		ew.printf("  %s %-32s %x  (bad)\n", mark, loc, code[:min(len(code), 8)])
		return 0
	}
	ew.printf("  %s %-32s %-30x %s\n", mark, loc, code[:inst.Len], x86asm.GNUSyntax(inst, pc, symname(syms)))
	return inst.Len
}

// Backtrace walks the frame pointer chain from rec: frame 0 is RIP, then
// each [rbp+8] return address while [rbp] links to the caller's frame (Go
// keeps RBP frame pointers on amd64). When RIP's function has not set up its
// frame (a frameless leaf, a fault in the prologue or epilogue, or a jump to
// an unknown address), RBP still belongs to the caller, so the caller's
// return address is taken from the stack first. The walk stops at
// MaxFrames, an unreadable or misaligned frame, a zero return address or a
// repeated frame.
func Backtrace(syms *Symbols, rec *abi.CrashRecord, read MemReader) []Frame {
	frames := []Frame{syms.Lookup(rec.RIP)}
	if depth, ok := stackReturnDepth(syms, frames[0], read); ok {
		if b, ok := read(rec.RSP+depth, 8); ok && len(b) == 8 {
			ret := binary.LittleEndian.Uint64(b)
			f := syms.Lookup(ret - 1)
			// Off the symbol table the guess is noise; leave it out.
			if f.Func != "" {
				f.PC = ret
				frames = append(frames, f)
			}
		}
	}
	seen := map[uint64]bool{}
	for rbp := rec.Regs[regRBP]; len(frames) < MaxFrames; {
		if rbp == 0 || rbp%8 != 0 || seen[rbp] {
			break
		}
		seen[rbp] = true
		b, ok := read(rbp, 16)
		if !ok || len(b) < 16 {
			break
		}
		next, ret := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
		if ret == 0 {
			break
		}
		// The call instruction is just before the return address; its line
		// is the one that matters.
		f := syms.Lookup(ret - 1)
		f.PC = ret
		frames = append(frames, f)
		rbp = next
	}
	return frames
}

// stackReturnDepth decides whether the function at fr has its frame pointer
// established at fr.PC by decoding it from its entry: Go's prologue is
// PUSH RBP; MOV RBP, RSP and its epilogue POP RBP. If the frame is not (or
// no longer) established it returns the offset from RSP of the return
// address: 0, or 8 between PUSH RBP and MOV RBP, RSP. An unknown function
// is treated as not established: a bad call leaves its return address at
// [RSP].
func stackReturnDepth(syms *Symbols, fr Frame, read MemReader) (uint64, bool) {
	if fr.Func == "" {
		return 0, true
	}
	if fr.PC-fr.Entry > maxFuncPrefix {
		return 0, false
	}
	code, ok := read(fr.Entry, int(fr.PC-fr.Entry))
	if !ok {
		return 0, false
	}
	pushed, established := false, false
	for off := 0; off < len(code); {
		inst, err := x86asm.Decode(code[off:], 64)
		if err != nil {
			return 0, false
		}
		off += inst.Len
		switch {
		case inst.Op == x86asm.PUSH && inst.Args[0] == x86asm.RBP:
			pushed = true
		case inst.Op == x86asm.MOV && inst.Args[0] == x86asm.RBP && inst.Args[1] == x86asm.RSP:
			established = true
		case inst.Op == x86asm.POP && inst.Args[0] == x86asm.RBP:
			pushed, established = false, false
		}
	}
	switch {
	case established:
		return 0, false
	case pushed:
		return 8, true
	}
	return 0, true
}

// errWriter keeps the first write error so the report code stays linear.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err != nil {
		return
	}
	_, e.err = fmt.Fprintf(e.w, format, args...)
}
