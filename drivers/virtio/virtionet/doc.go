// Package virtionet drives virtio network devices (virtio-net, device type
// 1) over the virtio-mmio transport, and offers the netstack a frame-level
// API that knows nothing of IP:
//
//	devs, err := virtionet.Probe()           // every virtio-net device, set up
//	d := devs[0]
//	d.MAC(), d.MTU(), d.Offloads()           // from config space / negotiation
//	d.Start(func(h virtionet.Header, frame []byte) { ... })
//	err = d.Send(virtionet.Header{}, frame)  // an Ethernet frame, in pieces if convenient
//	n, err := d.SendBatch(frames)            // several, one device notification
//	d.Close()
//
// Frames are Ethernet frames without the virtio header; Header carries the
// virtio_net_hdr fields (checksum and segmentation offload) alongside.
//
// Negotiated when the device offers them: MAC, MTU, link STATUS, CSUM and
// GUEST_CSUM (partial checksums either way), HOST_TSO4/6 (the device
// segments large TCP frames we send), GUEST_TSO4/6 (it may hand us large
// coalesced TCP frames; only together with MRG_RXBUF, whose buffers can
// hold them), MRG_RXBUF, MQ with CTRL_VQ (one queue pair per CPU, at most
// the device's maximum) and EVENT_IDX. Options turns receive offloads off
// for a consumer that cannot take them.
//
// Concurrency: Send and SendBatch may be called from any number of
// goroutines (each transmit queue has a lock; a sender takes a free one). Received frames
// are delivered on one driver goroutine, started by Start, which also
// waits for the device's interrupts in Go's netpoller; a frame passed to
// the callback is valid only during the call (it may point straight into
// the receive buffer, which is handed back to the device afterwards).
//
// The device is not trusted (see package virtio): bad ring entries break
// the device, reported once on the console; runt receive buffers and
// impossible buffer counts are dropped and counted in Stats.
package virtionet
