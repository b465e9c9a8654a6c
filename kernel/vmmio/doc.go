// Package vmmio is the virtio-mmio transport (version 2, virtio 1.x) of
// the kernel's own drivers, the ones that run in kernel context
// (kernel/vcon, kernel/balloon): register access in the transport's
// identity-mapped window, the reset and feature handshake, queue set-up,
// notifications and interrupt acknowledgement. The drivers in drivers/
// run as goroutines and have their own transport (drivers/virtio).
//
// Everything here is safe in kernel context: no heap, no locks, and the
// reasons it gives for a device it will not drive are constant strings.
// A zero Regs is no transport (host tests of a driver): every access
// reads zero and writes nothing.
package vmmio
