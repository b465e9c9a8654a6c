// Package task is the kernel's threads and CPUs: what runs where and when.
//
//   - threads: the thread block and its kernel stack, creation (SysClone),
//     exit, zombies (sched.go); the process-wide system calls that are
//     about threads, time and identity: clocks, nanosleep, rlimits, uname,
//     sysinfo, getrusage, times, getrandom (proc.go, hostname.go);
//   - scheduling: per-CPU run queues, stealing, idle, preemption, context
//     switch (runq.go, with the locking invariants), timers and wait
//     queues (Waitq, Wait, WakeAll in sched.go) that every blocking object
//     above is built on;
//   - the per-CPU table (cpu.go): run queue, counters (cpustats.go), LAPIC
//     timer state, TLB-shootdown requests and IPIs; the LAPIC registers and
//     timer (lapic.go). Starting the other CPUs, interrupt dispatch and
//     end-of-interrupt (which depends on host quirks) stay in the top
//     kernel package;
//   - futexes (futex.go), signals (signal.go, signal_unsupported.go),
//     CPU-time timers (cputimer.go), exit_group (exit.go).
//
// Naming: a system call's handler is SysX, taking the trap frame (the
// table in kernel/syscalls names it); the work is in SysX itself or in an
// unexported doX taking decoded arguments (syscall.go holds the handlers
// of the smaller calls).
//
// What the layers above provide (ending the machine with statistics,
// dispatching the interrupts an idle CPU took, the netstack's flush at
// exit) comes through SetHooks, installed once at boot before the other
// CPUs start, held as function addresses so that no pointer is stored in
// kernel context.
//
// Everything here runs in kernel context (see package kctx); SchedLock
// (kctx) guards threads, wait queues and timers.
package task
