package vfs

import (
	"unsafe"

	"github.com/unigo-os/unigo/abi"
)

// Hooks the kernel above installs at boot (SetHooks), held as the
// address of a static function value so that installing and calling it
// stores no pointer (kernel context has no write barriers).
var (
	routeIRQFn uintptr // func(pin uint32): route an IOAPIC pin to this kernel
	mapAnonFn  uintptr // func(size uintptr) int64: mmap private anonymous read-write memory
	unmapFn    uintptr // func(addr, size uintptr) int64: munmap
	exeFileFn  uintptr // func(now int64): add /init, the image file
)

// SetHooks installs what files need from the layers above: routing
// the console's interrupt through the IOAPIC (the device layer's),
// mapping and unmapping memory in the program's address space (kernel/vm:
// sendfile's bounce buffers), and adding the image file as /init while
// the file system is set up (the boot layer, which owns the module the
// monitor passed). Call it once at boot, before fsSetup.
func SetHooks(routeIRQ func(pin uint32), mapAnon func(size uintptr) int64, unmap func(addr, size uintptr) int64, exeFile func(now int64)) {
	routeIRQFn = *(*uintptr)(unsafe.Pointer(&routeIRQ))
	mapAnonFn = *(*uintptr)(unsafe.Pointer(&mapAnon))
	unmapFn = *(*uintptr)(unsafe.Pointer(&unmap))
	exeFileFn = *(*uintptr)(unsafe.Pointer(&exeFile))
}

func routeIRQHook(pin uint32) {
	if h := routeIRQFn; h != 0 {
		(*(*func(uint32))(unsafe.Pointer(&h)))(pin)
	}
}

func mapAnonHook(size uintptr) int64 {
	if h := mapAnonFn; h != 0 {
		return (*(*func(uintptr) int64)(unsafe.Pointer(&h)))(size)
	}
	return -abi.ENOMEM
}

func unmapHook(addr, size uintptr) {
	if h := unmapFn; h != 0 {
		(*(*func(uintptr, uintptr) int64)(unsafe.Pointer(&h)))(addr, size)
	}
}

func exeFileHook(now int64) {
	if h := exeFileFn; h != 0 {
		(*(*func(int64))(unsafe.Pointer(&h)))(now)
	}
}
