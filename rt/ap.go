package rt

// The AP start-up code, assembled from trampoline.S (needs GNU binutils).
//go:generate sh gen_trampoline.sh

import "unsafe"

// TrampolineAddr is the physical address the AP start-up code runs at
// (SIPI vector TrampolineAddr>>12).
const TrampolineAddr = 0x8000

func apEntry64()
func apEntry64Addr() uintptr
func apBootAddr() uintptr
func crashStackTop() uintptr
func trapEntryAddr() uintptr
func istEntryAddr() uintptr

// kernelAPMain is implemented by package kernel: an application processor
// continues there, at CPL 3 in kernel context on its idle thread's stack.
func kernelAPMain(cpu uintptr)

//go:nosplit
func apMain(cpu uintptr) { kernelAPMain(cpu) }

// InstallTrampoline copies the AP start-up code to TrampolineAddr and
// points it at the page table cr3 and at apEntry64; nx says whether the
// page table uses NX bits (so EFER.NXE must be on before paging).
func InstallTrampoline(cr3 uint64, nx bool) {
	dst := unsafe.Slice((*byte)(Ptr(TrampolineAddr)), len(trampoline))
	copy(dst, trampoline[:])
	*(*uint16)(Ptr(TrampolineAddr + trampGDTR)) = 79
	*(*uint32)(Ptr(TrampolineAddr + trampGDTR + 2)) = uint32(GDTAddr())
	*(*uint32)(Ptr(TrampolineAddr + trampCR3)) = uint32(cr3)
	if nx {
		*(*uint32)(Ptr(TrampolineAddr + trampEFER)) = 0x901
	}
	*(*uint32)(Ptr(TrampolineAddr + trampEntry)) = uint32(apEntry64Addr())
}

// SetAPBoot fills the mailbox the next AP reads in apEntry64 and clears
// its started flag.
func SetAPBoot(stackTop, cpu, tls, gdtr uintptr) {
	b := (*[5]uintptr)(Ptr(apBootAddr()))
	b[0], b[1], b[2], b[3], b[4] = stackTop, cpu, tls, 0, gdtr
}

// APStarted reports whether the AP started last has left the mailbox.
func APStarted() bool {
	return (*[5]uintptr)(Ptr(apBootAddr()))[3] != 0
}

// InitCPU prepares a new CPU block: self pointer, kernel-active (until
// its first thread runs), trap entry, the stubs' IRETQ frames into
// istEntry (KStack is filled in when a thread runs), crash stack, and the
// address of IST1 in the CPU's TSS at tss.
func InitCPU(block uintptr, id uint64, crashStack, tss uintptr) {
	c := (*CPU)(Ptr(block))
	c.Self = block
	c.KActive = 1
	c.TrapEntry = trapEntryAddr()
	rflags := uint64(2)
	if cpl3Mode != 0 {
		rflags = 0x202 // the kernel runs with IF=1 in CPL-3 SYSCALL mode
	}
	c.EntryRIP, c.EntryCS, c.EntryRFLAGS, c.EntrySS = uint64(istEntryAddr()), SelUserCode, rflags, SelUserData
	c.CrashRIP, c.CrashCS, c.CrashRFLAGS, c.CrashSS = uint64(istEntryAddr()), SelUserCode, rflags, SelUserData
	c.CrashStack = crashStack
	c.IST1P = tss + 36
	c.EntryFrame = block + unsafe.Offsetof(c.EntryRIP)
	c.CrashFrame = block + unsafe.Offsetof(c.CrashRIP)
	c.ID = id
}
