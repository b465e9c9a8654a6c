package rt

// Frame is the register state of an interrupted context, as trapEntry
// saves it on the kernel stack (layout shared with abi_amd64.h).
type Frame struct {
	R15, R14, R13, R12, R11, R10, R9, R8 uint64
	RBP, RDI, RSI, RDX, RCX, RBX, RAX    uint64
	CR2                                  uint64 // faulting address for #PF
	FSBase                               uint64
	Vector                               uint64 // exception/IRQ vector, or VecSyscall
	ErrorCode                            uint64
	RIP, CS, RFLAGS, RSP, SS             uint64
}

// FrameSize is the size of Frame in bytes.
const FrameSize = 192

// VecSyscall is Frame.Vector for a system call. VecSignal marks a frame
// whose extended state lives in the thread's save area (set when a signal
// handler returns), so that returnToUser restores it.
const (
	VecSyscall = 0x100
	VecPending = 0x101 // interrupts deferred while the kernel ran
	VecSignal  = 0x102
)

// XSaveTo saves the current extended (FPU/SSE/AVX) state at area.
func XSaveTo(area uintptr)

// Kernel entry points and stack switching (shim_amd64.s).
func switchStacks(saveSP *uintptr, newSP uintptr, newTLS uintptr)
func threadStartPC() uintptr
func enterFrame(frame uintptr)
func vectorTable() uintptr
func gdtAddr() uintptr
func trapEntry()
func syscallEntry()
func istEntry()
func returnToUser()
func threadStart()
func saveExtended()
func restoreExtended()

// SwitchStacks saves the current kernel stack in *saveSP and resumes the
// kernel stack newSP with FS.base = newTLS (see shim_amd64.s).
//
//go:nosplit
func SwitchStacks(saveSP *uintptr, newSP uintptr, newTLS uintptr) {
	switchStacks(saveSP, newSP, newTLS)
}

// ThreadStartPC is the return PC to plant on a new thread's kernel stack
// below its Frame.
//
//go:nosplit
func ThreadStartPC() uintptr { return threadStartPC() }

// EnterFrame abandons the current stack and resumes the Frame at frame.
//
//go:nosplit
func EnterFrame(frame uintptr) { enterFrame(frame) }

// VectorTable is the address of a table of 256 interrupt stub addresses.
//
//go:nosplit
func VectorTable() uintptr { return vectorTable() }

// GDTAddr is the address of the GDT built at boot (10 descriptors; the
// TSS descriptor at SelTSS is the kernel's to fill).
//
//go:nosplit
func GDTAddr() uintptr { return gdtAddr() }

// kernelIdle is implemented by package kernel: the idle loop a CPU's idle
// thread runs.
func kernelIdle()

// IdleStartPC is the return PC to plant on a new idle thread's kernel
// stack.
func IdleStartPC() uintptr

func idtrAddr() uintptr

// IDTR is the address of the shared IDT's pseudo-descriptor, loaded by
// entry64 on the boot CPU.
func IDTR() uintptr { return idtrAddr() }

func bootTSS() uintptr

// BootTSS is the address of the boot CPU's TSS (its I/O bitmap is the
// template for the other CPUs').
func BootTSS() uintptr { return bootTSS() }

// cpl3Mode is set by the shim when SYSCALL turned out not to change
// privilege (see shim_amd64.s).
var cpl3Mode uint64

// CPL3Mode reports whether the kernel runs in CPL-3 SYSCALL mode.
func CPL3Mode() bool { return cpl3Mode != 0 }
