// Package virtio holds the host-side virtio 1.x device models of the unigo
// KVM launcher: split virtqueues over guest memory, the virtio-mmio transport
// (register layout version 2, virtio spec 4.2.2) and the devices themselves
// (virtio-rng; virtio-net with its frames going to a NetBackend such
// as those of tools/vmm/netback; virtio-9p, serving a hugelgupf/p9 Attacher
// such as tools/vmm/hostfs's host directory to unigo run -v; virtio-blk;
// virtio-balloon, reduced to free page reporting, through which the guest
// hands back the memory it frees).
//
// Guest memory is a []byte in which the guest-physical address is the offset.
// Everything the guest writes there or into a transport register is hostile:
// ring addresses and sizes are validated when a queue is made ready, every
// descriptor is read exactly once into host variables, every buffer is
// bounds-checked with overflow-safe arithmetic, and chains are length-capped
// so a looping chain cannot hang the host. A driver that breaks the protocol
// does not crash the launcher: the device is marked DEVICE_NEEDS_RESET and a
// configuration-change interrupt tells the driver so.
//
// Concurrency model:
//
//   - MMIO.Read and MMIO.Write are called by the vCPU thread that took the
//     MMIO exit; MMIO.Notify may be called concurrently from an ioeventfd
//     goroutine. The MMIO serialises them with its own mutex.
//   - Each Queue belongs to one worker goroutine started by the device in
//     Activate; only that goroutine calls Next, Put and NeedInterrupt. Other
//     goroutines only call Kick (through MMIO.Notify).
//   - Workers report back through the Interrupter, which never takes the MMIO
//     mutex, so Device.Reset (called with the mutex held) may wait for its
//     workers to finish.
package virtio
