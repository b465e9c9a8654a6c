#include "textflag.h"
#include "abi_amd64.h"

// The ring-0 shim: the only code that runs at CPL 0 after boot. It turns
// every entry into the kernel (a system call from the Go runtime, an
// exception, an interrupt) into a jump to trapEntry at CPL 3 on the
// kernel stack of the current thread, and performs the few privileged
// operations the kernel asks for through services (SYSCALL with
// RAX >= SVC_BASE). It is deliberately tiny and uses only plain integer
// instructions: on PVM hosts every instruction of it is emulated.
//
// Invariants:
//   - GS.base always points at the current CPU's rt.CPU (nothing else uses
//     GS; there is no SWAPGS).
//   - The ring-3 kernel runs with IF=0, so an interrupt can only arrive
//     while user code runs (redirected to trapEntry) or while the CPU idles
//     in SVC_IDLE at CPL 0 (recorded in CPU.pending). In CPL-3 SYSCALL
//     mode it runs with IF=1 and interrupts that hit it are deferred into
//     CPU.pending the same way.
//   - CPU.kactive is 1 from kernel entry until SVC_RETURN; an exception
//     from CPL 3 while it is set is a kernel fault and is redirected to
//     the crash stack instead.
//   - Exceptions and interrupts from CPL 3 copy nothing at CPL 0: the
//     vector stub (vectors_amd64.s) leaves an entry record on IST1, stores
//     its address into TSS.IST1 (so a nested entry, possible from
//     istEntry's first instruction on in CPL-3 mode, is pushed below it)
//     and IRETQs through the CPU's ready frame (CPU.entry*/crash*) into
//     istEntry, which copies the record into an rt.Frame at CPL 3 and only
//     then moves IST1 back up. Whatever reads IST1 (svcFromTrap) relies on
//     it being back up before the kernel asks for a service.

GLOBL ·crashStack(SB), NOPTR, $CRASH_STACK_SIZE

// syscallEntry is MSR_LSTAR.
// In:  CPL 0, IF=0 (SFMASK), RSP = caller's stack, RCX = return RIP,
//      R11 = caller's RFLAGS, RAX = Linux system call number or SVC_BASE+op.
// Out: Linux call: SYSRETQ to trapEntry at CPL 3 with IF=0 on the thread's
//      kernel stack; caller's RIP/RFLAGS/RSP/RAX/RCX/R11 in CPU.ctx*.
//      Service: see below.
//      In CPL-3 mode nothing here is saved before cpl3Syscall marks the
//      CPU in-kernel, so the kernel rewinds an interrupt that lands in
//      this function (rt.SyscallLanding): keep it this small.
TEXT ·syscallEntry(SB),NOSPLIT|NOFRAME,$0
	CMPQ ·cpl3Mode(SB), $0
	JEQ probe
	JMP ·cpl3Syscall(SB)
probe:
	JMP ·syscallProbe(SB)

// syscallProbe: the rest of syscallEntry, outside CPL-3 mode.
TEXT ·syscallProbe(SB),NOSPLIT|NOFRAME,$0
	// On some hosts (the PVM module behind /dev/kvm here) SYSCALL does not
	// change privilege: it lands here still at CPL 3. Detect that once.
	MOVQ CX, CPU_SCRATCH1(GS)
	MOVW CS, CX
	TESTQ $3, CX
	MOVQ CPU_SCRATCH1(GS), CX
	JZ cpl0
	JMP ·cpl3First(SB)
cpl0:
	CMPQ AX, $SVC_BASE
	JB linux
	JMP ·serviceEntry(SB)
linux:
	SYSCALL_TO_KERNEL
	MOVQ CPU_TRAPENTRY(GS), CX
	MOVQ $2, R11
	SYSRETQ

// serviceEntry: services. In: RAX = SVC_BASE+op, arguments in RDI, RSI,
// RDX. Out: result in RAX (CPUID: RAX, RBX, R9, RDX). Clobbers RDX, R8,
// R9. Returns with SYSRETQ to the caller (RCX/R11 as SYSCALL left them),
// or, reached through svcTrap, with IRETQ past the UD2 (svcDone). Each
// service is a function of its own reached through svcTable: on PVM hosts
// every instruction here is emulated, and a table costs the same few for
// every op where a chain of comparisons cost two per op before it.
TEXT ·serviceEntry(SB),NOSPLIT|NOFRAME,$0
	// SVC_RETURN first: it needs every register but RAX as it is (the
	// context it resumes), and at a real CPL 0 it ends every system call.
	CMPQ AX, $(SVC_BASE+SVC_RETURN)
	JEQ ret
	SUBQ $SVC_BASE, AX
	CMPQ AX, $SVC_COUNT
	JAE unknown
	LEAQ svcTable<>(SB), R8
	MOVQ (R8)(AX*8), R8
	JMP R8
ret:
	JMP ·svcReturn(SB)
unknown:
	MOVQ $-1, AX
	JMP ·svcDone(SB)

