// Package abi holds the definitions shared by the guest (rt, kernel) and the
// host tools (the image writer and the KVM launcher): the PVH boot structures,
// the I/O ports the guest uses to talk to its monitor, the boot command line
// syntax, and the Linux amd64 numbers both sides serve or print: errno
// values, names and messages (linux_errno.go) and system call numbers
// (linux_sysnums.go), generated from golang.org/x/sys/unix. It is the only
// guest-side package tools/ may import, so it must stay free of guest-only
// code: plain constants, struct layouts and pure functions that compile and
// test on the host.
//
// Everything here is usable from the guest's early boot code, which runs
// before the Go runtime is initialised: no heap allocation, no maps, no
// interfaces, no package-level state that needs an init function.
package abi

//go:generate go run gen_linux.go
