package task

import (
	_ "unsafe" // go:linkname

	"github.com/unigo-os/unigo/rt"
)

// The entry points rt calls that the top kernel package implements, so
// that this package's test binary links without it. Never called: the
// test runs as a Linux process.

//go:linkname testKernelMain github.com/unigo-os/unigo/rt.kernelMain
func testKernelMain(uintptr) { panic("not booted") }

//go:linkname testKernelTrap github.com/unigo-os/unigo/rt.kernelTrap
func testKernelTrap(*rt.Frame) { panic("not booted") }

//go:linkname testKernelAPMain github.com/unigo-os/unigo/rt.kernelAPMain
func testKernelAPMain(uintptr) { panic("not booted") }
