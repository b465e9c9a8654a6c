#include "textflag.h"
#include "abi_amd64.h"

// Boot path: PVH 32-bit entry -> long mode (ring 0) -> bootMain in ring 3.
//
// Why ring 3: all Go code, the runtime's and the kernel's, runs at CPL 3;
// only the small shim in shim_amd64.s runs at CPL 0. On hosts where KVM is
// backed by a software hypervisor (PVM, as on the CI machines) guest CPL 0
// code is emulated instruction by instruction and cannot run Go (the
// emulator has no SSE), while CPL 3 code runs natively. On hardware KVM and
// TCG the same layout costs one ring transition per kernel entry. See
// docs/ARCHITECTURE.md.
//
// The Go assembler only emits 64-bit code, and every reference to a symbol
// is RIP-relative. The 32-bit part below is therefore written with the
// subset of encodings that mean the same thing in 32-bit protected mode
// (no REX prefixes, no 64-bit operands, register-indirect addressing only),
// and finds absolute addresses itself: a RIP-relative LEA executed in
// 32-bit mode loads its raw displacement (target - end of the LEA), so
// adding the LEA's own run-time end address yields the target. That address
// comes from a CALL/POP pair. rt/boot_test.go disassembles this code in
// 32-bit mode and checks the byte offsets the comments rely on.

// Layout of boot32 (data, zero in the program; the image writer fills the
// page tables, see below):
//   0x0000  page tables: 4 pages; the first 3 4KiB-aligned ones are PML4,
//           PDPT, PD0 (identity map of 0..1 GiB, 2 MiB pages, user-accessible)
//   0x4000  GDT (10 descriptors, Linux layout), 0x4050 GDTR
//   0x4060  start_info physical address (from EBX)
//   0x4068  address of entry64
//   0x4070..0x4400  stack for the far return and entry64
#define B32_PT      0x0000
#define B32_GDT     0x4000
#define B32_GDTR    0x4050
#define B32_INFO    0x4060
#define B32_ENTRY   0x4068
#define B32_STACK   0x4400
#define B32_SIZE    0x4400

// boot32 has file bytes (one DATA word makes the whole symbol data, not
// BSS) so that the image writer (tools/image, bootPageTables) can store
// the page tables in the image: pvhEntry then skips building them, which
// on PVM hosts, where every instruction at CPL 0 is emulated, is most of
// the boot's emulated work. Without them (an image from another writer)
// pvhEntry builds the same tables itself.
DATA ·boot32+B32_GDT(SB)/8, $0
GLOBL ·boot32(SB), NOPTR, $B32_SIZE

// Boot stack for bootMain (ring 3), its TLS word and fake g, and a stack
// for crash reports of faults taken inside the kernel.
#define BOOT_STACK_SIZE 65536
// STACK_GUARD is how far above stack.lo a fake g's stackguard sits: room
// for nosplit chains below the last checked frame.
#define STACK_GUARD 2048
GLOBL ·bootStack(SB), NOPTR, $BOOT_STACK_SIZE
GLOBL ·bootG(SB), NOPTR, $1024
GLOBL ·bootTLS(SB), NOPTR, $16

// The boot CPU's TSS and interrupt stack, and the IDT all CPUs share.
#define IST_SIZE 16384
// TSS_LIMIT covers the 104-byte TSS, a 128-byte I/O bitmap for ports
// 0-0x3ff and its terminating 0xff byte.
#define TSS_LIMIT (104+128+1-1)
GLOBL ·tss0(SB), NOPTR, $256
GLOBL ·istStack0(SB), NOPTR, $IST_SIZE
GLOBL ·idt0(SB), NOPTR, $4096
GLOBL ·idtr0(SB), NOPTR, $16

