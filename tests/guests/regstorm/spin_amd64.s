#include "textflag.h"

// LOADALL puts pattern values in every general register but SP.
#define LOADALL \
	MOVQ $0x1111111111111101, AX; \
	MOVQ $0x2222222222222202, BX; \
	MOVQ $0x3333333333333303, CX; \
	MOVQ $0x4444444444444404, DX; \
	MOVQ $0x5555555555555505, SI; \
	MOVQ $0x6666666666666606, DI; \
	MOVQ $0x7777777777777707, BP; \
	MOVQ $0x8888888888888808, R8; \
	MOVQ $0x9999999999999909, R9; \
	MOVQ $0xaaaaaaaaaaaaaa0a, R10; \
	MOVQ $0xbbbbbbbbbbbbbb0b, R11; \
	MOVQ $0xcccccccccccccc0c, R12; \
	MOVQ $0xdddddddddddddd0d, R13; \
	MOVQ $0xeeeeeeeeeeeeee0e, R14; \
	MOVQ $0xffffffffffffff0f, R15

// CHECK(reg, value, n): on a mismatch return n+1.
#define CHECK(reg, value, n) \
	MOVQ $n, 40(SP); \
	MOVQ $value, R14; \
	CMPQ reg, R14; \
	JNE bad

// func spin(rounds int, pages *byte, npages int) int
// Frame: 0(SP) saved BP, 8 index, 16 the page to touch, 24 (unused), 32 (unused),
// 40 the number of the register being checked. Args at 56+.
TEXT ·spin(SB),NOSPLIT,$48-32
	MOVQ BP, 0(SP)
	MOVQ $0, 8(SP)
loop:
	// Touch page index%npages (a fault the first time round).
	MOVQ 8(SP), AX
	XORQ DX, DX
	DIVQ npages+16(FP)
	SHLQ $12, DX
	ADDQ pages+8(FP), DX
	MOVQ DX, 16(SP)
	LOADALL
	MOVQ 16(SP), DX
	MOVB $1, (DX)
	MOVQ $0x4444444444444404, DX
	// Give kernel entries a window: a short spin with everything live.
	MOVQ $64, R14
wait:
	PAUSE
	DECQ R14
	JNZ wait
	CHECK(AX, 0x1111111111111101, 0)
	CHECK(BX, 0x2222222222222202, 1)
	CHECK(CX, 0x3333333333333303, 2)
	CHECK(DX, 0x4444444444444404, 3)
	CHECK(SI, 0x5555555555555505, 4)
	CHECK(DI, 0x6666666666666606, 5)
	CHECK(BP, 0x7777777777777707, 6)
	CHECK(R8, 0x8888888888888808, 7)
	CHECK(R9, 0x9999999999999909, 8)
	CHECK(R10, 0xaaaaaaaaaaaaaa0a, 9)
	CHECK(R11, 0xbbbbbbbbbbbbbb0b, 10)
	CHECK(R12, 0xcccccccccccccc0c, 11)
	CHECK(R13, 0xdddddddddddddd0d, 12)
	CHECK(R15, 0xffffffffffffff0f, 14)
	MOVQ 0(SP), BP
	INCQ 8(SP)
	MOVQ 8(SP), AX
	CMPQ AX, rounds+0(FP)
	JB loop
	MOVQ $0, ret+24(FP)
	RET
bad:
	MOVQ 0(SP), BP
	MOVQ 40(SP), AX
	INCQ AX
	MOVQ AX, ret+24(FP)
	RET
