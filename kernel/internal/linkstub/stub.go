package linkstub

import (
	_ "unsafe" // go:linkname

	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/rt"
)

//go:linkname kernelMain github.com/unigo-os/unigo/rt.kernelMain
func kernelMain(uintptr) { kctx.Panic("linkstub: not booted") }

//go:linkname kernelTrap github.com/unigo-os/unigo/rt.kernelTrap
func kernelTrap(*rt.Frame) { kctx.Panic("linkstub: not booted") }

//go:linkname kernelAPMain github.com/unigo-os/unigo/rt.kernelAPMain
func kernelAPMain(uintptr) { kctx.Panic("linkstub: not booted") }