// pvhEntry is the PVH entry point (XEN_ELFNOTE_PHYS32_ENTRY).
//
// In:  32-bit protected mode, paging off, flat segments, interrupts off,
//      EBX = physical address of struct hvm_start_info. ESP is undefined.
// Out: never returns; far-returns to entry64 in 64-bit mode.
// Stack: borrows the 4 bytes just below start_info for one CALL, restoring
//      them immediately (ESP is undefined on entry and we need EIP).
TEXT ·pvhEntry(SB),NOSPLIT|NOFRAME,$0
	CLI                        // +0  fa
	CLD                        // +1  fc
	MOVL -4(BX), DI            // +2  8b 7b fc   save the word below start_info
	MOVL BX, SP                // +5  89 dc      borrow it as a one-word stack
	BYTE $0xe8; LONG $0        // +7  e8 00000000: call the next instruction
	BYTE $0x5d                 // +12 pop %ebp: EBP = address of this byte
	MOVL DI, -4(BX)            // +13 89 7b fc   give the word back
	LEAL ·boot32(SB), SI       // +16 8d 35 d32: ESI = boot32 - (EBP+10)
	LEAL 10(BP)(SI*1), SI      // +22 8d 74 35 0a: ESI = &boot32
	LEAL ·entry64(SB), CX      // +26 8d 0d d32: ECX = entry64 - (EBP+20)
	LEAL 20(BP)(CX*1), CX      // +32 8d 4c 0d 14: ECX = &entry64

	// Boot mark for the launcher's timing: OUT abi.BootMarkEntry to
	// abi.PortBootMark (0xf8), one VM exit (rt/boot_test.go checks the
	// values). Same encodings in 32- and 64-bit mode; clobbers AL.
	BYTE $0xb0; BYTE $0x01     // +36 b0 01: MOVB $1, AL
	BYTE $0xe6; BYTE $0xf8     // +38 e6 f8: OUTB AL, $0xf8

	MOVL BX, B32_INFO(SI)
	MOVL CX, B32_ENTRY(SI)
	LEAL B32_STACK(SI), SP

	// EBP = first 4 KiB boundary inside the page-table area. A non-zero
	// PML4[0] means the image writer stored the tables there already.
	LEAL (B32_PT+4095)(SI), DI
	ANDL $~4095, DI
	MOVL DI, BP
	CMPL (BP), $0
	JNE ptready
	XORL AX, AX
	MOVL $(3*1024), CX
	REP; STOSL
	LEAL 0x1027(BP), AX        // PML4[0] -> PDPT, present|writable|user|accessed
	MOVL AX, (BP)
	LEAL 0x2027(BP), AX        // PDPT[0] -> PD0
	MOVL AX, 0x1000(BP)
	LEAL 0x2000(BP), DI        // PD0: 512 x 2 MiB, present|writable|user|accessed|dirty|huge
	MOVL $0xe7, AX
	MOVL $512, CX
pdloop:
	MOVL AX, (DI)
	ADDL $0x200000, AX
	ADDL $8, DI
	DECL CX
	JNZ pdloop
ptready:

	// GDT in the Linux layout (the selectors PVM requires for user mode).
	LEAL B32_GDT(SI), DI
	XORL AX, AX
	MOVL $20, CX
	REP; STOSL
	MOVL $0x0000ffff, (B32_GDT+0x08)(SI)   // 0x08 kernel code, 32-bit (AP start-up)
	MOVL $0x00cf9a00, (B32_GDT+0x0c)(SI)
	MOVL $0x0000ffff, (B32_GDT+0x10)(SI)   // 0x10 kernel code, 64-bit
	MOVL $0x00af9a00, (B32_GDT+0x14)(SI)
	MOVL $0x0000ffff, (B32_GDT+0x18)(SI)   // 0x18 kernel data
	MOVL $0x00cf9200, (B32_GDT+0x1c)(SI)
	MOVL $0x0000ffff, (B32_GDT+0x20)(SI)   // 0x23 user code, 32-bit
	MOVL $0x00cffa00, (B32_GDT+0x24)(SI)
	MOVL $0x0000ffff, (B32_GDT+0x28)(SI)   // 0x2b user data
	MOVL $0x00cff200, (B32_GDT+0x2c)(SI)
	MOVL $0x0000ffff, (B32_GDT+0x30)(SI)   // 0x33 user code, 64-bit
	MOVL $0x00affa00, (B32_GDT+0x34)(SI)
	MOVW $79, B32_GDTR(SI)
	LEAL B32_GDT(SI), AX
	MOVL AX, (B32_GDTR+2)(SI)
	MOVL $0, (B32_GDTR+6)(SI)
	LGDT B32_GDTR(SI)

	// CR4.PAE, CR3, EFER.LME, CR0.PG: enter compatibility mode.
	MOVL CR4, AX
	ORL $0x20, AX
	MOVL AX, CR4
	MOVL BP, AX
	MOVL AX, CR3
	MOVL $0xc0000080, CX
	RDMSR
	ORL $0x101, AX             // LME | SCE
	WRMSR
	MOVL CR0, AX
	ORL $0x80010001, AX        // PG | WP | PE
	MOVL AX, CR0

	MOVL $SEL_KDATA, AX
	MOVW AX, DS
	MOVW AX, ES
	MOVW AX, SS
	// Far return to entry64 through the 64-bit code selector.
	BYTE $0x6a; BYTE $SEL_KCODE // push $SEL_KCODE
	PUSHQ B32_ENTRY(SI)        // ff b6 d32: push dword [esi+B32_ENTRY]
	BYTE $0xcb                 // lret: pops EIP then CS

