package rt

// The vDSO's code. Linux maps a small shared object (the vDSO) into every
// process and names it in the auxiliary vector (AT_SYSINFO_EHDR); Go's
// runtime looks up __vdso_clock_gettime in it and then reads the clocks
// without a system call — nanotime and walltime, dozens of times per
// request in a network server. Without one, every time.Now is a system
// call, which a paravirtualised host (PVM) makes cost microseconds.
//
// The kernel builds the vDSO's ELF metadata (kernel/platform/vdso.go); its one
// function is vdsoClockGettime below, in this image's text, reading the
// time base in Clock. Everything runs at CPL 3, where RDTSC is allowed.

// ClockParams is the time base: the kernel's Nanotime (kernel/platform)
// and the vDSO's clock_gettime both compute
//
//	CLOCK_MONOTONIC = Mono0 + ((TSC - TSC0) * Scale) >> 32   (128-bit product)
//	CLOCK_REALTIME  = CLOCK_MONOTONIC + WallOffset
//
// The field offsets are known to vdso_amd64.s.
type ClockParams struct {
	TSC0       uint64
	Scale      uint64
	Mono0      int64
	WallOffset int64
}

// Clock is set once by the kernel at boot, before the first user
// instruction, and only read after.
var Clock ClockParams

// vdsoClockGettime is __vdso_clock_gettime, with the C calling convention
// (see vdso_amd64.s).
func vdsoClockGettime()

func vdsoClockGettimePC() uintptr

// VDSOClockGettimePC returns the address of vdsoClockGettime, which the
// vDSO's symbol table points at.
//
//go:nosplit
func VDSOClockGettimePC() uintptr { return vdsoClockGettimePC() }
