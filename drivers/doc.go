// Package drivers is the root of unigo's device drivers. It holds no code;
// the drivers live in its subpackages:
//
//   - hw: what a driver needs from the kernel — the virtio-mmio device
//     list, uncached MMIO mappings, DMA memory and interrupt lines — through
//     the kernel's private system calls (abi/devices.go);
//   - virtio: the virtio 1.x MMIO transport and split virtqueues, which do
//     not trust the device;
//   - virtio/virtionet: virtio-net, a frame-level API for the netstack;
//   - virtio/virtiorng: virtio-rng, an entropy source;
//   - virtio/virtioblk: virtio-blk, a disk in 512-byte sectors;
//   - virtio/virtio9p: virtio-9p, the byte stream of a 9P2000.L client
//     (github.com/hugelgupf/p9), with the device's mount tag;
//   - fsserve: serves file systems and block devices to the kernel over
//     the file channel (abi/fschan.go): mounts and /dev/vdX;
//   - volume: an fsserve.FS over a 9P client: a host directory shared
//     with unigo run -v or QEMU's virtio-9p-device;
//   - storage: linked into programs that use os by unigo build, it serves
//     the VM's virtio-blk disks at /dev/vda, /dev/vdb, ... and mounts its
//     virtio-9p volumes at their mount tag's path.
//
// Drivers are ordinary Go code: they run at CPL 3 in the program's single
// address space, on goroutines, and may allocate. They never run in kernel
// context; a driver goroutine waiting for its device's interrupt waits in
// Go's netpoller on a descriptor the kernel makes readable when the
// interrupt fires. Dependencies point one way: netstack -> drivers -> abi.
// Drivers reach the kernel only through its private system calls (hw); the
// netstack reaches it through the system calls of the netstack channel,
// whose constants and types are in abi (abi/netchan.go). Neither imports
// package kernel.
package drivers