// entry64 finishes ring-0 setup and drops to ring 3.
//
// In:  64-bit mode, CS=SEL_KCODE, boot identity map of 1 GiB, interrupts
//      off, SP on the boot32 stack.
// Out: never returns; IRETQ to bootMain(startInfo) at CPL 3 with IF=0, on
//      bootStack, FS.base pointing at bootTLS (fake g), GS.base = &cpu0.
// Clobbers everything.
TEXT ·entry64(SB),NOSPLIT|NOFRAME,$0
	MOVL $SEL_KDATA, AX
	MOVW AX, DS
	MOVW AX, ES
	MOVW AX, SS
	XORL AX, AX
	MOVW AX, FS
	MOVW AX, GS

	CALL ·cpuSetup(SB)

	// GS.base = &cpu0; cpu0.self, trap entry, crash stack. The kernel is
	// "active" (any exception is a kernel fault) until the first thread runs.
	LEAQ ·cpu0(SB), AX
	MOVQ AX, CPU_SELF(AX)
	MOVQ $1, CPU_KACTIVE(AX)
	LEAQ ·trapEntry(SB), BX
	MOVQ BX, CPU_TRAPENTRY(AX)
	LEAQ ·crashStack+(CRASH_STACK_SIZE-64)(SB), BX
	MOVQ BX, CPU_CRASHSTACK(AX)
	// The stubs' IRETQ frames into istEntry and IST1's address (as
	// rt.InitCPU for the other CPUs; KStack comes with the first thread).
	LEAQ ·istEntry(SB), BX
	MOVQ BX, CPU_ENTRYRIP(AX)
	MOVQ BX, CPU_CRASHRIP(AX)
	MOVQ $SEL_UCODE, CPU_ENTRYCS(AX)
	MOVQ $SEL_UCODE, CPU_CRASHCS(AX)
	MOVQ $2, CPU_ENTRYRFLAGS(AX)
	MOVQ $2, CPU_CRASHRFLAGS(AX)
	MOVQ $SEL_UDATA, CPU_ENTRYSS(AX)
	MOVQ $SEL_UDATA, CPU_CRASHSS(AX)
	LEAQ CPU_ENTRYRIP(AX), BX
	MOVQ BX, CPU_ENTRYFRAME(AX)
	LEAQ CPU_CRASHRIP(AX), BX
	MOVQ BX, CPU_CRASHFRAME(AX)
	LEAQ ·tss0+36(SB), BX
	MOVQ BX, CPU_IST1P(AX)
	MOVQ AX, DX
	SHRQ $32, DX
	MOVL $0xc0000101, CX
	WRMSR

	// Boot CPU's TSS (RSP0 and IST1 = top of istStack0) and the IDT: every
	// vector on IST1 through the stubs in vectors_amd64.s, DPL 0 except
	// INT3/INTO. They must exist before the first ring-3 instruction: on
	// CPL-3 SYSCALL hosts (shim_amd64.s) even the first service traps.
	LEAQ ·tss0(SB), DI
	LEAQ ·istStack0+IST_SIZE(SB), AX
	ANDQ $~15, AX
	MOVQ AX, 4(DI)
	MOVQ AX, 36(DI)
	MOVW $104, 102(DI)
	// I/O permission bitmap: ring 3 (where the kernel's Go code runs) may
	// use COM1 and the exit/crash ports directly; every other port faults.
	// (One REP STOSB: under PVM each instruction here is emulated, and a
	// loop would cost 4 per byte.)
	MOVQ DI, DX
	LEAQ 104(DI), DI
	MOVL $129, CX
	MOVL $0xff, AX
	REP; STOSB
	MOVQ DX, DI
	MOVB $0x00, (104+0x3f8/8)(DI)      // ports 0x3f8-0x3ff
	MOVW $0x0000, (104+0xf0/8)(DI)     // ports 0xf0-0xff (exit 0xf4, crash 0xf6)
	LEAQ ·boot32+(B32_GDT+0x40)(SB), SI
	MOVQ DI, AX
	ANDQ $0xffffff, AX
	SHLQ $16, AX
	ORQ $TSS_LIMIT, AX
	MOVQ $0x89, BX
	SHLQ $40, BX
	ORQ BX, AX
	MOVQ DI, BX
	SHRQ $24, BX
	ANDQ $0xff, BX
	SHLQ $56, BX
	ORQ BX, AX
	MOVQ AX, 0(SI)
	MOVQ DI, AX
	SHRQ $32, AX
	MOVQ AX, 8(SI)
	MOVL $SEL_TSS, AX
	LTR AX
	// The IDT's gates are all written at CPL 3 (bootMain, then the
	// kernel), where stores run natively rather than emulated (PVM): no
	// exception may happen between here and bootMain's fillExceptionGates.
	LEAQ ·idt0(SB), DI
	LEAQ ·idtr0(SB), SI
	MOVW $4095, 0(SI)
	MOVQ DI, 2(SI)
	LIDT (SI)

	// Fake g for the boot stack; FS.base = &bootTLS + 8 so FS:-8 = &bootG.
	LEAQ ·bootG(SB), DI
	LEAQ ·bootStack(SB), AX
	MOVQ AX, 0(DI)             // g.stack.lo
	LEAQ ·bootStack+BOOT_STACK_SIZE(SB), BX
	MOVQ BX, 8(DI)             // g.stack.hi
	ADDQ $STACK_GUARD, AX
	MOVQ AX, 16(DI)            // g.stackguard0
	MOVQ AX, 24(DI)            // g.stackguard1
	LEAQ ·bootTLS(SB), AX
	MOVQ DI, 0(AX)
	ADDQ $8, AX
	MOVQ AX, ·cpu0+CPU_KTLS(SB)
	MOVQ AX, DX
	SHRQ $32, DX
	MOVL $0xc0000100, CX
	WRMSR

	// Drop to ring 3: bootMain(startInfo) as if called (return address 0).
	LEAQ ·bootStack+(BOOT_STACK_SIZE-64)(SB), BX
	MOVQ $0, 0(BX)
	MOVL ·boot32+B32_INFO(SB), AX
	MOVQ AX, 8(BX)
	PUSHQ $SEL_UDATA
	PUSHQ BX
	PUSHQ $2                   // RFLAGS: IF=0
	PUSHQ $SEL_UCODE
	LEAQ ·bootMain(SB), AX
	PUSHQ AX
	IRETQ

