// Package devices holds the launcher's emulated platform devices and the
// buses that route guest port I/O and MMIO exits to them: the COM1 8250
// UART subset, the console ring's consumer (abi.PortConsoleRing), the
// isa-debug-exit style exit port, and the MMIO bus the virtio-mmio
// transports hang off.
//
// Devices are called from vCPU threads (several at once with -smp), so each
// device serialises itself; none blocks on the guest. The UART is the one
// that may block on the host: a guest that writes to its full transmit
// FIFO (ignoring THRE) waits for the host's stdout, until UART.Release;
// a guest waiting for room in its console ring waits at most a couple of
// milliseconds per write to the port.
package devices
