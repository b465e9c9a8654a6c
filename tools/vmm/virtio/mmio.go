package virtio

import (
	"encoding/binary"
	"fmt"
	"github.com/unigo-os/unigo/abi"
	"sync"
	"sync/atomic"
)

const (
	// VendorID is "UGO\0" little-endian. The driver relies on what it
	// promises (abi.VirtioVendorUnigo): every raise is a new edge.
	VendorID = abi.VirtioVendorUnigo
	// MMIOSize is the size of the MMIO window a device occupies: registers
	// plus up to 3.75 KiB of configuration space.
	MMIOSize = 0x1000
)

type queueRegs struct {
	cfg   QueueConfig
	ready bool
}

// MMIO is the virtio-mmio transport of one device: the register file the
// guest sees in its MMIO window, feature negotiation, queue setup and the
// device status state machine.
//
// Read and Write come from the vCPU thread; Notify may come from another
// goroutine (an ioeventfd on QueueNotify). All three are safe to call
// concurrently.
type MMIO struct {
	dev Device
	mem []byte
	irq func()

	mu          sync.Mutex // guards everything below that is not atomic
	devFeatSel  uint32
	drvFeatSel  uint32
	drvFeatures uint64
	queueSel    uint32
	queues      []queueRegs
	live        []*Queue // non-nil while the device is activated
	active      bool

	// status and intStatus are also changed by workers (Fail, Used), which
	// must not take mu: Reset holds mu while it waits for them.
	status    atomic.Uint32
	intStatus atomic.Uint32
	configGen atomic.Uint32
	lastErr   atomic.Pointer[error]

	// Counts are what the guest cost the launcher: register accesses
	// (each a VM exit to user space), notifications, interrupts.
	Counts MMIOCounts
}

// MMIOCounts counts a transport's traffic.
type MMIOCounts struct {
	Reads, Writes, Notifies, Interrupts atomic.Uint64
}

// String summarises the counts.
func (c *MMIOCounts) String() string {
	return fmt.Sprintf("register reads %d, writes %d, notifications %d, interrupts %d",
		c.Reads.Load(), c.Writes.Load(), c.Notifies.Load(), c.Interrupts.Load())
}

// NewMMIO returns the transport for dev over guest memory mem. irq is called
// whenever InterruptStatus gains a bit; the launcher injects the device's
// interrupt (an edge, e.g. through an irqfd). It may be called from worker
// goroutines and must not call back into the MMIO.
func NewMMIO(dev Device, mem []byte, irq func()) *MMIO {
	return &MMIO{dev: dev, mem: mem, irq: irq, queues: make([]queueRegs, dev.NumQueues())}
}

