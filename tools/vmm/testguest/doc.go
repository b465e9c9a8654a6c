// Package testguest writes tiny PVH ELF images by hand for the launcher's
// tests, fuzz seeds and benchmarks: a few bytes of 32-bit code wrapped in a
// minimal ELF64 with one PT_LOAD per segment and a PT_NOTE holding the Xen
// PHYS32_ENTRY note. It exists so tests do not depend on the guest kernel
// or the image writer, and is imported only by tests and benchmarks.
package testguest