// svcTable holds each service's code, by op.
DATA svcTable<>+(SVC_RETURN*8)(SB)/8, $·svcReturn(SB)
DATA svcTable<>+(SVC_OUTB*8)(SB)/8, $·svcOutb(SB)
DATA svcTable<>+(SVC_INB*8)(SB)/8, $·svcInb(SB)
DATA svcTable<>+(SVC_OUTL*8)(SB)/8, $·svcOutl(SB)
DATA svcTable<>+(SVC_INL*8)(SB)/8, $·svcInl(SB)
DATA svcTable<>+(SVC_WRMSR*8)(SB)/8, $·svcWrmsr(SB)
DATA svcTable<>+(SVC_RDMSR*8)(SB)/8, $·svcRdmsr(SB)
DATA svcTable<>+(SVC_WRCR3*8)(SB)/8, $·svcWrcr3(SB)
DATA svcTable<>+(SVC_INVLPG*8)(SB)/8, $·svcInvlpg(SB)
DATA svcTable<>+(SVC_LIDT*8)(SB)/8, $·svcLidt(SB)
DATA svcTable<>+(SVC_LTR*8)(SB)/8, $·svcLtr(SB)
DATA svcTable<>+(SVC_CPUID*8)(SB)/8, $·svcCpuid(SB)
DATA svcTable<>+(SVC_IDLE*8)(SB)/8, $·svcIdle(SB)
DATA svcTable<>+(SVC_RDCR*8)(SB)/8, $·svcRdcr(SB)
DATA svcTable<>+(SVC_LGDT*8)(SB)/8, $·svcLgdt(SB)
DATA svcTable<>+(SVC_OUTW*8)(SB)/8, $·svcOutw(SB)
DATA svcTable<>+(SVC_INW*8)(SB)/8, $·svcInw(SB)
DATA svcTable<>+(SVC_CPUID_PVM*8)(SB)/8, $·svcCpuidPVM(SB)
GLOBL svcTable<>(SB), RODATA, $(SVC_COUNT*8)

// svcDone returns from a service with its result in RAX.
TEXT ·svcDone(SB),NOSPLIT|NOFRAME,$0
	CMPQ ·cpl3Mode(SB), $0
	JNE trapDone
	SYSRETQ
trapDone:
	// A service reached through svcTrap's UD2 (CPL-3 SYSCALL mode): resume
	// after the UD2 from the #UD frame (svcFromTrap).
	ADDQ $2, 0(SP)
	IRETQ

TEXT ·svcOutb(SB),NOSPLIT|NOFRAME,$0
	MOVQ DI, DX
	MOVQ SI, AX
	OUTB
	JMP ·svcDone(SB)

TEXT ·svcInb(SB),NOSPLIT|NOFRAME,$0
	MOVQ DI, DX
	XORL AX, AX
	INB
	JMP ·svcDone(SB)

TEXT ·svcOutw(SB),NOSPLIT|NOFRAME,$0
	MOVQ DI, DX
	MOVQ SI, AX
	OUTW
	JMP ·svcDone(SB)

TEXT ·svcInw(SB),NOSPLIT|NOFRAME,$0
	MOVQ DI, DX
	XORL AX, AX
	INW
	JMP ·svcDone(SB)

TEXT ·svcOutl(SB),NOSPLIT|NOFRAME,$0
	MOVQ DI, DX
	MOVQ SI, AX
	OUTL
	JMP ·svcDone(SB)

TEXT ·svcInl(SB),NOSPLIT|NOFRAME,$0
	MOVQ DI, DX
	XORL AX, AX
	INL
	JMP ·svcDone(SB)

TEXT ·svcWrmsr(SB),NOSPLIT|NOFRAME,$0
	MOVQ CX, R8
	MOVL DI, CX
	MOVL SI, AX
	MOVQ SI, DX
	SHRQ $32, DX
	WRMSR
	MOVQ R8, CX
	JMP ·svcDone(SB)

TEXT ·svcRdmsr(SB),NOSPLIT|NOFRAME,$0
	MOVQ CX, R8
	MOVL DI, CX
	RDMSR
	SHLQ $32, DX
	ORQ DX, AX
	MOVQ R8, CX
	JMP ·svcDone(SB)

TEXT ·svcWrcr3(SB),NOSPLIT|NOFRAME,$0
	MOVQ DI, CR3
	JMP ·svcDone(SB)

TEXT ·svcInvlpg(SB),NOSPLIT|NOFRAME,$0
	INVLPG (DI)
	JMP ·svcDone(SB)

TEXT ·svcCpuid(SB),NOSPLIT|NOFRAME,$0
	MOVQ CX, R8
	MOVL DI, AX
	MOVL SI, CX
	CPUID
	MOVL CX, R9
	MOVQ R8, CX
	JMP ·svcDone(SB)

