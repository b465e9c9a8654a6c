package task

import (
	"unsafe"

	"github.com/unigo-os/unigo/kernel/kctx"
)

// Hooks the kernel above installs at boot (SetHooks), before any other
// CPU starts, held as the addresses of static function values so that
// installing and calling them stores no pointer (kernel context has no
// write barriers).
var (
	exitVMFn        uintptr // func(code int): print statistics, power off
	handlePendingFn uintptr // func(mask uint64): interrupts taken while idle
	netAttachedFn   uintptr // func() bool: a netstack serves sockets
	flushAtExitFn   uintptr // func(): let the netstack send what sockets hold
	idleFn          uintptr // func(): housekeeping of a CPU about to halt
)

// SetIdleHook installs f, which a CPU about to halt with nothing to run
// calls first (with no lock held): housekeeping that may take a while and
// should not delay work (free page reporting). Call it once at boot,
// before any other CPU starts.
func SetIdleHook(f func()) { idleFn = *(*uintptr)(unsafe.Pointer(&f)) }

func idleHook() {
	if h := idleFn; h != 0 {
		(*(*func())(unsafe.Pointer(&h)))()
	}
}

// SetHooks installs what threads need from the layers above: ending the
// machine, dispatching the interrupts an idle CPU took (device handlers),
// and the netstack's part of exit_group. Call it once at boot.
func SetHooks(exitVM func(int), handlePending func(uint64), netAttached func() bool, flushAtExit func()) {
	exitVMFn = *(*uintptr)(unsafe.Pointer(&exitVM))
	handlePendingFn = *(*uintptr)(unsafe.Pointer(&handlePending))
	netAttachedFn = *(*uintptr)(unsafe.Pointer(&netAttached))
	flushAtExitFn = *(*uintptr)(unsafe.Pointer(&flushAtExit))
}

// exitVMHook ends the machine with code, through the kernel's hook when
// installed.
func exitVMHook(code int) {
	if h := exitVMFn; h != 0 {
		(*(*func(int))(unsafe.Pointer(&h)))(code)
	}
	kctx.ExitVM(code)
}

func handlePendingHook(mask uint64) {
	if h := handlePendingFn; h != 0 {
		(*(*func(uint64))(unsafe.Pointer(&h)))(mask)
	}
}

func netAttachedHook() bool {
	if h := netAttachedFn; h != 0 {
		return (*(*func() bool)(unsafe.Pointer(&h)))()
	}
	return false
}

func flushAtExitHook() {
	if h := flushAtExitFn; h != 0 {
		(*(*func())(unsafe.Pointer(&h)))()
	}
}
