// Package mm is the program's address space: the page tables (an identity
// map of RAM with 2 MiB pages, 4 KiB pages for the image (2 MiB where
// its segments allow when the host backs it with huge pages: image.go),
// 4 KiB and
// 2 MiB pages for the user range), the table of VMAs that mmap, munmap,
// mprotect and mremap edit (mremap's Resize and Move: a moved mapping's
// page-table entries move with it, remap.go), demand paging (Fault, with
// a fault-around window that grows with sequential faults for anonymous
// memory, and 2 MiB pages once an anonymous mapping is filled
// sequentially: huge.go), the checks that system calls make on user
// pointers (UserOK), and the program image's protections. Frames come
// from kernel/kmem.
//
// File mappings: a VMA may map a kernel/memfs file (MapFile), holding a
// reference on its inode. A fault maps the file's own page (memfs.PageAt),
// marked PteFile so that unmapping never frees it: MAP_SHARED with the
// VMA's protection, MAP_PRIVATE read-only and PteCOW, so that a write
// copies it into an anonymous page. Pages at or beyond the end of the
// file fault with FaultBus (SIGBUS). Before a file shrinks, UnmapFile
// removes its pages beyond the new end from every mapping, so a page
// memfs frees is never left mapped. Looking up a file page and changing
// file VMAs need the file system's lock, which the kernel takes before
// VMLock; Fault says FaultNeedFile when called without it, and UserOK
// takes it through the hooks the kernel installs (SetHooks).
//
// The system calls themselves (kernel/vm/mmap.go) stay above it: they pass
// the TLB shootdown, which needs the other CPUs, to UnmapPages and
// ProtectPages, after SplitHuge has split the 2 MiB pages their range
// covers in part (ENOMEM when it cannot). VMLock guards the VMAs and the
// page tables.
//
// All of it runs in kernel context (see package kctx).
package mm
