#include "textflag.h"
#include "abi_amd64.h"

// CPU primitives for kernel code running at CPL 3. Privileged operations
// go through the ring-0 shim's services: SYSCALL with RAX = SVC_BASE+op,
// arguments in DI, SI, DX. A service call clobbers AX, CX, DX, R8, R9,
// R11 (CPUID also BX), which Go's ABI0 treats as scratch anyway.

#define SVC(op) MOVQ $(SVC_BASE+op), AX; SYSCALL

// func Outb(port uint16, v uint8)
TEXT ·Outb(SB),NOSPLIT|NOFRAME,$0-3
	MOVWQZX port+0(FP), DI
	MOVBQZX v+2(FP), SI
	SVC(SVC_OUTB)
	RET

// func OutbDirect(port uint16, v uint8)
// In: port, v on the stack (ABI0). Executes OUTB at the caller's privilege
// (CPL 3: the port must be open in the TSS I/O bitmap, else #GP).
// Clobbers AX, DX.
TEXT ·OutbDirect(SB),NOSPLIT|NOFRAME,$0-3
	MOVWQZX port+0(FP), DX
	MOVBQZX v+2(FP), AX
	OUTB
	RET

// func OutwDirect(port uint16, v uint16)
// Executes OUTW at the caller's privilege (CPL 3: the port must be open in
// the TSS I/O bitmap, else #GP). Clobbers AX, DX.
TEXT ·OutwDirect(SB),NOSPLIT|NOFRAME,$0-4
	MOVWQZX port+0(FP), DX
	MOVWQZX v+2(FP), AX
	OUTW
	RET

// func OutlDirect(port uint16, v uint32)
// Executes OUTL at the caller's privilege (CPL 3: the port must be open in
// the TSS I/O bitmap, else #GP). Clobbers AX, DX.
TEXT ·OutlDirect(SB),NOSPLIT|NOFRAME,$0-8
	MOVWQZX port+0(FP), DX
	MOVL v+4(FP), AX
	OUTL
	RET

// func OutsbDirect(port uint16, p *byte, n int)
// In: port, p, n on the stack (ABI0). Executes REP OUTSB at the caller's
// privilege (CPL 3: the port must be open in the TSS I/O bitmap, else #GP).
// Clobbers CX, DX, SI; DF is clear (Go's ABI keeps it so).
TEXT ·OutsbDirect(SB),NOSPLIT|NOFRAME,$0-24
	MOVWQZX port+0(FP), DX
	MOVQ p+8(FP), SI
	MOVQ n+16(FP), CX
	REP; OUTSB
	RET

// func OutlAddr(port uint16, p unsafe.Pointer)
// OUTL of p's low 32 bits to port, at the caller's privilege.
TEXT ·OutlAddr(SB),NOSPLIT|NOFRAME,$0-16
	MOVWQZX port+0(FP), DX
	MOVQ p+8(FP), AX
	OUTL
	RET

// func InbDirect(port uint16) uint8
// Executes IN at the caller's privilege (the port must be open in the TSS
// I/O bitmap).
TEXT ·InbDirect(SB),NOSPLIT|NOFRAME,$0-9
	MOVWQZX port+0(FP), DX
	INB
	MOVB AX, ret+8(FP)
	RET

// func Inb(port uint16) uint8
TEXT ·Inb(SB),NOSPLIT|NOFRAME,$0-9
	MOVWQZX port+0(FP), DI
	SVC(SVC_INB)
	MOVB AX, ret+8(FP)
	RET

// func Outw(port uint16, v uint16)
TEXT ·Outw(SB),NOSPLIT|NOFRAME,$0-4
	MOVWQZX port+0(FP), DI
	MOVWQZX v+2(FP), SI
	SVC(SVC_OUTW)
	RET

// func Inw(port uint16) uint16
TEXT ·Inw(SB),NOSPLIT|NOFRAME,$0-10
	MOVWQZX port+0(FP), DI
	SVC(SVC_INW)
	MOVW AX, ret+8(FP)
	RET

// func Outl(port uint16, v uint32)
TEXT ·Outl(SB),NOSPLIT|NOFRAME,$0-8
	MOVWQZX port+0(FP), DI
	MOVL v+4(FP), SI
	SVC(SVC_OUTL)
	RET

// func Inl(port uint16) uint32
TEXT ·Inl(SB),NOSPLIT|NOFRAME,$0-12
	MOVWQZX port+0(FP), DI
	SVC(SVC_INL)
	MOVL AX, ret+8(FP)
	RET

// func Wrmsr(msr uint32, v uint64)
TEXT ·Wrmsr(SB),NOSPLIT|NOFRAME,$0-16
	MOVLQZX msr+0(FP), DI
	MOVQ v+8(FP), SI
	SVC(SVC_WRMSR)
	RET

// func Rdmsr(msr uint32) uint64
TEXT ·Rdmsr(SB),NOSPLIT|NOFRAME,$0-16
	MOVLQZX msr+0(FP), DI
	SVC(SVC_RDMSR)
	MOVQ AX, ret+8(FP)
	RET

