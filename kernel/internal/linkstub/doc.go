// Package linkstub defines the entry points rt calls and the top kernel
// package implements (rt.kernelMain, rt.kernelTrap, rt.kernelAPMain), so
// that the test binary of a kernel package below the top one links
// without it. Only tests import it, with _:
//
//	import _ "github.com/unigo-os/unigo/kernel/internal/linkstub"
//
// An application links package kernel, which defines the real ones; the
// two together would be duplicate symbols. The stubs are never called:
// such a test runs as a Linux process and never boots.
package linkstub
