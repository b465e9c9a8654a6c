// Package balloon is the kernel's virtio-balloon driver, for one job:
// free page reporting (virtio 1.2, 5.5.6.7). Memory the guest frees stays
// resident on the host until the host learns it is free; the driver tells
// it, so the VM's resident memory follows the guest's use instead of its
// high-water mark.
//
// The driver negotiates VERSION_1 and PAGE_REPORTING (and STATS_VQ when
// offered, since QEMU always offers it; no stats buffer is ever posted),
// never FREE_PAGE_HINT or PAGE_POISON, and sets up only the reporting
// queue: 2, or 3 after the stats queue. inflateq and deflateq stay unused
// (the device never asks the guest to inflate).
//
// Policy (Idle, called by a CPU about to halt): a round starts at most
// every Interval, and only if the free lists (kernel/kmem) hold at least
// MinReport bytes beyond the reserve. A round posts one chain of up to
// MaxRanges device-writable descriptors, each a free range kmem.TakeDirty
// lent (largest blocks first, adjacent ones merged), kicks, and waits for
// the chain on the used ring; kmem.MarkReported then makes the ranges
// "reported" (served after the free lists, cleared). QEMU serves the
// notification before the vCPU goes on, the unigo launcher on another
// thread soon after; so the CPU polls the used ring for a short while
// (maxWait), and a round posts chain after chain until the free lists
// are down to the reserve, stopping early when a thread becomes runnable,
// the device is slow or the call has taken maxCall. A chain not yet used is collected on a later
// call, which goes on with the round. The reserve keeps the allocator's hot reuse
// off reported frames, whose first touch is a host page fault.
//
// Memory is static: the queue is an array in Balloon, read by the device
// at its identity-mapped address. The device is not trusted: a used
// index running ahead of the one chain in flight, a used entry naming
// another descriptor, or a length beyond the chain marks it broken
// (FaultText says why, reported once), and reporting stops; the ranges
// of the chain then in flight are never handed out again, since the
// device may still discard them (kmem.Forget: they stop counting free).
// An allocation that runs out of memory while a chain is in flight waits
// for it (Reclaim, kmem.SetReclaim) rather than fail, for a bounded time
// that covers both its waits: for the CPU running the policy (the
// Balloon's lock; TryIdle) and for the device. The ring logic is
// independent of the transport (mmio.go) and is tested and fuzzed
// against a simulated device.
package balloon
