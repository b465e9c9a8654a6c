#include "textflag.h"
#include "abi_amd64.h"

// Application processors. The boot CPU fills apBoot and starts one AP at a
// time with INIT-SIPI-SIPI (kernel/smp.go); the AP runs the real-mode
// trampoline (trampoline.S), arrives here in 64-bit mode, and drops to CPL
// 3 into apMain like the boot CPU drops into bootMain.
//
// apBoot layout: [0] stack top (the AP's idle thread's kernel stack),
// [8] its rt.CPU block, [16] its kernel TLS (FS.base), [24] set to 1 by
// the AP once it no longer needs apBoot, [32] its GDTR (a GDT copy whose
// TSS descriptor at 0x40 is its own).
GLOBL ·apBoot(SB), NOPTR, $40

// apEntry64: In: 64-bit mode, CS=0x10, the kernel's page table, IF=0, any
// stack. Out: never returns.
TEXT ·apEntry64(SB),NOSPLIT|NOFRAME,$0
	MOVL $SEL_KDATA, AX
	MOVW AX, DS
	MOVW AX, ES
	MOVW AX, SS
	XORL AX, AX
	MOVW AX, FS
	MOVW AX, GS
	MOVQ ·apBoot+0(SB), SP
	CALL ·cpuSetup(SB)
	// Its own GDT and TSS, and the shared IDT, loaded here at CPL 0: on
	// CPL-3 SYSCALL hosts the first service already needs the IDT.
	MOVQ ·apBoot+32(SB), AX
	LGDT (AX)
	MOVL $SEL_TSS, AX
	LTR AX
	LEAQ ·idtr0(SB), AX
	LIDT (AX)
	// GS.base (and KERNEL_GS_BASE) = this CPU's block.
	MOVQ ·apBoot+8(SB), AX
	MOVQ AX, DX
	SHRQ $32, DX
	MOVL $0xc0000101, CX
	WRMSR
	MOVQ ·apBoot+8(SB), AX
	MOVQ AX, DX
	SHRQ $32, DX
	MOVL $0xc0000102, CX
	WRMSR
	// FS.base = the idle thread's kernel TLS.
	MOVQ ·apBoot+16(SB), AX
	MOVQ AX, DX
	SHRQ $32, DX
	MOVL $0xc0000100, CX
	WRMSR
	MOVQ ·apBoot+0(SB), BX
	SUBQ $64, BX
	MOVQ $0, 0(BX)
	MOVQ ·apBoot+8(SB), AX
	MOVQ AX, 8(BX)             // apMain(cpu)
	MOVQ $1, ·apBoot+24(SB)
	PUSHQ $SEL_UDATA
	PUSHQ BX
	PUSHQ $2                   // IF=0
	PUSHQ $SEL_UCODE
	LEAQ ·apMain(SB), AX
	PUSHQ AX
	IRETQ

// func apEntry64Addr() uintptr
TEXT ·apEntry64Addr(SB),NOSPLIT|NOFRAME,$0-8
	LEAQ ·apEntry64(SB), AX
	MOVQ AX, ret+0(FP)
	RET

// func apBootAddr() uintptr
TEXT ·apBootAddr(SB),NOSPLIT|NOFRAME,$0-8
	LEAQ ·apBoot(SB), AX
	MOVQ AX, ret+0(FP)
	RET

// func crashStackTop() uintptr
TEXT ·crashStackTop(SB),NOSPLIT|NOFRAME,$0-8
	LEAQ ·crashStack+(CRASH_STACK_SIZE-64)(SB), AX
	MOVQ AX, ret+0(FP)
	RET

// func trapEntryAddr() uintptr
TEXT ·trapEntryAddr(SB),NOSPLIT|NOFRAME,$0-8
	LEAQ ·trapEntry(SB), AX
	MOVQ AX, ret+0(FP)
	RET

// func istEntryAddr() uintptr
TEXT ·istEntryAddr(SB),NOSPLIT|NOFRAME,$0-8
	LEAQ ·istEntry(SB), AX
	MOVQ AX, ret+0(FP)
	RET
