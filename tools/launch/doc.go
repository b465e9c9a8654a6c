// Package launch is the `unigo run` command: its flags, the devices
// (network, volumes, drives, RNG), the VM under the KVM launcher or QEMU,
// signals, -jail and the exit status. Both the unigo CLI and the small
// launcher binary tools/unigo-vmm run it: the CLI builds a target from
// source (Hooks.Build) and hands the run over to the launcher binary
// (Hooks.Handoff), which boots it without the CLI's other commands and
// their dependencies in its address space.
package launch
