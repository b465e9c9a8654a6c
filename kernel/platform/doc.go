// Package platform is the machine below the kernel: the clocks (TSC
// calibrated against the PIT or read from kvmclock, the RTC for the wall
// clock), the vDSO page the runtime reads them through, the ACPI tables
// and the console's UART.
//
// The LAPIC, the IOAPIC and device interrupt routing, SMP bring-up and the
// host quirks (kernel/host.go) still live in package kernel: they share
// per-CPU state with the run queues and the page tables, and move here
// once those are packages of their own.
//
// All of it runs in kernel context (see package kctx).
package platform
