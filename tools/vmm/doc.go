// Package vmm is the unigo KVM launcher: it assembles a VM from the pieces
// in its subpackages (kvm: ioctls; arch: memory layout, PVH entry state and
// CPUID; devices: UART, exit and crash ports, buses; virtio: virtio-mmio
// devices; netback: the network backends behind virtio-net; hostfs: the
// host directories behind virtio-9p volumes) and runs it,
// one locked OS thread per vCPU, until the guest writes the exit port,
// crashes, or is stopped. Dump prints a running guest's state (every
// vCPU's registers, code and backtrace, the kernel's trace ring).
//
// The boot protocol is PVH, exactly as QEMU's microvm does it, so the same
// image boots under both. tools/unigo's `run` command is a thin CLI around
// New and Run.
package vmm
