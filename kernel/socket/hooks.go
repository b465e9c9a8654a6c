package socket

import "unsafe"

// Hooks the kernel above installs at boot (SetHooks), held as the address
// of a static function value so that installing and calling it stores no
// pointer (kernel context has no write barriers).
var listeningFn uintptr // func(fd int): fd now listens

// SetHooks installs what sockets need from the layers above: being told
// when a socket starts listening (the launcher's readiness signal). Call
// it once at boot.
func SetHooks(listening func(fd int)) {
	listeningFn = *(*uintptr)(unsafe.Pointer(&listening))
}

func listeningHook(fd int) {
	if h := listeningFn; h != 0 {
		(*(*func(int))(unsafe.Pointer(&h)))(fd)
	}
}
