package virtio

import "github.com/unigo-os/unigo/abi"

// Feature bits the transport and the queue code implement themselves
// (virtio spec 6). Devices return only their device-specific bits (0-23)
// from Features; the transport adds these.
const (
	transportFeatures = abi.VirtioFIndirectDesc | abi.VirtioFEventIdx | abi.VirtioFVersion1
)

// Device is a virtio device model behind a transport. The transport calls
// all methods with its lock held, from the vCPU thread, never concurrently.
type Device interface {
	// ID is the virtio device ID (abi.VirtioDeviceRNG, ...).
	ID() uint32
	// Features are the device-specific feature bits offered to the driver.
	Features() uint64
	// NumQueues is the number of virtqueues.
	NumQueues() int
	// QueueMax is the largest queue size the device accepts (QueueNumMax).
	QueueMax() uint16
	// ReadConfig fills data from the device configuration space at off.
	// Bytes past the end of the configuration space read as zero.
	ReadConfig(off uint64, data []byte)
	// WriteConfig stores data into the configuration space at off; writes
	// to read-only or absent fields are ignored.
	WriteConfig(off uint64, data []byte)
	// Activate starts the device once the driver set DRIVER_OK. features
	// are the negotiated bits; queues has NumQueues entries, nil for those
	// the driver did not make ready. The device typically starts one worker
	// goroutine per queue. An error marks the device as needing reset.
	Activate(features uint64, mem []byte, queues []*Queue, irq Interrupter) error
	// Reset stops the device and waits until its workers no longer touch
	// guest memory or the queues. It is called on every driver reset, also
	// when the device was never activated.
	Reset()
}

// Interrupter is how a device's workers talk back to its transport. Both
// methods are safe from any goroutine and never block on the transport lock.
type Interrupter interface {
	// Used tells the transport q's used ring advanced; it raises a
	// used-buffer interrupt unless the driver suppressed it (q.NeedInterrupt).
	Used(q *Queue)
	// Fail reports that the driver broke the protocol: the transport sets
	// DEVICE_NEEDS_RESET and raises a configuration-change interrupt. The
	// failing worker should stop using its queue.
	Fail(err error)
}
