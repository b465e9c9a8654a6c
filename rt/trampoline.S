/*
 * AP start-up trampoline: real mode -> protected mode -> long mode.
 *
 * The boot CPU copies these bytes to TRAMP (physical 0x8000, SIPI vector
 * 0x08), fills in the words at the end (GDTR of the boot GDT, CR3, EFER
 * bits, far pointer to rt.apEntry64) and sends INIT-SIPI-SIPI. The AP starts in
 * real mode at CS=0x0800, IP=0, switches to 32-bit protected mode with the
 * boot GDT's 32-bit code segment (0x08), enables PAE, long mode (and NX,
 * as the page table uses it) and
 * paging with the kernel's page table, and far-jumps to apEntry64 through
 * the 64-bit code segment (0x10).
 *
 * This is the one piece of 16-bit code in unigo; the Go assembler cannot
 * emit it. gen_trampoline.sh assembles it into trampoline_bytes.go.
 */
	.set TRAMP, 0x8000
	.code16
	.globl start
start:
	cli
	cld
	movw %cs, %ax
	movw %ax, %ds
	lgdtl gdtr - start
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $0x08, $(TRAMP + pm32 - start)

	.code32
pm32:
	movw $0x18, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl %cr4, %eax
	orl $0x20, %eax
	movl %eax, %cr4
	movl (TRAMP + cr3 - start), %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx
	rdmsr
	orl (TRAMP + efer - start), %eax	/* LME | SCE, and NXE if the kernel uses NX */
	wrmsr
	movl %cr0, %eax
	orl $0x80010001, %eax
	movl %eax, %cr0
	ljmpl *(TRAMP + entry - start)

	.balign 8
gdtr:	.word 0		/* TrampGDTR: limit, base */
	.long 0
	.balign 4
cr3:	.long 0		/* TrampCR3 */
efer:	.long 0x101	/* TrampEFER: bits to set in EFER */
entry:	.long 0		/* TrampEntry: offset, selector */
	.word 0x10
end:
