// Package mm is the program's address space: the page tables (an identity
// map of RAM with 2 MiB pages, 4 KiB pages for the image and the user
// range), the table of VMAs that mmap, munmap and mprotect edit, demand
// paging (FaultIn, with fault-around), the checks that system calls make
// on user pointers (UserOK), and the program image's protections. Frames
// come from kernel/kmem.
//
// The system calls themselves (kernel/mmap.go) stay above it: they pass
// the TLB shootdown, which needs the other CPUs, to UnmapPages and
// ProtectPages. VMLock guards the VMAs and the page tables.
//
// All of it runs in kernel context (see package kctx).
package mm