TEXT ·svcCpuidPVM(SB),NOSPLIT|NOFRAME,$0
	// PVM's synthetic CPUID (INVLPG of PVM_SYNTHETIC_CPUID_ADDRESS, then
	// CPUID): a PVM hypervisor answers the pair itself in supervisor mode;
	// at a real CPL 0 the INVLPG drops a translation nothing uses and the
	// CPUID is the ordinary one.
	MOVQ CX, R8
	MOVL DI, AX
	MOVL SI, CX
	BYTE $0x0f; BYTE $0x01; BYTE $0x3c; BYTE $0x25; BYTE $0x50
	BYTE $0x56; BYTE $0x4d; BYTE $0xff; BYTE $0x0f; BYTE $0xa2
	MOVL CX, R9
	MOVQ R8, CX
	JMP ·svcDone(SB)

TEXT ·svcLidt(SB),NOSPLIT|NOFRAME,$0
	LIDT (DI)
	JMP ·svcDone(SB)

TEXT ·svcLgdt(SB),NOSPLIT|NOFRAME,$0
	LGDT (DI)
	JMP ·svcDone(SB)

TEXT ·svcLtr(SB),NOSPLIT|NOFRAME,$0
	MOVQ DI, AX
	LTR AX
	JMP ·svcDone(SB)

TEXT ·svcRdcr(SB),NOSPLIT|NOFRAME,$0
	// RDI selects: 0 CR0, 2 CR2, 3 CR3, 4 CR4.
	CMPQ DI, $0
	JNE rdcr2
	MOVQ CR0, AX
	JMP ·svcDone(SB)
rdcr2:
	CMPQ DI, $2
	JNE rdcr3
	MOVQ CR2, AX
	JMP ·svcDone(SB)
rdcr3:
	CMPQ DI, $3
	JNE rdcr4
	MOVQ CR3, AX
	JMP ·svcDone(SB)
rdcr4:
	MOVQ CR4, AX
	JMP ·svcDone(SB)

TEXT ·svcIdle(SB),NOSPLIT|NOFRAME,$0
	// Halt until an interrupt; return (and clear) the vectors taken
	// meanwhile. STI's interrupt shadow covers HLT, so a wakeup between
	// the two is not lost. In CPL-3 SYSCALL mode the kernel runs with
	// IF=1, so an interrupt (the reschedule IPI meant to wake this CPU)
	// may already have been taken and deferred into CPU.pending before
	// this service trapped here: then it would not wake the HLT, so do
	// not halt. (IF is 0 here: SFMASK, or the #UD interrupt gate.)
	CMPQ CPU_PENDING(GS), $0
	JNE idleDone
	STI
	HLT
	CLI
idleDone:
	MOVQ CPU_PENDING(GS), AX
	MOVQ $0, CPU_PENDING(GS)
	JMP ·svcDone(SB)

TEXT ·svcReturn(SB),NOSPLIT|NOFRAME,$0
	// Leave the kernel: resume the context in CPU.ctx* with IF=1. Runs
	// with IF=0 so nothing can interleave between clearing kactive and
	// IRETQ; interrupts that arrived while the kernel ran are delivered
	// right after IRETQ, from the resumed context.
	MOVQ $0, CPU_KACTIVE(GS)
	PUSHQ CPU_CTX_SS(GS)
	PUSHQ CPU_CTX_RSP(GS)
	MOVQ CPU_CTX_RFLAGS(GS), AX
	ORQ $0x202, AX
	ANDQ $~0x3000, AX          // IOPL 0
	PUSHQ AX
	PUSHQ CPU_CTX_CS(GS)
	PUSHQ CPU_CTX_RIP(GS)
	MOVQ CPU_CTX_RAX(GS), AX
	MOVQ CPU_CTX_RCX(GS), CX
	MOVQ CPU_CTX_R11(GS), R11
	IRETQ

// Vector stubs (vectors_amd64.s), at CPL 0 on IST1 with IF=0:
//   From CPL 3, kernel not active: push the entry record [vector][CR2 or
//   0][RAX] onto the CPU's frame ([error][RIP][CS][RFLAGS][RSP][SS], a 0
//   error pushed where the CPU pushes none), set CPU.kactive, store the
//   record's address (SP) into TSS.IST1 (via CPU.ist1p) and IRETQ through
//   CPU.entryFrame into istEntry on the thread's kernel stack. Clobbers
//   nothing of the context (RAX is in the record).
//   From CPL 3, kernel active: an interrupt (vector 32-95) sets its bit in
//   CPU.pending and resumes (the kernel runs with IF=1 in CPL-3 mode); an
//   exception is a kernel fault: as above through CPU.crashFrame onto the
//   crash stack, kactive left set.
//   From CPL 0: an interrupt is only legitimate during SVC_IDLE and is
//   deferred the same way; an exception jumps to ring0Fault.
//   vec6 first serves the service traps (wrmsrTrap in place, svcTrap
//   through svcFromTrap).

// ring0Fault: a fault in the shim itself: nothing sane is left. Exit 70.
TEXT ·ring0Fault(SB),NOSPLIT|NOFRAME,$0
	MOVL $0xf4, DX
	MOVL $70, AX
	OUTL
halt:
	CLI
	HLT
	JMP halt

