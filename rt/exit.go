package rt

import _ "unsafe" // go:linkname

// The exit trampoline. runtime.exit enters exit_group on a goroutine that
// keeps its P (it never calls entersyscall: exit is not meant to return),
// so while the kernel holds the exit to let the netstack deliver what the
// program wrote, nothing else could run on that P, and any stop-the-world
// (a GC cycle the netstack's allocations start) would wait for it
// forever. So the kernel does not wait there: it returns from exit_group
// into exitFlush, on the same goroutine stack (exactly as if the caller
// of runtime.exit had called exitFlush), which tells the scheduler the
// goroutine is in a system call and then waits in abi.SysExitFlush, which
// never returns. The P is then the scheduler's to hand over (sysmon
// retakes it), and GC stops the world around the waiting goroutine as
// around any goroutine in a system call.
//
// The kernel only does this for an exit_group made on a goroutine stack;
// one made on a system stack (g0, gsignal: fatal panics, throw) exits at
// once (see the kernel's exit.go).

//go:linkname entersyscall runtime.entersyscall
func entersyscall()

// exitFlushCall makes abi.SysExitFlush; it does not return.
func exitFlushCall()

// exitFlush runs where runtime.exit's exit_group returned (see above).
// It is nosplit because after entersyscall the goroutine must not grow
// its stack.
//
//go:nosplit
func exitFlush() {
	entersyscall()
	exitFlushCall()
}

// exitFlushPC is the address the kernel resumes an exit_group caller at:
// exitFlush's ABI0 entry, which sets up the ABIInternal registers (g in
// R14, X15 zero) itself.
func exitFlushPC() uintptr

// ExitFlushPC returns exitFlushPC().
//
//go:nosplit
func ExitFlushPC() uintptr { return exitFlushPC() }
