package syscalls

import (
	"unsafe"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/rt"
)

// The private calls whose handlers live in the top kernel package, next
// to the devices and the host they serve: the device services
// (kernel/device.go) and readiness (kernel/hostsignal.go). Their rows in
// privTable name the trampolines below, which call the handlers the
// kernel installs at boot (SetHooks), held as the addresses of static
// function values so that installing and calling them stores no pointer
// (kernel context has no write barriers).
const (
	upVirtioMMIODevices = iota
	upMapMMIO
	upDMAAlloc
	upDMAFree
	upIRQAttach
	upIRQUnmask
	upIRQDetach
	upReady
	nUpper
)

var upperFns [nUpper]uintptr

// UpperHandlers are the handlers of the private calls the top kernel
// package serves.
type UpperHandlers struct {
	VirtioMMIODevices, MapMMIO, DMAAlloc, DMAFree func(f *rt.Frame) int64
	IRQAttach, IRQUnmask, IRQDetach               func(f *rt.Frame) int64
	Ready                                         func(f *rt.Frame) int64
}

// SetHooks installs the handlers of the private calls served above this
// package. Call it once at boot, before the first system call.
func SetHooks(h UpperHandlers) {
	upperFns[upVirtioMMIODevices] = *(*uintptr)(unsafe.Pointer(&h.VirtioMMIODevices))
	upperFns[upMapMMIO] = *(*uintptr)(unsafe.Pointer(&h.MapMMIO))
	upperFns[upDMAAlloc] = *(*uintptr)(unsafe.Pointer(&h.DMAAlloc))
	upperFns[upDMAFree] = *(*uintptr)(unsafe.Pointer(&h.DMAFree))
	upperFns[upIRQAttach] = *(*uintptr)(unsafe.Pointer(&h.IRQAttach))
	upperFns[upIRQUnmask] = *(*uintptr)(unsafe.Pointer(&h.IRQUnmask))
	upperFns[upIRQDetach] = *(*uintptr)(unsafe.Pointer(&h.IRQDetach))
	upperFns[upReady] = *(*uintptr)(unsafe.Pointer(&h.Ready))
}

// MissingHandlers counts the private calls served above this package
// whose handler is not installed.
func MissingHandlers() int {
	n := 0
	for _, h := range upperFns {
		if h == 0 {
			n++
		}
	}
	return n
}

// callUpper runs installed handler i; ENOSYS if none is.
func callUpper(i int, f *rt.Frame) int64 {
	h := upperFns[i]
	if h == 0 {
		return -abi.ENOSYS
	}
	return (*(*func(*rt.Frame) int64)(unsafe.Pointer(&h)))(f)
}

func upperVirtioMMIODevices(f *rt.Frame) int64 { return callUpper(upVirtioMMIODevices, f) }
func upperMapMMIO(f *rt.Frame) int64           { return callUpper(upMapMMIO, f) }
func upperDMAAlloc(f *rt.Frame) int64          { return callUpper(upDMAAlloc, f) }
func upperDMAFree(f *rt.Frame) int64           { return callUpper(upDMAFree, f) }
func upperIRQAttach(f *rt.Frame) int64         { return callUpper(upIRQAttach, f) }
func upperIRQUnmask(f *rt.Frame) int64         { return callUpper(upIRQUnmask, f) }
func upperIRQDetach(f *rt.Frame) int64         { return callUpper(upIRQDetach, f) }
func upperReady(f *rt.Frame) int64             { return callUpper(upReady, f) }