// svcFromTrap runs a service that trapped through svcTrap's UD2 (CPL-3
// SYSCALL mode). In: SP = the #UD frame [RIP][CS][RFLAGS][RSP][SS] on
// IST1, the caller's RAX in CPU.scratch0 and RCX in CPU.scratch1.
// Out: serviceEntry's, which resumes after the UD2 (svcDone).
// SVC_IDLE's frame is moved below where a nested IST1 entry (an interrupt
// during its halt) would write: IST1 is at its top then (istEntry moved
// it back before the kernel could ask for a service). The other services
// run with IF=0 and use the frame where it is.
TEXT ·svcFromTrap(SB),NOSPLIT|NOFRAME,$0
	CMPQ CPU_SCRATCH0(GS), $(SVC_BASE+SVC_IDLE)
	JNE serve
	MOVQ SP, AX
	SUBQ $256, SP
	MOVQ 0(AX), CX             // careful: RCX is the caller's return RIP;
	MOVQ CX, 0(SP)             // it is restored from SCRATCH1 below
	MOVQ 8(AX), CX
	MOVQ CX, 8(SP)
	MOVQ 16(AX), CX
	MOVQ CX, 16(SP)
	MOVQ 24(AX), CX
	MOVQ CX, 24(SP)
	MOVQ 32(AX), CX
	MOVQ CX, 32(SP)
serve:
	MOVQ CPU_SCRATCH1(GS), CX  // cpl3Syscall parked the caller's RCX here
	MOVQ CPU_SCRATCH0(GS), AX
	JMP ·serviceEntry(SB)

// istEntry is where a vector stub's IRETQ lands at CPL 3: IF=0 (IF=1 in
// CPL-3 mode, so a nested interrupt may arrive from the first instruction
// on: it is deferred, and pushed below the record, as TSS.IST1 points at
// the record until the copy is done).
// In:  RSP = kernel stack top of the current thread (or the crash stack);
//      TSS.IST1 (at CPU.ist1p) = the stub's entry record (R_*); all
//      general registers are the interrupted context's except RAX, which
//      is in the record.
// Out: as trapEntry, with the record's vector, error code and CR2; IST1
//      back where it was before the entry.
TEXT ·istEntry(SB),NOSPLIT|NOFRAME,$0
	SUBQ $F_SIZE, SP
	MOVQ BX, F_RBX(SP)
	MOVQ CPU_IST1P(GS), BX
	MOVQ 0(BX), BX
	MOVQ R_VEC(BX), AX
	MOVQ AX, F_VEC(SP)
	MOVQ R_CR2(BX), AX
	MOVQ AX, F_CR2(SP)
	MOVQ R_RAX(BX), AX
	MOVQ AX, F_RAX(SP)
	MOVQ R_ERR(BX), AX
	MOVQ AX, F_ERR(SP)
	MOVQ R_RIP(BX), AX
	MOVQ AX, F_RIP(SP)
	MOVQ R_CS(BX), AX
	MOVQ AX, F_CS(SP)
	MOVQ R_RFLAGS(BX), AX
	MOVQ AX, F_RFLAGS(SP)
	MOVQ R_RSP(BX), AX
	MOVQ AX, F_RSP(SP)
	MOVQ R_SS(BX), AX
	MOVQ AX, F_SS(SP)
	// Copied: release the record. (The CPU aligned a nested record's stack
	// down to 16 bytes; leaving IST1 8 bytes lower than it was then is
	// harmless, the outer entry's release restores it.)
	LEAQ R_SIZE(BX), AX
	MOVQ CPU_IST1P(GS), BX
	MOVQ AX, 0(BX)
	MOVQ CX, F_RCX(SP)
	MOVQ DX, F_RDX(SP)
	MOVQ SI, F_RSI(SP)
	MOVQ DI, F_RDI(SP)
	MOVQ BP, F_RBP(SP)
	MOVQ R8, F_R8(SP)
	MOVQ R9, F_R9(SP)
	MOVQ R10, F_R10(SP)
	MOVQ R11, F_R11(SP)
	MOVQ R12, F_R12(SP)
	MOVQ R13, F_R13(SP)
	MOVQ R14, F_R14(SP)
	MOVQ R15, F_R15(SP)
	RDFSBASE_AX
	MOVQ AX, F_FSBASE(SP)
	MOVQ $0, BP
	JMP ·trapBody(SB)

// trapEntry is where system calls (and the deferred-interrupt entry,
// VEC_PENDING) land at CPL 3 (IF=0; IF=1 in CPL-3 mode, kactive set).
// In:  RSP = kernel stack top of the current thread;
//      all general registers are the interrupted context's except RAX,
//      RCX, R11, which are in CPU.ctx*; CPU.trap* describe the event.
// Out: builds an rt.Frame on the stack, switches FS to the kernel TLS,
//      saves extended state for asynchronous events, calls kernelTrap, and
//      leaves through returnToUser with the (possibly different) frame
//      at the top of whatever kernel stack is current then.
TEXT ·trapEntry(SB),NOSPLIT|NOFRAME,$0
	PUSHQ CPU_CTX_SS(GS)
	PUSHQ CPU_CTX_RSP(GS)
	PUSHQ CPU_CTX_RFLAGS(GS)
	PUSHQ CPU_CTX_CS(GS)
	PUSHQ CPU_CTX_RIP(GS)
	PUSHQ CPU_TRAPERR(GS)
	PUSHQ CPU_TRAPVEC(GS)
	RDFSBASE_AX
	PUSHQ AX
	PUSHQ CPU_TRAPCR2(GS)
	PUSHQ CPU_CTX_RAX(GS)
	PUSHQ BX
	PUSHQ CPU_CTX_RCX(GS)
	PUSHQ DX
	PUSHQ SI
	PUSHQ DI
	PUSHQ BP
	PUSHQ R8
	PUSHQ R9
	PUSHQ R10
	PUSHQ CPU_CTX_R11(GS)
	PUSHQ R12
	PUSHQ R13
	PUSHQ R14
	PUSHQ R15
	MOVQ $0, BP
	JMP ·trapBody(SB)

