// Offsets into rt.CPU (cpu.go) and rt.Frame (frame.go) used by assembly.
// rt/layout_test.go checks them against the Go definitions.

#define CPU_SELF        0
#define CPU_KACTIVE     8
#define CPU_PENDING     16
#define CPU_ENTRYRIP    24
#define CPU_ENTRYCS     32
#define CPU_ENTRYRFLAGS 40
#define CPU_KSTACK      48
#define CPU_ENTRYSS     56
#define CPU_CRASHRIP    64
#define CPU_CRASHCS     72
#define CPU_CRASHRFLAGS 80
#define CPU_CRASHSTACK  88
#define CPU_CRASHSS     96
#define CPU_TRAPVEC     104
#define CPU_TRAPERR     112
#define CPU_TRAPCR2     120
#define CPU_CTX_RIP     128
#define CPU_CTX_CS      136
#define CPU_CTX_RFLAGS  144
#define CPU_CTX_RSP     152
#define CPU_CTX_SS      160
#define CPU_CTX_RAX     168
#define CPU_CTX_RCX     176
#define CPU_CTX_R11     184
#define CPU_SCRATCH0    192
#define CPU_SCRATCH1    200
#define CPU_TRAPENTRY   208
#define CPU_KTLS        216
#define CPU_XSAVE       224
#define CPU_TRACE       256
#define CPU_IST1P       264
#define CPU_ENTRYFRAME  272
#define CPU_CRASHFRAME  280

// The entry record a vector stub leaves on IST1 for istEntry, lowest
// address first: its pushes, then the CPU's frame (the error code is the
// CPU's or a pushed 0).
#define R_VEC     0
#define R_CR2     8
#define R_RAX     16
#define R_ERR     24
#define R_RIP     32
#define R_CS      40
#define R_RFLAGS  48
#define R_RSP     56
#define R_SS      64
#define R_SIZE    72

// abi.TraceRing and abi.TraceEvent (the trace ring trapEntry writes).
#define TR_NEXT           0
#define TR_EVENTS         64
#define TRACE_EVENTS      64
#define TRACE_EVENT_SHIFT 5
#define EV_TSC            0
#define EV_RIP            8
#define EV_ARG            16
#define EV_VEC            24
#define EV_ERR            28

// Frame: saved registers, lowest address first.
#define F_R15     0
#define F_R14     8
#define F_R13     16
#define F_R12     24
#define F_R11     32
#define F_R10     40
#define F_R9      48
#define F_R8      56
#define F_RBP     64
#define F_RDI     72
#define F_RSI     80
#define F_RDX     88
#define F_RCX     96
#define F_RBX     104
#define F_RAX     112
#define F_CR2     120
#define F_FSBASE  128
#define F_VEC     136
#define F_ERR     144
#define F_RIP     152
#define F_CS      160
#define F_RFLAGS  168
#define F_RSP     176
#define F_SS      184
#define F_SIZE    192

// Segment selectors (the Linux x86-64 layout, which PVM also expects).
#define SEL_KCODE   0x10
#define SEL_KDATA   0x18
#define SEL_UCODE32 0x23
#define SEL_UDATA   0x2b
#define SEL_UCODE   0x33
#define SEL_TSS     0x40

// Vector recorded for a system call entry.
#define VEC_SYSCALL 0x100
#define VEC_PENDING 0x101

// Ring-0 services: SYSCALL with RAX = SVC_BASE + op (callers in cpu_amd64.s,
// served by serviceEntry in shim_amd64.s).
#define SVC_BASE    0x7fff0000
#define SVC_RETURN  0
#define SVC_OUTB    1
#define SVC_INB     2
#define SVC_OUTL    3
#define SVC_INL     4
#define SVC_WRMSR   5
#define SVC_RDMSR   6
#define SVC_WRCR3   7
#define SVC_INVLPG  8
#define SVC_LIDT    9
#define SVC_LTR     10
#define SVC_CPUID   11
#define SVC_IDLE    12
#define SVC_RDCR    13
#define SVC_LGDT    14
#define SVC_OUTW    15
#define SVC_INW     16
#define SVC_CPUID_PVM 17
#define SVC_COUNT   18 // one past the last op

// Instructions the Go assembler does not know.
#define SYSRETQ     BYTE $0x48; BYTE $0x0f; BYTE $0x07
#define WRFSBASE_AX BYTE $0xf3; BYTE $0x48; BYTE $0x0f; BYTE $0xae; BYTE $0xd0
#define RDFSBASE_AX BYTE $0xf3; BYTE $0x48; BYTE $0x0f; BYTE $0xae; BYTE $0xc0
#define XSAVE64_DI  BYTE $0x48; BYTE $0x0f; BYTE $0xae; BYTE $0x27
#define XRSTOR64_DI BYTE $0x48; BYTE $0x0f; BYTE $0xae; BYTE $0x2f
#define FXSAVE64_DI BYTE $0x48; BYTE $0x0f; BYTE $0xae; BYTE $0x07
#define FXRSTOR64_DI BYTE $0x48; BYTE $0x0f; BYTE $0xae; BYTE $0x0f
#define XSETBV      BYTE $0x0f; BYTE $0x01; BYTE $0xd1
#define CRASH_STACK_SIZE 32768

// SYSCALL_TO_KERNEL records a SYSCALL's caller (RAX = number, RCX = return
// RIP, R11 = RFLAGS, SP = caller's stack) in CPU.ctx*/trap*, marks the CPU
// in-kernel and switches SP to the current thread's kernel stack. Shared
// by syscallEntry (CPL 0) and cpl3Syscall (CPL-3 SYSCALL mode).
#define SYSCALL_TO_KERNEL \
	MOVQ AX, CPU_CTX_RAX(GS); \
	MOVQ CX, CPU_CTX_RIP(GS); \
	MOVQ CX, CPU_CTX_RCX(GS); \
	MOVQ R11, CPU_CTX_RFLAGS(GS); \
	MOVQ R11, CPU_CTX_R11(GS); \
	MOVQ SP, CPU_CTX_RSP(GS); \
	MOVQ $SEL_UCODE, CPU_CTX_CS(GS); \
	MOVQ $SEL_UDATA, CPU_CTX_SS(GS); \
	MOVQ $VEC_SYSCALL, CPU_TRAPVEC(GS); \
	MOVQ $0, CPU_TRAPERR(GS); \
	MOVQ $1, CPU_KACTIVE(GS); \
	MOVQ CPU_KSTACK(GS), SP

// abi.SysExitFlush, the private system call rt.exitFlush waits in.
#define SYS_EXIT_FLUSH 0x1200
