// Package vm is the memory system calls — mmap, munmap, mprotect,
// madvise, msync — and the page-fault handler (PageFault), over the
// address space of kernel/mm: anonymous memory and mappings of regular
// kernel/memfs files. It sits above kernel/vfs and kernel/task because a
// file mapping needs the file system's lock (vfs.FSLock, taken before
// mm.VMLock) and unmapping needs the other CPUs (task.TLBShootdown); Init
// installs those as mm's and memfs's hooks at boot.
//
// Naming: SysX (syscall.go) is the handler the system-call table names; it
// decodes the registers for doX (mmap.go), which does the work.
//
// Everything here runs in kernel context (see package kctx).
package vm