// Err returns the protocol error that last put the device into
// DEVICE_NEEDS_RESET, for the launcher's log, or nil.
func (m *MMIO) Err() error {
	if p := m.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// InterruptPending reports whether InterruptStatus is non-zero, for a
// launcher that models the interrupt as a level.
func (m *MMIO) InterruptPending() bool { return m.intStatus.Load() != 0 }

// ConfigChanged bumps ConfigGeneration and raises a configuration-change
// interrupt. Devices call it after changing their configuration space.
func (m *MMIO) ConfigChanged() {
	m.configGen.Add(1)
	m.raise(abi.VirtioIntConfigChange)
}

func (m *MMIO) raise(bit uint32) {
	m.intStatus.Or(bit)
	m.Counts.Interrupts.Add(1)
	if m.irq != nil {
		m.irq()
	}
}

// Used implements Interrupter.
func (m *MMIO) Used(q *Queue) {
	if q.NeedInterrupt() {
		m.raise(abi.VirtioIntUsedBuffer)
	}
}

// Fail implements Interrupter.
func (m *MMIO) Fail(err error) {
	m.lastErr.Store(&err)
	m.status.Or(abi.VirtioStatusNeedsReset)
	m.raise(abi.VirtioIntConfigChange)
}

// Notify delivers a driver notification for queue (the value written to
// QueueNotify). It is what an ioeventfd goroutine calls.
func (m *MMIO) Notify(queue uint32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.notifyLocked(queue)
}

func (m *MMIO) notifyLocked(queue uint32) {
	m.Counts.Notifies.Add(1)
	if !m.active || uint64(queue) >= uint64(len(m.live)) || m.live[queue] == nil {
		return
	}
	m.live[queue].Kick()
}

func (m *MMIO) offered() uint64 { return m.dev.Features() | transportFeatures }

// Read handles a guest load of len(data) bytes at offset off in the window.
// Registers answer only 32-bit accesses; anything else reads as zero.
func (m *MMIO) Read(off uint64, data []byte) {
	clear(data)
	m.Counts.Reads.Add(1)
	if off >= abi.VirtioMMIOConfig {
		if off < MMIOSize {
			m.mu.Lock()
			m.dev.ReadConfig(off-abi.VirtioMMIOConfig, data)
			m.mu.Unlock()
		}
		return
	}
	if len(data) != 4 || off%4 != 0 {
		return
	}
	m.mu.Lock()
	v := m.readReg(off)
	m.mu.Unlock()
	binary.LittleEndian.PutUint32(data, v)
}

func (m *MMIO) selected() *queueRegs {
	if uint64(m.queueSel) < uint64(len(m.queues)) {
		return &m.queues[m.queueSel]
	}
	return nil
}

func (m *MMIO) readReg(off uint64) uint32 {
	switch off {
	case abi.VirtioMMIOMagicValue:
		return abi.VirtioMMIOMagic
	case abi.VirtioMMIOVersion:
		return abi.VirtioMMIOVersion2
	case abi.VirtioMMIODeviceID:
		return m.dev.ID()
	case abi.VirtioMMIOVendorID:
		return VendorID
	case abi.VirtioMMIODeviceFeatures:
		if m.devFeatSel < 2 {
			return uint32(m.offered() >> (32 * m.devFeatSel))
		}
	case abi.VirtioMMIOQueueNumMax:
		if m.selected() != nil {
			return uint32(m.dev.QueueMax())
		}
	case abi.VirtioMMIOQueueReady:
		if q := m.selected(); q != nil && q.ready {
			return 1
		}
	case abi.VirtioMMIOInterruptStatus:
		return m.intStatus.Load()
	case abi.VirtioMMIOStatus:
		return m.status.Load()
	case abi.VirtioMMIOSHMLenLow, abi.VirtioMMIOSHMLenHigh:
		// No shared memory regions: a length of -1 says so.
		return 0xffffffff
	case abi.VirtioMMIOConfigGeneration:
		return m.configGen.Load()
	}
	return 0
}

// Write handles a guest store of data at offset off in the window.
// Registers accept only 32-bit accesses; other stores are ignored.
func (m *MMIO) Write(off uint64, data []byte) {
	m.Counts.Writes.Add(1)
	if off >= abi.VirtioMMIOConfig {
		if off < MMIOSize {
			m.mu.Lock()
			m.dev.WriteConfig(off-abi.VirtioMMIOConfig, data)
			m.mu.Unlock()
		}
		return
	}
	if len(data) != 4 || off%4 != 0 {
		return
	}
	v := binary.LittleEndian.Uint32(data)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.writeReg(off, v)
}

func (m *MMIO) writeReg(off uint64, v uint32) {
	// Queue registers may only change while the queue is not ready.
	setQueue := func(f func(q *queueRegs)) {
		if q := m.selected(); q != nil && !q.ready && !m.active {
			f(q)
		}
	}
	lo := func(p *uint64) { *p = *p&^0xffffffff | uint64(v) }
	hi := func(p *uint64) { *p = *p&0xffffffff | uint64(v)<<32 }

	switch off {
	case abi.VirtioMMIODeviceFeaturesSel:
		m.devFeatSel = v
	case abi.VirtioMMIODriverFeatures:
		if m.status.Load()&abi.VirtioStatusFeaturesOK == 0 && m.drvFeatSel < 2 {
			shift := 32 * m.drvFeatSel
			m.drvFeatures = m.drvFeatures&^(0xffffffff<<shift) | uint64(v)<<shift
		}
	case abi.VirtioMMIODriverFeaturesSel:
		m.drvFeatSel = v
	case abi.VirtioMMIOQueueSel:
		m.queueSel = v
	case abi.VirtioMMIOQueueNum:
		setQueue(func(q *queueRegs) { q.cfg.Size = uint16(min(v, 0xffff)) })
	case abi.VirtioMMIOQueueDescLow:
		setQueue(func(q *queueRegs) { lo(&q.cfg.Desc) })
	case abi.VirtioMMIOQueueDescHigh:
		setQueue(func(q *queueRegs) { hi(&q.cfg.Desc) })
	case abi.VirtioMMIOQueueDriverLow:
		setQueue(func(q *queueRegs) { lo(&q.cfg.Driver) })
	case abi.VirtioMMIOQueueDriverHigh:
		setQueue(func(q *queueRegs) { hi(&q.cfg.Driver) })
	case abi.VirtioMMIOQueueDeviceLow:
		setQueue(func(q *queueRegs) { lo(&q.cfg.Device) })
	case abi.VirtioMMIOQueueDeviceHigh:
		setQueue(func(q *queueRegs) { hi(&q.cfg.Device) })
	case abi.VirtioMMIOQueueReady:
		q := m.selected()
		if q == nil || m.active {
			return
		}
		if v&1 == 0 {
			q.ready = false
			return
		}
		if err := q.cfg.Validate(m.mem, m.dev.QueueMax()); err != nil {
			m.Fail(&ProtocolError{Queue: int(m.queueSel), Reason: err.Error()})
			return
		}
		q.ready = true
	case abi.VirtioMMIOQueueNotify:
		m.notifyLocked(v)
	case abi.VirtioMMIOInterruptACK:
		m.intStatus.And(^v)
	case abi.VirtioMMIOStatus:
		m.setStatus(v)
	}
}

// setStatus runs the device status state machine (virtio spec 3.1.1).
func (m *MMIO) setStatus(v uint32) {
	if v == 0 {
		m.reset()
		return
	}
	old := m.status.Load()
	// DEVICE_NEEDS_RESET is the device's to set and only a reset clears it.
	v |= old & abi.VirtioStatusNeedsReset
	if v&abi.VirtioStatusFeaturesOK != 0 && old&abi.VirtioStatusFeaturesOK == 0 {
		offered := m.offered()
		if m.drvFeatures&^offered != 0 || m.drvFeatures&abi.VirtioFVersion1 == 0 {
			// Refuse the feature set: the driver sees FEATURES_OK clear.
			v &^= abi.VirtioStatusFeaturesOK
		}
	}
	if v&abi.VirtioStatusDriverOK != 0 && old&abi.VirtioStatusDriverOK == 0 && !m.active {
		if v&abi.VirtioStatusFeaturesOK == 0 {
			m.status.Store(v)
			m.Fail(fmt.Errorf("virtio: DRIVER_OK without FEATURES_OK"))
			return
		}
		m.status.Store(v)
		m.activate()
		return
	}
	m.status.Store(v)
}

func (m *MMIO) activate() {
	live := make([]*Queue, len(m.queues))
	for i, r := range m.queues {
		if !r.ready {
			continue
		}
		q, err := NewQueue(m.mem, i, r.cfg, m.drvFeatures)
		if err != nil {
			m.Fail(err)
			return
		}
		live[i] = q
	}
	if err := m.dev.Activate(m.drvFeatures, m.mem, live, m); err != nil {
		m.Fail(err)
		return
	}
	m.live, m.active = live, true
}

func (m *MMIO) reset() {
	// Stop the workers first: they may still set status bits.
	m.dev.Reset()
	m.live, m.active = nil, false
	for i := range m.queues {
		m.queues[i] = queueRegs{}
	}
	m.devFeatSel, m.drvFeatSel, m.drvFeatures, m.queueSel = 0, 0, 0, 0
	m.status.Store(0)
	m.intStatus.Store(0)
	m.lastErr.Store(nil)
}
