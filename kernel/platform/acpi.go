package platform

import "github.com/unigo-os/unigo/kernel/kctx"

// ACPI tables, as far as the kernel reads them: the RSDP that PVH
// start_info points at (RSDPAddr, recorded by deviceBootInfo), the RSDT or
// XSDT it names, and the tables those list. Only QEMU provides them; the
// unigo launcher and Firecracker-style monitors pass RSDPAddr = 0. Users:
// the MADT, for the local APICs (smpInit) and the IOAPICs (ioapicInit),
// and its mere presence, which tells probeMicrovmVirtio it runs on QEMU.

// AcpiSigMADT is the MADT's signature, "APIC" read as a little-endian
// uint32 (the first four bytes of every ACPI table header).
const AcpiSigMADT = 0x43495041

// AcpiFindTable returns the address of the first table with signature
// sig listed in the RSDP's root table (the XSDT when the RSDP has
// revision 2 or more and a non-zero XSDT address, else the RSDT), or 0
// when there is no RSDP, no such table, or the pointers look wrong.
//
// What it trusts: the tables come from the VMM, which also supplies the
// memory they sit in, so they are read in place through the identity map
// and no checksum is verified. What it checks is only what keeps the walk
// on RAM: the RSDP's "RSD PTR " signature, and that the RSDP, the root
// table and each listed table have a non-zero address below RAMTop. Table
// lengths are taken as given; callers walking a table's entries bound
// themselves by its header length.
//
// Kernel context: no allocation, no locks; reads only boot-time memory
// that nothing writes after boot.
func AcpiFindTable(sig uint32) uintptr {
	rsdp := RSDPAddr
	if rsdp == 0 || rsdp >= RAMTop || *kctx.At[uint64](rsdp) != 0x2052545020445352 { // "RSD PTR "
		return 0
	}
	var root uintptr
	entry := uintptr(4) // RSDT: 32-bit table addresses
	if *kctx.At[uint8](rsdp + 15) >= 2 && *kctx.At[uint64](rsdp + 24) != 0 {
		root, entry = uintptr(*kctx.At[uint64](rsdp + 24)), 8 // XSDT: 64-bit
	} else {
		root = uintptr(*kctx.At[uint32](rsdp + 16))
	}
	if root == 0 || root >= RAMTop {
		return 0
	}
	length := uintptr(*kctx.At[uint32](root + 4))
	for p := root + 36; p+entry <= root+length; p += entry { // entries follow the 36-byte header
		var t uintptr
		if entry == 8 {
			t = uintptr(*kctx.At[uint64](p))
		} else {
			t = uintptr(*kctx.At[uint32](p))
		}
		if t != 0 && t < RAMTop && *kctx.At[uint32](t) == sig {
			return t
		}
	}
	return 0
}
