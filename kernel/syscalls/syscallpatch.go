package syscalls

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/rt"
)

// System calls as calls. In CPL-3 SYSCALL mode (the PVM hosts) a SYSCALL
// is a trap through the host, but a CALL to a stub that does SYSCALL's
// work (rt's syscallCallEntry) reaches the same kernel entry natively. The
// image writer records the program's system-call sites in a note
// (abi.NoteSyscallSites); patchSyscalls rewrites each site that still has
// the expected bytes into NOPs followed by CALL stub, where the stub is
// the site's own first instruction (MOVL $n, AX, or Syscall6's register
// move) and a JMP to the entry. The CALL ends where the SYSCALL ended, so
// the return address, and the RIP the kernel records, are unchanged.
// Sites the note does not name, or whose bytes differ, keep SYSCALL.

var (
	syscallSites   uint64 // sites named in the note
	syscallPatched uint64 // sites rewritten
)

// PatchSyscalls runs in kernelMain on the boot CPU alone, after the first
// service decided the mode and before mm.ProtectImage makes the text
// read-only (until then the identity map is writable). The kernel
// parameter unigo.syscallpatch=0 turns it off.
func PatchSyscalls() {
	if kctx.ParamIs("unigo.syscallpatch", "0") {
		return
	}
	if !rt.CPL3Mode() {
		return
	}
	desc := syscallSitesNote()
	n, ok := abi.SyscallSitesCount(desc)
	if !ok {
		return
	}
	syscallSites = uint64(n)
	textLo, textHi := mm.ImageText()
	if textHi-textLo < abi.SyscallSiteMax {
		return
	}
	stubs, entry := rt.SyscallStubArea()
	slot, prevEnd := stubs, uintptr(0)
	for i := 0; i < n; i++ {
		a := uintptr(abi.SyscallSiteAddr(desc, i))
		if a < prevEnd || a < textLo || a > textHi-abi.SyscallSiteMax ||
			(a < stubs+rt.SyscallStubsSize && a+abi.SyscallSiteMax > stubs) {
			continue
		}
		code := kctx.BytesAt(a, abi.SyscallSiteMax)
		p := abi.SyscallSite(code)
		if p == 0 {
			continue
		}
		if slot+rt.SyscallStubSize > stubs+rt.SyscallStubsSize {
			break
		}
		size := uintptr(p) + 2
		stub := kctx.BytesAt(slot, rt.SyscallStubSize)
		copy(stub, code[:p])
		stub[p] = 0xe9 // JMP rel32
		putRel32(stub[p+1:], entry-(slot+uintptr(p)+5))
		pad := size - 5
		switch pad {
		case 2:
			code[0], code[1] = 0x66, 0x90 // NOP
		case 4:
			code[0], code[1], code[2], code[3] = 0x0f, 0x1f, 0x40, 0x00 // NOPL 0(AX)
		}
		code[pad] = 0xe8 // CALL rel32
		putRel32(code[pad+1:], slot-(a+size))
		slot += rt.SyscallStubSize
		prevEnd = a + size
		syscallPatched++
	}
}

func putRel32(b []byte, v uintptr) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

// syscallSitesNote returns the descriptor of the image's sites note, or
// nil. The note segment must lie within the loaded image.
func syscallSitesNote() []byte {
	for i := uintptr(0); i < mm.ImagePhnum; i++ {
		ph := mm.ImagePhdr + i*56
		if *kctx.At[uint32](ph) != 4 { // PT_NOTE
			continue
		}
		start := uintptr(*kctx.At[uint64](ph + 24))
		size := uintptr(*kctx.At[uint64](ph + 32))
		if start < mm.ImageStart || start >= mm.ImageEnd || size > mm.ImageEnd-start || size > 64<<10 {
			continue
		}
		desc := noteDesc(kctx.BytesAt(start, int(size)), *kctx.At[uint64](ph + 48))
		if desc != nil {
			return desc
		}
	}
	return nil
}

// noteDesc finds the sites note in one note segment.
func noteDesc(seg []byte, align uint64) []byte {
	// Offsets, not a slice: the closure's stores stay pointer-free.
	off, n := uint64(0), -1
	abi.ELFNotes(seg, align, func(name []byte, typ uint32, desc []byte, descOff uint64) bool {
		if typ == abi.NoteSyscallSites && string(name) == abi.UnigoNoteName+"\x00" {
			off, n = descOff, len(desc)
			return false
		}
		return true
	})
	if n < 0 {
		return nil
	}
	return seg[off : off+uint64(n)]
}
