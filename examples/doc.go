// Package examples holds example unigo applications. Each subdirectory is an
// ordinary Go main package: it builds and runs natively with `go run`, and
// `unigo build` turns it into an image that boots under QEMU microvm or the
// unigo KVM launcher.
//
//   - hello: prints a greeting, its arguments, the CPU count and GOOS/GOARCH.
//   - stress: exercises the scheduler, the garbage collector, timers, the
//     sync package and finalizers, checking every result.
package examples