// func WriteCR3(v uint64)
TEXT ·WriteCR3(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ v+0(FP), DI
	SVC(SVC_WRCR3)
	RET

// func readCR(n int) uint64
TEXT ·readCR(SB),NOSPLIT|NOFRAME,$0-16
	MOVQ n+0(FP), DI
	SVC(SVC_RDCR)
	MOVQ AX, ret+8(FP)
	RET

// func Invlpg(addr uintptr)
TEXT ·Invlpg(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ addr+0(FP), DI
	SVC(SVC_INVLPG)
	RET

// func Lidt(idtr uintptr)
TEXT ·Lidt(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ idtr+0(FP), DI
	SVC(SVC_LIDT)
	RET

// func Lgdt(gdtr uintptr)
TEXT ·Lgdt(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ gdtr+0(FP), DI
	SVC(SVC_LGDT)
	RET

// func Ltr(sel uint16)
TEXT ·Ltr(SB),NOSPLIT|NOFRAME,$0-2
	MOVWQZX sel+0(FP), DI
	SVC(SVC_LTR)
	RET

// func Cpuid(leaf, sub uint32) (a, b, c, d uint32)
// The guest's CPUID, executed at CPL 0. (At CPL 3 a PVM host answers
// CPUID itself, with the host's leaves and no hypervisor leaves.)
TEXT ·Cpuid(SB),NOSPLIT|NOFRAME,$0-24
	MOVLQZX leaf+0(FP), DI
	MOVLQZX sub+4(FP), SI
	SVC(SVC_CPUID)
	MOVL AX, a+8(FP)
	MOVL BX, b+12(FP)
	MOVL R9, c+16(FP)
	MOVL DX, d+20(FP)
	RET

// func CpuidPVM(leaf, sub uint32) (a, b, c, d uint32)
// CPUID at CPL 0 through PVM's synthetic sequence (abi.PVMSyntheticCPUID):
// on a PVM host that implements its paravirtual ABI the hypervisor answers
// it, elsewhere it is Cpuid.
TEXT ·CpuidPVM(SB),NOSPLIT|NOFRAME,$0-24
	MOVLQZX leaf+0(FP), DI
	MOVLQZX sub+4(FP), SI
	SVC(SVC_CPUID_PVM)
	MOVL AX, a+8(FP)
	MOVL BX, b+12(FP)
	MOVL R9, c+16(FP)
	MOVL DX, d+20(FP)
	RET

// func Idle() uint64
// Halts until an interrupt; returns the bit mask (bit v-32) of vectors
// taken while halted.
TEXT ·Idle(SB),NOSPLIT|NOFRAME,$0-8
	SVC(SVC_IDLE)
	MOVQ AX, ret+0(FP)
	RET

// func Rdtsc() uint64
TEXT ·Rdtsc(SB),NOSPLIT|NOFRAME,$0-8
	RDTSC
	SHLQ $32, DX
	ORQ DX, AX
	MOVQ AX, ret+0(FP)
	RET

// func Rdrand() (uint64, bool)
TEXT ·Rdrand(SB),NOSPLIT|NOFRAME,$0-9
	MOVL $10, CX
retry:
	BYTE $0x48; BYTE $0x0f; BYTE $0xc7; BYTE $0xf0 // RDRAND RAX
	JCS ok
	DECL CX
	JNZ retry
	MOVQ $0, ret+0(FP)
	MOVB $0, ret1+8(FP)
	RET
ok:
	MOVQ AX, ret+0(FP)
	MOVB $1, ret1+8(FP)
	RET

// func Rdseed() (uint64, bool)
TEXT ·Rdseed(SB),NOSPLIT|NOFRAME,$0-9
	MOVL $100, CX
retry:
	BYTE $0x48; BYTE $0x0f; BYTE $0xc7; BYTE $0xf8 // RDSEED RAX
	JCS ok
	PAUSE
	DECL CX
	JNZ retry
	MOVQ $0, ret+0(FP)
	MOVB $0, ret1+8(FP)
	RET
ok:
	MOVQ AX, ret+0(FP)
	MOVB $1, ret1+8(FP)
	RET

// func CpuidNative(leaf, sub uint32) (a, b, c, d uint32)
// CPUID as executed at CPL 3 (what the Go runtime itself sees).
TEXT ·CpuidNative(SB),NOSPLIT|NOFRAME,$0-24
	MOVL leaf+0(FP), AX
	MOVL sub+4(FP), CX
	CPUID
	MOVL AX, a+8(FP)
	MOVL BX, b+12(FP)
	MOVL CX, c+16(FP)
	MOVL DX, d+20(FP)
	RET

// func Pause()
TEXT ·Pause(SB),NOSPLIT|NOFRAME,$0-0
	PAUSE
	RET

// func Xgetbv() uint64
// XCR0 (allowed at CPL 3 when CR4.OSXSAVE is set).
TEXT ·Xgetbv(SB),NOSPLIT|NOFRAME,$0-8
	XORL CX, CX
	XGETBV
	SHLQ $32, DX
	ORQ DX, AX
	MOVQ AX, ret+0(FP)
	RET

// func ThisCPU() uintptr
// The current CPU's block: CPU.self at GS:0.
TEXT ·ThisCPU(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ 0(GS), AX
	MOVQ AX, ret+0(FP)
	RET
