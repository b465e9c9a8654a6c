// Package kmem owns physical memory: it hands out 4 KiB frames and small
// power-of-two blocks to the rest of the kernel.
//
// Physical memory is identity-mapped (the kernel's page tables,
// kernel/mm/vm.go), so a frame's physical address is also a pointer the kernel
// can dereference. Addresses are carried as uintptr, never as Go pointers:
// kernel memory is invisible to the Go garbage collector, and storing Go
// pointers in it would trigger write barriers, which cannot run in kernel
// context.
//
// Layout: memory is given as ranges (AddRange). Each range is consumed by a
// bump pointer; freed blocks go to per-order free lists (orders 0..MaxOrder,
// 4 KiB..2 MiB) whose links live in the free blocks themselves. There is no
// coalescing: the kernel's large users (kernel stacks, page tables, user
// pages) recycle blocks of the same order, so fragmentation stays bounded.
// 2 MiB blocks (HugeOrder, kernel/mm's huge pages) come from the bump
// space, aligned (the frames skipped go to the lists as the largest
// aligned blocks they form), or from freed 2 MiB blocks; frames of a huge
// page that mm splits are freed one by one and form one again only once
// all are reported (below), so when none is left, AllocPages(HugeOrder)
// fails and mm falls back to 4 KiB pages.
//
// Free page reporting (report.go, for kernel/balloon): once
// EnableReporting gives each range a bitmap (one bit per frame, taken
// from the allocator), TakeDirty lends free-list blocks beyond a reserve
// to the reporter as merged ranges, and MarkReported records them as
// "reported": free, given back to the host, contents undefined. Blocks
// come from the free lists first, then from reported frames (cleared;
// any aligned run of them, so 512 reported frames of a split huge page
// form a 2 MiB block again), then from the bump space. Blocks lent are
// in no list: an allocation that finds no memory while some are lent
// waits, for a bounded time, for the reporter to give them back
// (SetReclaim) before it fails.
// Small objects (16..2048 bytes) come from per-size-class free lists carved
// out of order-0 frames.
//
// All entry points are safe in any kernel context, including before the Go
// runtime is initialised: they allocate nothing from the Go heap, take one
// spinlock, and never block (but for the bounded wait above). Every
// block handed out is zeroed: cleared, unless it is carved for the first
// time from a range donated as zeros (AddZeroRange: fresh guest RAM,
// which the host backs only once written); AllocPagesDirty alone skips
// the clearing, for buffers read only where written.
package kmem
