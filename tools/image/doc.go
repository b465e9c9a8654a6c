// Package image turns a static Go executable into a unigo boot image.
//
// The stock Go linker already produces almost everything a PVH monitor
// needs: a static ELF64 whose PT_LOAD segments carry physical addresses
// equal to their virtual ones, all below 4 GiB. What it lacks is the Xen
// ELF note (type XEN_ELFNOTE_PHYS32_ENTRY) that tells QEMU, Firecracker and
// the unigo launcher where the 32-bit PVH entry point is. Write adds that
// note, in place, inside the 4 KiB of header padding Go leaves before .text,
// so the executable keeps running unchanged as a Linux process (its ELF
// entry point is untouched) and boots as a unikernel under a PVH monitor.
//
// Beside it Write records the program's system-call sites (SyscallSites:
// the runtime's and syscall packages' SYSCALL instructions with the
// instruction before them) in a note of type abi.NoteSyscallSites, which
// the kernel uses on PVM hosts to rewrite them into calls at boot; the
// file's loaded bytes stay unchanged.
//
// PVHEntry reads the note back; tests and diagnostics use it. The launcher
// has its own loader and does not depend on this package.
package image