// func pvhEntryAddr() uintptr
// Returns the address of pvhEntry. Calling it from Go keeps pvhEntry (which
// nothing else references) in the linked image. Clobbers AX.
TEXT ·pvhEntryAddr(SB),NOSPLIT|NOFRAME,$0-8
	LEAQ ·pvhEntry(SB), AX
	MOVQ AX, ret+0(FP)
	RET

// func gdtAddr() uintptr
// Returns the address of the boot GDT (the kernel adds the TSS to it).
TEXT ·gdtAddr(SB),NOSPLIT|NOFRAME,$0-8
	LEAQ ·boot32+B32_GDT(SB), AX
	MOVQ AX, ret+0(FP)
	RET

// cpuSetup puts a CPU that just reached 64-bit mode into the state the
// kernel expects: SSE, FSGSBASE/OSXSAVE and XCR0 where supported, EFER.NXE,
// and the SYSCALL MSRs. Shared by the boot CPU (entry64) and the others
// (apEntry64).
// In: CPL 0, a stack. Clobbers AX, BX, CX, DX, R8.
TEXT ·cpuSetup(SB),NOSPLIT|NOFRAME,$0
	// CR0: FPU/SSE on (EM=0, MP=1, NE=1), no task-switch traps.
	MOVQ CR0, AX
	ANDQ $~0xc, AX
	ORQ $0x22, AX
	MOVQ AX, CR0
	// CR4: OSFXSR | OSXMMEXCPT, plus FSGSBASE and OSXSAVE when present.
	MOVQ CR4, R8
	ORQ $0x600, R8
	MOVL $7, AX
	XORL CX, CX
	CPUID
	TESTL $1, BX               // CPUID.7.0:EBX.FSGSBASE
	JZ nofsgs
	ORQ $0x10000, R8
