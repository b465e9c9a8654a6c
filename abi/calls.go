package abi

// Version is the version of this host/guest ABI: the ports, the boot
// marks, the crash record, the trace ring, the private system calls and
// the netstack channel. It changes whenever one of them changes incompatibly.
const Version = 1

// Private system calls. Linux never uses numbers this high, so a unigo
// image run as a Linux process gets ENOSYS from each and knows it is not
// booted. Each user owns one range:
//
//	0x1000-0x10ff  drivers (package drivers/hw): devices.go
//	0x1100-0x11ff  the netstack channel (package netstack): netchan.go
//	0x1200-0x12ff  the runtime glue (package rt) and the program's own
//	               calls (package notify): below
const (
	// SysExitFlush is the private system call rt's exit trampoline waits
	// in after exit_group: the kernel lets the netstack deliver what it
	// holds, then powers off with the exit_group code. It never returns.
	SysExitFlush = 0x1200

	// SysReady(mode) tells the kernel about the program's readiness:
	// ReadyNow reports it to the launcher (HostReady, once), ReadyDefer
	// says the program will report it itself, so its first listening
	// socket no longer counts. Returns 0, or EINVAL for another mode.
	SysReady = 0x1201
)

// SysReady modes.
const (
	ReadyDefer = 0
	ReadyNow   = 1
)
