#include "textflag.h"
#include "abi_amd64.h"

// func exitFlushCall()
// Makes the private system call abi.SysExitFlush (SYS_EXIT_FLUSH) with no arguments.
// The kernel never returns from it; INT3 guards the impossible return.
// Clobbers: AX, RCX, R11 (SYSCALL).
TEXT ·exitFlushCall(SB),NOSPLIT|NOFRAME,$0-0
	MOVQ	$SYS_EXIT_FLUSH, AX
	SYSCALL
	INT	$3
	RET

// func exitFlushPC() uintptr
// Returns the address of exitFlush's ABI0 entry (the ABI wrapper that
// loads g into R14 and zeroes X15 before calling the Go function), where
// the kernel resumes a goroutine that called exit_group. Clobbers: AX.
TEXT ·exitFlushPC(SB),NOSPLIT|NOFRAME,$0-8
	LEAQ	·exitFlush(SB), AX
	MOVQ	AX, ret+0(FP)
	RET
