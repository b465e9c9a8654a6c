package vfs

import "unsafe"

// Hooks the kernel above installs at boot (SetHooks), held as the
// address of a static function value so that installing and calling it
// stores no pointer (kernel context has no write barriers).
var routeIRQFn uintptr // func(pin uint32): route an IOAPIC pin to this kernel

// SetHooks installs what files need from the layers above: routing
// the console's interrupt through the IOAPIC (the device layer's). Call
// it once at boot.
func SetHooks(routeIRQ func(pin uint32)) {
	routeIRQFn = *(*uintptr)(unsafe.Pointer(&routeIRQ))
}

func routeIRQHook(pin uint32) {
	if h := routeIRQFn; h != 0 {
		(*(*func(uint32))(unsafe.Pointer(&h)))(pin)
	}
}
