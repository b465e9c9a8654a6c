// Package rt is the freestanding layer that lets the unmodified Go runtime
// run without Linux underneath: the PVH boot entry (32-bit protected mode
// to long mode), early CPU state, the small ring-0 shim, the entry and exit
// stubs through which the runtime's Linux system calls, exceptions and
// interrupts reach the kernel, and the CPU primitives (port I/O, MSRs,
// control registers) the kernel is built from. The kernel's Go code runs at
// CPL 3 like the program's; only the shim runs in ring 0, and the
// privileged primitives are its services (SYSCALL with RAX = SVC_BASE+op,
// cpu_amd64.s).
//
// # Execution contexts
//
// Code in this package and in kernel/ runs in one of two contexts:
//
//   - Go context: an ordinary goroutine, after the runtime has initialised.
//     Everything is allowed.
//   - Kernel context: boot code before the runtime exists, system call
//     handlers, exception and interrupt handlers. It runs on a kernel stack
//     with a fake g (laid out by boot_amd64.s for the boot stack and by
//     kernel/task/sched.go for each thread's kernel stack) whose only valid
//     fields are the stack bounds, so stack-growth checks pass, but nothing that needs the runtime
//     works: no heap allocation, no write barriers (so no Go pointers stored
//     in kernel memory: kernel objects link with uintptr), no panics, no
//     blocking on Go primitives. Kernel code is written to those rules; a
//     violation faults and ends in a kernel crash report.
//
// The g used in kernel context is found the way Go's ABI0 wrappers find g:
// through the TLS slot at FS:-8. Every kernel entry therefore points the FS
// base at the TLS word of the stack it runs on, and every exit restores the
// thread's own FS base.
package rt
