package rt

import "unsafe"

// CPU primitives implemented in cpu_amd64.s. Privileged ones are services
// of the ring-0 shim; they are only meaningful when booted and fault in a
// Linux process.

func Outb(port uint16, v uint8)

// OutsbDirect writes n bytes from p to port with one REP OUTSB, executed
// where the caller runs (CPL 3), not as a service: the port must be one
// the TSS I/O bitmap opens to CPL 3 (COM1, the exit and crash ports; see
// boot_amd64.s). A monitor takes the whole string in one exit (KVM
// collects string I/O a page at a time), where Outb costs a service call
// and an exit per byte.
//
//go:noescape
func OutsbDirect(port uint16, p *byte, n int)
func Inb(port uint16) uint8

// OutlAddr writes the low 32 bits of p to port with OUTL at the caller's
// privilege (the port must be open in the TSS I/O bitmap): p is an
// identity-mapped structure the monitor reads.
//
//go:noescape
func OutlAddr(port uint16, p unsafe.Pointer)

// OutwDirect writes v to port with OUTW at the caller's privilege (the
// port must be open in the TSS I/O bitmap): one port exit, no service.
func OutwDirect(port uint16, v uint16)

// OutlDirect writes v to port with OUTL at the caller's privilege (the
// port must be open in the TSS I/O bitmap): one port exit, no service.
func OutlDirect(port uint16, v uint32)

// OutbDirect writes v to port with OUTB at the caller's privilege, like
// OutsbDirect: for ports the TSS I/O bitmap opens to CPL 3 it costs the
// port exit alone, where Outb adds a service call (a SYSCALL, which in
// CPL-3 SYSCALL mode traps through the host).
func OutbDirect(port uint16, v uint8)

// InbDirect reads a byte from port with IN at the caller's privilege, like
// OutsbDirect: for ports the TSS I/O bitmap opens to CPL 3, it saves the
// service call Inb costs.
func InbDirect(port uint16) uint8
func Outw(port uint16, v uint16)
func Inw(port uint16) uint16
func Outl(port uint16, v uint32)
func Inl(port uint16) uint32
func Wrmsr(msr uint32, v uint64)
func Rdmsr(msr uint32) uint64
func WriteCR3(v uint64)
func readCR(n int) uint64
func Invlpg(addr uintptr)
func Lidt(idtr uintptr)
func Lgdt(gdtr uintptr)
func Ltr(sel uint16)
func Cpuid(leaf, sub uint32) (a, b, c, d uint32)
func CpuidNative(leaf, sub uint32) (a, b, c, d uint32)
func CpuidPVM(leaf, sub uint32) (a, b, c, d uint32)
func Idle() uint64
func Rdtsc() uint64
func Rdrand() (uint64, bool)
func Rdseed() (uint64, bool)
func Pause()
func Xgetbv() uint64

// ThisCPU returns the address of the running CPU's block (GS.base).
func ThisCPU() uintptr

// ReadCR0, ReadCR2, ReadCR3, ReadCR4 read control registers.
func ReadCR0() uint64 { return readCR(0) }
func ReadCR2() uint64 { return readCR(2) }
func ReadCR3() uint64 { return readCR(3) }
func ReadCR4() uint64 { return readCR(4) }

// Model-specific registers used by the kernel.
const (
	MSRApicBase     = 0x1b
	MSRTSCDeadline  = 0x6e0
	MSREFER         = 0xc0000080
	MSRFSBase       = 0xc0000100
	MSRGSBase       = 0xc0000101
	MSRX2APICBase   = 0x800
	MSRKVMWallClock = 0x4b564d00
	MSRKVMSysTime   = 0x4b564d01
)

// Segment selectors (Linux layout; see abi_amd64.h).
const (
	SelKernelCode = 0x10
	SelKernelData = 0x18
	SelUserCode   = 0x33
	SelUserData   = 0x2b
	SelTSS        = 0x40
)

// CPU is the per-CPU block GS.base points at. The fields up to XSave, and
// from Trace on, are shared with assembly (abi_amd64.h, checked by layout_test.go).
type CPU struct {
	Self    uintptr
	KActive uint64 // 1 while the kernel runs on this CPU
	Pending uint64 // vectors (bit v-32) taken while the kernel ran or idled
	// The IRETQ frame (RIP, CS, RFLAGS, RSP, SS) a vector stub enters
	// istEntry through, kept ready so the stub does not build one at CPL 0:
	// istEntry at CPL 3 with IF=0 (IF=1 in CPL-3 SYSCALL mode) on KStack,
	// the kernel stack top of the current thread.
	EntryRIP, EntryCS, EntryRFLAGS uint64
	KStack                         uintptr
	EntrySS                        uint64
	// The same for a fault while the kernel runs: istEntry on CrashStack.
	CrashRIP, CrashCS, CrashRFLAGS uint64
	CrashStack                     uintptr
	CrashSS                        uint64
	TrapVec                        uint64
	TrapErr                        uint64
	TrapCR2                        uint64
	CtxRIP                         uint64
	CtxCS                          uint64
	CtxRFLAGS                      uint64
	CtxRSP                         uint64
	CtxSS                          uint64
	CtxRAX                         uint64
	CtxRCX                         uint64
	CtxR11                         uint64
	Scratch                        [2]uint64
	TrapEntry                      uintptr
	KTLS                           uintptr // FS.base for kernel code on the current kernel stack
	XSave                          uintptr // current thread's extended-state area
	ID                             uint64
	Current                        uintptr // current thread (kernel/sched)
	Idle                           uintptr // per-CPU scheduler state (kernel/sched)
	Trace                          uintptr // this CPU's abi.TraceRing, or 0 (read by trapEntry)
	IST1P                          uintptr // address of this CPU's TSS.IST1 (the stubs move it)
	EntryFrame                     uintptr // &EntryRIP
	CrashFrame                     uintptr // &CrashRIP
}

// cpu0 is the boot CPU's block (entry64 points GS at it).
var cpu0 CPU

// BootCPU returns the boot CPU's block.
//
//go:nosplit
func BootCPU() *CPU { return &cpu0 }

// xsaveMask is the XSAVE component mask (0: use FXSAVE), set by the kernel
// before the first thread runs and read by the entry assembly.
var xsaveMask uint64

// SetXSaveMask sets the extended-state components saved on asynchronous
// kernel entries (0 selects FXSAVE).
//
//go:nosplit
func SetXSaveMask(m uint64) { xsaveMask = m }

// XSaveMask returns the mask set by SetXSaveMask.
func XSaveMask() uint64 { return xsaveMask }
