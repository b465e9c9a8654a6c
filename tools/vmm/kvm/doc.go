// Package kvm is the thin ioctl layer over /dev/kvm used by the unigo
// launcher: the system, VM and vCPU file descriptors, the shared kvm_run
// page, and the structure layouts of linux/kvm.h that the launcher needs.
//
// It holds no policy. What the guest sees (CPUID, registers at entry, memory
// layout) is decided in tools/vmm/arch; devices live in tools/vmm/devices;
// tools/vmm puts them together. Every wrapper returns a plain error naming
// the ioctl so a failure can be reported on one line.
package kvm
