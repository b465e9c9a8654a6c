// Package arch decides what an x86-64 guest of the unigo launcher sees at
// boot: the guest-physical memory layout, how a PVH ELF image is loaded into
// it, the hvm_start_info block with its memory map and command line, the
// register state at the PVH entry, and the CPUID table.
//
// Everything here is pure (no /dev/kvm access) so it is unit tested on any
// host; tools/vmm applies the results to a VM. Memory is modelled with
// u-root's kexec segments and ranges: image segments and the boot-info block
// are kexec.Segments, free space is found with Ranges.FindSpace, and the E820
// map is the kexec.MemoryMap after the boot block has been reserved in it.
package arch
