// Package vcon is the kernel's virtio-console driver: console input (and
// its end) from a QEMU virtio-serial port, for guests booted on QEMU
// microvm, whose 16550 never reports the end of the host's stdin.
//
// QEMU's virtio-serial device with VIRTIO_CONSOLE_F_MULTIPORT announces
// its ports on the control receive queue (PORT_ADD); the driver adopts
// the first port numbered 0 or 1, answers PORT_READY and PORT_OPEN (so
// QEMU starts reading the port's chardev), and copies what arrives on the
// port's receive queue into the console's input ring (kernel/vfs). When
// the chardev reads end of file QEMU closes the port (PORT_OPEN, value
// 0) after queueing everything read before it, and the driver reports
// end of input once that is consumed. Only a `virtserialport` is closed
// that way; a `virtconsole` port stays open for ever (QEMU installs no
// chardev event handler for consoles), so the runners attach stdin as a
// virtserialport (nr=1). Output stays on COM1: QEMU discards what a guest
// writes to a port the host side has closed, which would lose a filter's
// output written after its input ended.
//
// Memory is static (no heap): the queues and their buffers are arrays in
// Console, each descriptor tied to one buffer for good, and the device
// reads them at their identity-mapped addresses. Everything runs in
// kernel context under kctx.SchedLock (the interrupt handler and the
// console's read path hold it).
//
// The device is not trusted: a used-ring entry naming a descriptor not
// in flight, or a length beyond its buffer, or a used index running
// ahead of the queue, marks the device broken (FaultText says why, reported once);
// input then ends. Malformed control messages are ignored. The queue
// and control logic is independent of the transport (mmio.go), so it is
// tested and fuzzed on the host against a simulated device.
package vcon
