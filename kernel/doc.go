// Package kernel is the package a program imports (or that `unigo build`
// imports for it) to become a unikernel. When the image boots through PVH
// it owns the machine: memory, threads, traps, time and files, served to the
// unmodified Go runtime through the Linux system call ABI. When the same
// binary runs as a Linux process it does nothing.
package kernel