nofsgs:
	MOVL $1, AX
	XORL CX, CX
	CPUID
	TESTL $(1<<26), CX         // CPUID.1:ECX.XSAVE
	JZ noxsave
	ORQ $0x40000, R8
	MOVQ R8, CR4
	// XCR0 = x87 | SSE | AVX | AVX-512 state, as far as supported.
	MOVL $0xd, AX
	XORL CX, CX
	CPUID
	ANDL $0xe7, AX
	ORL $3, AX
	XORL DX, DX
	XORL CX, CX
	XSETBV
	JMP cr4done
noxsave:
	MOVQ R8, CR4
cr4done:
	// EFER.NXE when supported (SCE and LME were set in 32-bit mode).
	MOVL $0x80000001, AX
	CPUID
	TESTL $(1<<20), DX
	JZ nonx
	MOVL $0xc0000080, CX
	RDMSR
	ORL $0x800, AX
	WRMSR
nonx:
	// SYSCALL: STAR selectors, LSTAR entry, SFMASK clears TF|IF|DF|IOPL|AC|NT.
	MOVL $0xc0000081, CX
	XORL AX, AX
	MOVL $((SEL_UCODE32<<16)|SEL_KCODE), DX
	WRMSR
	MOVL $0xc0000082, CX
	LEAQ ·syscallEntry(SB), AX
	MOVQ AX, DX
	SHRQ $32, DX
	WRMSR
	MOVL $0xc0000084, CX
	MOVQ ·sfmask(SB), AX
	XORL DX, DX
	WRMSR
	RET

// sfmask is the SFMASK value cpuSetup loads: TF|IF|DF|IOPL|AC|NT, or the
// same without IF in CPL-3 SYSCALL mode (see shim_amd64.s).
DATA ·sfmask+0(SB)/8, $0x47700
GLOBL ·sfmask(SB), NOPTR, $8

// func idtrAddr() uintptr: the IDT pseudo-descriptor (for LIDT on other CPUs).
TEXT ·idtrAddr(SB),NOSPLIT|NOFRAME,$0-8
	LEAQ ·idtr0(SB), AX
	MOVQ AX, ret+0(FP)
	RET

// func bootTSS() uintptr
TEXT ·bootTSS(SB),NOSPLIT|NOFRAME,$0-8
	LEAQ ·tss0(SB), AX
	MOVQ AX, ret+0(FP)
	RET

// func textStart() uintptr
// Returns the start of the image's text (the linker's runtime.text), just
// above the ELF header the first PT_LOAD maps. Clobbers AX.
TEXT ·textStart(SB),NOSPLIT|NOFRAME,$0-8
	LEAQ runtime·text(SB), AX
	MOVQ AX, ret+0(FP)
	RET