// trapBody: the rest of trapEntry and istEntry.
// In: SP = the rt.Frame just built, FS = the interrupted context's,
// BP = 0 (the end of the kernel's frame-pointer chain).
TEXT ·trapBody(SB),NOSPLIT|NOFRAME,$0
	MOVQ CPU_KTLS(GS), AX
	WRFSBASE_AX
	// Record the entry in this CPU's trace ring (abi.TraceRing), if the
	// kernel gave it one: TSC, RIP, vector, error code, and the system
	// call number or CR2. Plain stores: only this CPU writes its ring, and
	// entries do not nest (interrupts that hit the kernel are deferred).
	MOVQ CPU_TRACE(GS), DI
	TESTQ DI, DI
	JEQ traced
	MOVQ TR_NEXT(DI), CX
	MOVQ CX, BX
	ANDQ $(TRACE_EVENTS-1), BX
	SHLQ $TRACE_EVENT_SHIFT, BX
	LEAQ TR_EVENTS(DI)(BX*1), BX
	RDTSC
	SHLQ $32, DX
	ORQ DX, AX
	MOVQ AX, EV_TSC(BX)
	MOVQ F_RIP(SP), AX
	MOVQ AX, EV_RIP(BX)
	MOVQ F_VEC(SP), AX
	MOVL AX, EV_VEC(BX)
	MOVQ F_ERR(SP), AX
	MOVL AX, EV_ERR(BX)
	MOVQ F_CR2(SP), AX
	CMPQ F_VEC(SP), $VEC_SYSCALL
	CMOVQEQ F_RAX(SP), AX
	MOVQ AX, EV_ARG(BX)
	INCQ CX
	MOVQ CX, TR_NEXT(DI)
traced:
	// Asynchronous events interrupt arbitrary code: save the extended
	// state the kernel's Go code may clobber. System calls need not (the
	// Linux ABI lets them clobber vector registers).
	CMPQ F_VEC(SP), $VEC_SYSCALL
	JEQ saved
	MOVQ CPU_XSAVE(GS), DI
	CMPQ DI, $0
	JEQ saved
	CALL ·saveExtended(SB)
saved:
	MOVQ SP, AX
	SUBQ $16, SP
	MOVQ AX, 0(SP)
	CALL ·kernelTrap(SB)
	ADDQ $16, SP
	JMP ·returnToUser(SB)

// returnToUser resumes the context in the rt.Frame at SP.
// In:  SP = frame; FS = kernel TLS; CPU.xsave = this thread's area.
// Out: never returns; SVC_RETURN IRETQs into the frame's context.
TEXT ·returnToUser(SB),NOSPLIT|NOFRAME,$0
	CMPQ F_VEC(SP), $VEC_SYSCALL
	JEQ restored
	MOVQ CPU_XSAVE(GS), DI
	CMPQ DI, $0
	JEQ restored
	CALL ·restoreExtended(SB)
restored:
	MOVQ F_FSBASE(SP), AX
	WRFSBASE_AX
	MOVQ F_RIP(SP), AX
	MOVQ AX, CPU_CTX_RIP(GS)
	MOVQ F_CS(SP), AX
	MOVQ AX, CPU_CTX_CS(GS)
	MOVQ F_RFLAGS(SP), AX
	MOVQ AX, CPU_CTX_RFLAGS(GS)
	MOVQ F_RSP(SP), AX
	MOVQ AX, CPU_CTX_RSP(GS)
	MOVQ F_SS(SP), AX
	MOVQ AX, CPU_CTX_SS(GS)
	MOVQ F_RAX(SP), AX
	MOVQ AX, CPU_CTX_RAX(GS)
	MOVQ F_RCX(SP), AX
	MOVQ AX, CPU_CTX_RCX(GS)
	MOVQ F_R11(SP), AX
	MOVQ AX, CPU_CTX_R11(GS)
	POPQ R15
	POPQ R14
	POPQ R13
	POPQ R12
	ADDQ $8, SP                // R11 (via ctx)
	POPQ R10
	POPQ R9
	POPQ R8
	POPQ BP
	POPQ DI
	POPQ SI
	POPQ DX
	ADDQ $8, SP                // RCX (via ctx)
	POPQ BX
	MOVQ $(SVC_BASE+SVC_RETURN), AX
	CMPQ ·cpl3Mode(SB), $0
	JNE cpl3
	SYSCALL
	// not reached
