// Package syscalls is the Linux system-call interface of the kernel: the
// one table of every system call and the dispatcher that serves a call
// with one indexed lookup in it.
//
//   - systable.go: a row per Linux amd64 number — name, handler, support
//     status, strace argument kinds — and a small second table for unigo's
//     private calls; static data, in place before the first call;
//     docs/SYSCALLS.md is generated from it;
//   - syscall.go: Dispatch, called by the trap handler for every SYSCALL;
//   - strace.go, stats.go: unigo.strace and unigo.stats, which take names
//     from the table; ExitVM prints the statistics and powers off;
//   - syscallpatch.go: at boot, the image's system-call sites become calls
//     (CPL-3 SYSCALL mode);
//   - hooks.go: the private calls served by the top kernel package (device
//     services, readiness), installed at boot by SetHooks.
//
// Handlers stay with what they serve, one naming rule for all: the row of
// system call X names SysX in the package that owns it — kernel/task
// (threads, time, signals, identity), kernel/vm (memory), kernel/vfs
// (files) or kernel/socket — which takes the trap frame, decodes the
// registers with Linux's C widths and returns the result or a negated
// errno. So openat is abi.NROpenat's row → vfs.SysOpenat
// (kernel/vfs/fs_syscall.go). TestHandlerNaming checks the rule.
//
// Everything here runs in kernel context (see package kctx).
package syscalls
