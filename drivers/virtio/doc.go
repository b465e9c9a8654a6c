// Package virtio is the virtio 1.x transport over MMIO (version 2 of the
// register layout, "modern") and the split virtqueue, for the device
// drivers in its subpackages.
//
// A driver finds its devices with Devices, then for each: Open (reset),
// Negotiate (features; VERSION_1 is required), SetupQueue per queue,
// Start (interrupt line attached, DRIVER_OK). It adds buffer chains with
// Queue.Add and publishes them with Device.Kick (which notifies only when
// the device asks: VIRTIO_F_EVENT_IDX or the NO_NOTIFY flag), collects
// finished chains with Queue.Pop, and waits with Queue.EnableInterrupts
// followed by Device.WaitInterrupt.
//
// The device is not trusted: a used ring naming descriptors that are not
// in flight, or claiming more bytes than a chain can hold, is reported
// once on the console, the device is marked broken (FAILED status) and
// the queue hands out nothing more — no panic and no memory written
// outside the driver's buffers.
//
// The queue code is independent of the transport and the kernel, so it
// is tested and fuzzed on the host against plain byte slices.
package virtio