cpl3:
	// CPL-3 mode: a SYSCALL here would only trap through the host to
	// reach cpl3Syscall; go there directly (RCX, R11 are unused by
	// SVC_RETURN). Indirect, as the SYSCALL was: the linker's nosplit
	// check would see a cycle through trapEntry otherwise, but a return
	// to the program never comes back here on the same stack.
	LEAQ ·cpl3Syscall(SB), CX
	JMP CX

// saveExtended / restoreExtended: XSAVE64/XRSTOR64 (or FXSAVE64/FXRSTOR64
// when xsaveMask is 0) of the area at DI. Clobber AX, DX.
TEXT ·saveExtended(SB),NOSPLIT|NOFRAME,$0
	MOVQ ·xsaveMask(SB), AX
	CMPQ AX, $0
	JEQ fx
	MOVQ AX, DX
	SHRQ $32, DX
	XSAVE64_DI
	RET
fx:
	FXSAVE64_DI
	RET

TEXT ·restoreExtended(SB),NOSPLIT|NOFRAME,$0
	MOVQ ·xsaveMask(SB), AX
	CMPQ AX, $0
	JEQ fx
	MOVQ AX, DX
	SHRQ $32, DX
	XRSTOR64_DI
	RET
fx:
	FXRSTOR64_DI
	RET

// func switchStacks(saveSP *uintptr, newSP uintptr, newTLS uintptr)
// Kernel context switch. Saves the current kernel stack pointer (with BP
// and a return PC on it) in *saveSP, moves FS to newTLS and continues on
// newSP, where a previous switchStacks (or a new thread's start frame,
// see threadStart) left BP and a return PC. Go's ABI has no callee-saved
// registers besides BP, so nothing else needs saving.
TEXT ·switchStacks(SB),NOSPLIT|NOFRAME,$0-24
	MOVQ saveSP+0(FP), AX
	MOVQ newSP+8(FP), BX
	MOVQ newTLS+16(FP), CX
	PUSHQ BP
	MOVQ SP, (AX)
	MOVQ BX, SP
	MOVQ CX, AX
	WRFSBASE_AX
	POPQ BP
	RET

// threadStart is the return PC planted on a new thread's kernel stack:
// SP then points at its rt.Frame. A thread is switched to with the
// scheduler lock held; kernelThreadStart releases it.
TEXT ·threadStart(SB),NOSPLIT|NOFRAME,$0
	CALL ·kernelThreadStart(SB)
	JMP ·returnToUser(SB)

// func threadStartPC() uintptr
TEXT ·threadStartPC(SB),NOSPLIT|NOFRAME,$0-8
	LEAQ ·threadStart(SB), AX
	MOVQ AX, ret+0(FP)
	RET

