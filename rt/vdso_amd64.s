#include "textflag.h"

// __vdso_clock_gettime: int clock_gettime(clockid_t clk, struct timespec *ts)
// C calling convention (System V), called by the Go runtime's nanotime1 and
// walltime on the g0 stack.
//   In:  DI = clock id, SI = ts (16 bytes: seconds, nanoseconds).
//   Out: AX = 0, or a negative errno from the clock_gettime system call.
//   Clobbers: AX, CX, DX, R8 (and RCX, R11 on the system-call path), all
//   caller-saved in the C convention. Uses no stack.
// CLOCK_REALTIME (0) and its coarse variant (5) and CLOCK_MONOTONIC (1),
// MONOTONIC_RAW (4), MONOTONIC_COARSE (6) and BOOTTIME (7) are computed
// here from the TSC and Clock (see ClockParams); any other clock is left
// to the system call (228).
TEXT ·vdsoClockGettime(SB),NOSPLIT|NOFRAME,$0
	XORL	R8, R8			// R8 = offset to add: 0 for the monotonic clocks
	CMPL	DI, $1
	JEQ	compute
	CMPL	DI, $4
	JEQ	compute
	CMPL	DI, $6
	JEQ	compute
	CMPL	DI, $7
	JEQ	compute
	MOVQ	·Clock+24(SB), R8	// WallOffset
	CMPL	DI, $0
	JEQ	compute
	CMPL	DI, $5
	JEQ	compute
	MOVL	$228, AX		// SYS_clock_gettime
	SYSCALL
	RET
compute:
	RDTSC				// EDX:EAX = TSC
	SHLQ	$32, DX
	ORQ	DX, AX
	SUBQ	·Clock+0(SB), AX	// - TSC0
	MULQ	·Clock+8(SB)		// DX:AX = delta * Scale
	SHRQ	$32, AX
	SHLQ	$32, DX
	ORQ	DX, AX			// >> 32
	ADDQ	·Clock+16(SB), AX	// + Mono0
	ADDQ	R8, AX			// + WallOffset for the realtime clocks
	XORL	DX, DX
	MOVQ	$1000000000, CX
	DIVQ	CX			// AX = seconds, DX = nanoseconds
	MOVQ	AX, 0(SI)
	MOVQ	DX, 8(SI)
	XORL	AX, AX
	RET

// func vdsoClockGettimePC() uintptr
// Returns the address of vdsoClockGettime. Clobbers: AX.
TEXT ·vdsoClockGettimePC(SB),NOSPLIT|NOFRAME,$0-8
	LEAQ	·vdsoClockGettime(SB), AX
	MOVQ	AX, ret+0(FP)
	RET
