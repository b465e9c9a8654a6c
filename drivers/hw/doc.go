// Package hw gives drivers access to devices through the unigo kernel's
// private system calls (numbers and layouts in abi/devices.go):
//
//   - VirtioMMIODevices lists the virtio-mmio devices announced on the
//     command line (virtio_mmio.device=SIZE@ADDR:IRQ);
//   - MapMMIO maps a register window uncached; MMIO's accessors do one
//     load or store of exactly the named width each, never merged or
//     elided by the compiler;
//   - AllocDMA returns physically contiguous, zeroed memory that never
//     moves, with its physical address for the device (the kernel
//     identity-maps RAM, so virtual = physical);
//   - AttachIRQ routes an interrupt line and returns an IRQ whose Wait
//     parks the calling goroutine in Go's netpoller until the line fires.
//
// Run as a Linux process (no unigo kernel), every call fails with
// ErrNotUnigo.
package hw