// func enterFrame(frame uintptr)
// Abandons the current stack and resumes the context of the frame at
// frame (used once, to start the first thread).
TEXT ·enterFrame(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ frame+0(FP), SP
	JMP ·returnToUser(SB)

// func vectorTable() uintptr
TEXT ·vectorTable(SB),NOSPLIT|NOFRAME,$0-8
	LEAQ ·vectorAddrs(SB), AX
	MOVQ AX, ret+0(FP)
	RET

// func XSaveTo(area uintptr)
// Saves the current extended state (XSAVE64 or FXSAVE64) at area, for
// signal delivery at a system call's return. Clobbers AX, DX, DI.
TEXT ·XSaveTo(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ area+0(FP), DI
	JMP ·saveExtended(SB)

// idleStart is the return PC planted on a new idle thread's kernel stack:
// it runs the kernel's idle loop (entered with the scheduler lock held,
// never returns).
TEXT ·idleStart(SB),NOSPLIT|NOFRAME,$0
	CALL ·kernelIdle(SB)
	BYTE $0x0f; BYTE $0x0b     // UD2: the idle loop does not return

// func IdleStartPC() uintptr
TEXT ·IdleStartPC(SB),NOSPLIT|NOFRAME,$0-8
	LEAQ ·idleStart(SB), AX
	MOVQ AX, ret+0(FP)
	RET

// ---- CPL-3 SYSCALL mode (the shim's host quirks; kernel/host.go has the rest) ----
//
// On hosts whose /dev/kvm is the PVM module found on this project's
// machines, guest CPL 0 is emulated instruction by instruction, and
// SYSCALL from CPL 3 does not change privilege: it jumps to LSTAR still at
// CPL 3, on the caller's stack. The kernel then runs entirely at CPL 3
// with interrupts enabled (SFMASK keeps IF; the shim defers an interrupt
// that hits the kernel to CPU.pending), Linux system calls enter
// trapEntry without a ring transition, OUT is done in place, and only the
// other privileged services reach CPL 0, through a UD2 in svcTrap that
// vec6 recognises. Exceptions and interrupts still arrive through
// the IDT at CPL 0 and are redirected as usual.

GLOBL ·cpl3Scratch(SB), NOPTR, $64

// svcTrap is where privileged services trap to CPL 0 in CPL-3 mode.
// In: RAX = SVC_BASE+op, arguments in RDI, RSI, RDX, RCX = the return RIP
// of the SYSCALL being served (kept in CPU.scratch1 across the trap).
// Out: as the service; returns to its caller.
TEXT ·svcTrap(SB),NOSPLIT|NOFRAME,$0
	BYTE $0x0f; BYTE $0x0b     // UD2: vec6 runs the service at CPL 0
	RET

// wrmsrTrap is where WRMSR traps to CPL 0 in CPL-3 mode: vec6 executes
// WRMSR and resumes after the UD2.
// In: ECX = MSR, EDX:EAX = value. Out: nothing clobbered.
TEXT ·wrmsrTrap(SB),NOSPLIT|NOFRAME,$0
	BYTE $0x0f; BYTE $0x0b     // UD2
	RET

// cpl3First handles the first SYSCALL that arrived at CPL 3: switch to
// CPL-3 mode (SFMASK must keep IF from now on, on every CPU), then serve it.
TEXT ·cpl3First(SB),NOSPLIT|NOFRAME,$0
	MOVQ $1, ·cpl3Mode(SB)
	MOVQ $0x47500, ·sfmask(SB)
	MOVQ $0x202, CPU_ENTRYRFLAGS(GS) // the kernel runs with IF=1 from now
	MOVQ $0x202, CPU_CRASHRFLAGS(GS) // (other CPUs: rt.InitCPU)
	MOVQ AX, ·cpl3Scratch+0(SB)
	MOVQ DI, ·cpl3Scratch+8(SB)
	MOVQ SI, ·cpl3Scratch+16(SB)
	MOVQ DX, ·cpl3Scratch+24(SB)
	MOVQ R8, ·cpl3Scratch+32(SB)
	MOVQ CX, ·cpl3Scratch+40(SB)
	MOVQ R11, ·cpl3Scratch+48(SB)
	MOVQ CX, CPU_SCRATCH1(GS)
	MOVQ $(SVC_BASE+SVC_WRMSR), AX
	MOVQ $0xc0000084, DI       // SFMASK
	MOVQ ·sfmask(SB), SI
	CALL ·svcTrap(SB)
	MOVQ ·cpl3Scratch+0(SB), AX
	MOVQ ·cpl3Scratch+8(SB), DI
	MOVQ ·cpl3Scratch+16(SB), SI
	MOVQ ·cpl3Scratch+24(SB), DX
	MOVQ ·cpl3Scratch+32(SB), R8
	MOVQ ·cpl3Scratch+40(SB), CX
	MOVQ ·cpl3Scratch+48(SB), R11
	JMP ·cpl3Syscall(SB)

// cpl3Syscall serves a SYSCALL at CPL 3 in CPL-3 mode.
// In: RAX = number, RCX = return RIP, R11 = RFLAGS, RSP = caller's stack.
TEXT ·cpl3Syscall(SB),NOSPLIT|NOFRAME,$0
	// Interrupts are on: mark the CPU in-kernel before touching CPU.ctx*,
	// so an interrupt from here on is deferred rather than redirected
	// over a half-saved context. (Before this instruction nothing is saved
	// yet, and a redirect simply restarts the SYSCALL's entry later.)
	// Services come from the kernel, which is marked already.
	MOVQ $1, CPU_KACTIVE(GS)
	CMPQ AX, $SVC_BASE
	JAE svc
	SYSCALL_TO_KERNEL
	JMP ·trapEntry(SB)
svc:
	CMPQ AX, $(SVC_BASE+SVC_OUTB)
	JEQ outb
	CMPQ AX, $(SVC_BASE+SVC_OUTW)
	JEQ outw
	CMPQ AX, $(SVC_BASE+SVC_OUTL)
	JEQ outl
	CMPQ AX, $(SVC_BASE+SVC_RETURN)
	JEQ ret
	CMPQ AX, $(SVC_BASE+SVC_WRMSR)
	JEQ wrmsr
	MOVQ CX, CPU_SCRATCH1(GS)
	CALL ·svcTrap(SB)
	JMP done
wrmsr:
	// WRMSR, the service the kernel asks for most (x2APIC EOI, the
	// TSC-deadline timer, IPIs): split the operands here, natively, so
	// that vec6 runs nothing at CPL 0 but the check and the WRMSR.
	MOVQ CX, R8
	MOVL DI, CX
	MOVL SI, AX
	MOVQ SI, DX
	SHRQ $32, DX
	CALL ·wrmsrTrap(SB)
	MOVQ R8, CX
	JMP done
outb:
	MOVQ DI, DX
	MOVQ SI, AX
	OUTB
	JMP done
outw:
	MOVQ DI, DX
	MOVQ SI, AX
	OUTW
	JMP done
outl:
	MOVQ DI, DX
	MOVQ SI, AX
	OUTL
done:
	PUSHQ R11
	POPFQ
	JMP CX
ret:
	// Leave the kernel without a ring transition. While IF is off (only
	// before the first thread starts) only CPL 0 can turn it on.
	PUSHFQ
	POPQ AX
	TESTQ $0x200, AX
	JZ slowret
	// The resumed context's RFLAGS and RIP go just below its stack
	// pointer (dead space: Go keeps nothing below SP).
	MOVQ CPU_CTX_RSP(GS), AX
	SUBQ $16, AX
	MOVQ CPU_CTX_RFLAGS(GS), CX
	MOVQ CX, 0(AX)
	MOVQ CPU_CTX_RIP(GS), CX
	MOVQ CX, 8(AX)
	MOVQ AX, SP
	MOVQ CPU_CTX_RAX(GS), AX
	MOVQ CPU_CTX_RCX(GS), CX
	MOVQ CPU_CTX_R11(GS), R11
	// From here the state is the resumed context's, but for RIP and the
	// two words on its stack, so an interrupt may redirect it safely.
	MOVQ $0, CPU_KACTIVE(GS)
	CMPQ CPU_PENDING(GS), $0
	JNE repend
	BYTE $0x9d                 // POPFQ (the resumed RFLAGS, below its SP)
	RET
repend:
	// Interrupts deferred while the kernel ran: handle them before leaving.
	MOVQ $1, CPU_KACTIVE(GS)
	MOVQ $VEC_PENDING, CPU_TRAPVEC(GS)
	MOVQ $0, CPU_TRAPERR(GS)
	MOVQ CPU_KSTACK(GS), SP
	JMP ·trapEntry(SB)
slowret:
	MOVQ $(SVC_BASE+SVC_RETURN), AX
	CALL ·svcTrap(SB)
	BYTE $0x0f; BYTE $0x0b     // not reached: svcReturn resumes the context

// func idtAddr() uintptr
// Returns the address of the IDT (idt0). Clobbers: AX.
TEXT ·idtAddr(SB),NOSPLIT|NOFRAME,$0-8
	LEAQ ·idt0(SB), AX
	MOVQ AX, ret+0(FP)
	RET

// ---- System calls as calls (CPL-3 SYSCALL mode) ----
//
// In CPL-3 mode the kernel rewrites the program's system-call sites (the
// instruction before SYSCALL, then SYSCALL) into NOPs and a CALL to a stub
// in syscallStubs: the site's instruction, then JMP syscallCallEntry. The
// entry does what SYSCALL did and continues as cpl3Syscall, with no trap
// through the host. kernel/syscallpatch.go writes the stubs and sites.

// syscallCallEntry: In: the stub was CALLed (the return address on the
// stack is the SYSCALL's return RIP), RAX = number, arguments as for
// SYSCALL. Out: as cpl3Syscall with RCX = return RIP, R11 = RFLAGS, DF
// clear, SP = the caller's.
TEXT ·syscallCallEntry(SB),NOSPLIT|NOFRAME,$0
	// Defer interrupts first: until this store an interrupt may redirect
	// the context (PC here or in a stub, the return address at SP, frame
	// size 0, as Go's unwinder reads it) and restart the entry later;
	// after it, nothing sees the stack word popped below.
	MOVQ $1, CPU_KACTIVE(GS)
	POPQ CX
	PUSHFQ
	POPQ R11
	CLD
	JMP ·cpl3Syscall(SB)

#define STUB16 BYTE $0xcc; BYTE $0xcc; BYTE $0xcc; BYTE $0xcc; BYTE $0xcc; BYTE $0xcc; BYTE $0xcc; BYTE $0xcc; BYTE $0xcc; BYTE $0xcc; BYTE $0xcc; BYTE $0xcc; BYTE $0xcc; BYTE $0xcc; BYTE $0xcc; BYTE $0xcc
#define STUB256 STUB16; STUB16; STUB16; STUB16; STUB16; STUB16; STUB16; STUB16; STUB16; STUB16; STUB16; STUB16; STUB16; STUB16; STUB16; STUB16

// syscallStubs is the stub area: SYSCALL_STUBS_SIZE bytes of INT3 that the
// kernel overwrites with one 16-byte stub per rewritten site.
TEXT ·syscallStubs(SB),NOSPLIT|NOFRAME,$0
	STUB256; STUB256; STUB256; STUB256; STUB256; STUB256; STUB256; STUB256
	STUB256; STUB256; STUB256; STUB256; STUB256; STUB256; STUB256; STUB256

// func syscallStubArea() (stubs, entry uintptr)
TEXT ·syscallStubArea(SB),NOSPLIT|NOFRAME,$0-16
	LEAQ ·syscallStubs(SB), AX
	MOVQ AX, stubs+0(FP)
	LEAQ ·syscallCallEntry(SB), AX
	MOVQ AX, entry+8(FP)
	RET

// func syscallLandingPCs() (entry, cpl3 uintptr)
TEXT ·syscallLandingPCs(SB),NOSPLIT|NOFRAME,$0-16
	LEAQ ·syscallEntry(SB), AX
	MOVQ AX, entry+0(FP)
	LEAQ ·cpl3Syscall(SB), AX
	MOVQ AX, cpl3+8(FP)
	RET
