// Package kctx is the bottom layer of the kernel: what every kernel
// subsystem needs to run in kernel context and nothing else.
//
//   - addresses: At, BytesAt, CString, PtrOf, StringBytes — kernel objects
//     live outside the Go heap (kernel/kmem) and are linked by uintptr;
//   - output and death: Print*, ConsoleWrite (COM1, or the launcher's
//     console ring), Panic, ExitVM;
//   - the boot command line: Cmdline, KernelParam, FlagParam (a boolean
//     parameter: NAME=1 or NAME), ParamIs, NextToken, ParseUint;
//   - SchedLock, the lock that guards threads, wait queues, timers and the
//     state of blocking objects (pipes, sockets, epoll).
//
// Kernel context (docs/ARCHITECTURE.md) runs on a fake g before and beside
// the Go runtime: no heap allocation, no write barriers, no panics, no Go
// blocking, no package state computed by init (kernelMain runs before any
// init function). Everything here is plain functions and statically
// initialised data; kernel/restricted_test.go checks the whole kernel tree.
package kctx
