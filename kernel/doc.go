// Package kernel is the package a program imports (or that `unigo build`
// imports for it) to become a unikernel. When the image boots through PVH
// it owns the machine: memory, threads, traps, time and files, served to the
// unmodified Go runtime through the Linux system call ABI. When the same
// binary runs as a Linux process it does nothing.
//
// Inside, the kernel is a stack of packages (docs/ARCHITECTURE.md, "Kernel
// layout"): kernel/kctx (the kernel-context base), kernel/platform (clocks,
// vDSO, ACPI, UART), kernel/mm (address space), kernel/kmem,
// kernel/memfs, kernel/task (threads, scheduling, signals), kernel/vfs
// (descriptors and the kinds of file) and kernel/socket; this package
// holds boot, traps, devices and the system-call table,
// kernel/systable.go, whose row for each Linux number names the function
// that serves it.
package kernel
