// Package kernel is the package a program imports (or that `unigo build`
// imports for it) to become a unikernel. When the image boots through PVH
// it owns the machine: memory, threads, traps, time and files, served to the
// unmodified Go runtime through the Linux system call ABI. When the same
// binary runs as a Linux process it does nothing.
//
// Inside, the kernel is a stack of packages (docs/ARCHITECTURE.md, "Kernel
// layout"), each using only those below it: kernel/syscalls (the
// system-call table, kernel/syscalls/systable.go, whose row for each
// Linux number names the handler: SysX in the package that owns the
// call), kernel/vm (memory system calls, page faults), kernel/socket,
// kernel/vfs (descriptors and the kinds of file), kernel/task (threads,
// scheduling, signals), kernel/mm (address space), kernel/memfs,
// kernel/platform (clocks, vDSO, ACPI, UART), kernel/vcon (QEMU's
// virtio console, console input), kernel/kmem and kernel/kctx
// (the kernel-context base). This package holds boot, traps, devices and
// host quirks, and connects the layers at boot.
package kernel
