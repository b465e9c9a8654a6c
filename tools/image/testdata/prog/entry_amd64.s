#include "textflag.h"

// pvhEntry is entered by a PVH monitor in 32-bit protected mode. Every
// instruction below encodes identically in 32- and 64-bit mode, so the Go
// (64-bit) assembler produces valid 32-bit code: write 42 to the
// isa-debug-exit port 0xf4 and halt forever.
TEXT ·pvhEntry(SB), NOSPLIT|NOFRAME, $0
	MOVL $42, AX
	MOVL $0xf4, DX
	OUTL            // out %eax, %dx
halt:
	HLT
	JMP halt
