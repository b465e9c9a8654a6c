package syscalls

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/rt"
)

// Dispatch serves the system call in f (number in RAX, arguments
// in RDI, RSI, RDX, R10, R8, R9) and leaves its result in f.RAX (a
// negated errno on failure). The handlers are in the table (systable.go).
func Dispatch(f *rt.Frame) {
	if StraceOn {
		straceSyscall(f)
		return
	}
	f.RAX = uint64(callSyscall(f))
}

// callSyscall runs the table's handler for f's system call.
func callSyscall(f *rt.Frame) int64 {
	nr := f.RAX
	e := sysLookup(nr)
	if e != nil && e.fn != nil {
		return e.fn(f)
	}
	if e != nil && e.status == sysUnsupported {
		return -int64(e.errno)
	}
	reportUnknown(nr)
	return -abi.ENOSYS
}

// sysName returns the name of system call nr.
func sysName(nr uint64) string {
	if e := sysLookup(nr); e != nil && e.name != "" {
		return e.name
	}
	return "unknown"
}

var unknownSeen [abi.NSyscalls]bool

// reportUnknown reports a system call the kernel does not implement, the
// first time each number is seen.
func reportUnknown(nr uint64) {
	if nr < uint64(len(unknownSeen)) {
		if unknownSeen[nr] {
			return
		}
		unknownSeen[nr] = true
	}
	kctx.Print("unigo: unsupported system call ")
	kctx.Print(sysName(nr))
	kctx.Print(" (")
	kctx.PrintDec(nr)
	kctx.Print("): ENOSYS\n")
}
