package virtio

import (
	"encoding/binary"
	"github.com/unigo-os/unigo/abi"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// testDriver plays the guest driver: it lays out one split queue in a []byte
// guest memory and programs the transport through its registers.
type testDriver struct {
	t    *testing.T
	m    *MMIO
	mem  []byte
	irqs atomic.Int32

	size              uint16
	desc, avail, used uint64
	nextDesc          uint16
	availIdx          uint16
	usedSeen          uint16
}

const (
	tdDesc  = 0x1000
	tdAvail = 0x2000
	tdUsed  = 0x3000
	tdData  = 0x8000
)

func newTestDriver(t *testing.T, dev Device) *testDriver {
	d := &testDriver{t: t, mem: guestMemory(t, 1<<16)}
	d.m = NewMMIO(dev, d.mem, func() { d.irqs.Add(1) })
	t.Cleanup(func() { d.w32(abi.VirtioMMIOStatus, 0) }) // stops the workers
	return d
}

func (d *testDriver) r32(off uint64) uint32 {
	var b [4]byte
	d.m.Read(off, b[:])
	return binary.LittleEndian.Uint32(b[:])
}

func (d *testDriver) w32(off uint64, v uint32) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	d.m.Write(off, b[:])
}

// negotiate runs the initialisation sequence of virtio spec 3.1.1 up to
// FEATURES_OK, asking for want, and reports whether the device accepted.
func (d *testDriver) negotiate(want uint64) bool {
	d.w32(abi.VirtioMMIOStatus, 0)
	d.w32(abi.VirtioMMIOStatus, abi.VirtioStatusAcknowledge)
	d.w32(abi.VirtioMMIOStatus, abi.VirtioStatusAcknowledge|abi.VirtioStatusDriver)
	d.w32(abi.VirtioMMIODriverFeaturesSel, 0)
	d.w32(abi.VirtioMMIODriverFeatures, uint32(want))
	d.w32(abi.VirtioMMIODriverFeaturesSel, 1)
	d.w32(abi.VirtioMMIODriverFeatures, uint32(want>>32))
	d.w32(abi.VirtioMMIOStatus, abi.VirtioStatusAcknowledge|abi.VirtioStatusDriver|abi.VirtioStatusFeaturesOK)
	return d.r32(abi.VirtioMMIOStatus)&abi.VirtioStatusFeaturesOK != 0
}

func (d *testDriver) setupQueue(sel uint32, size uint16, desc, avail, used uint64) {
	d.size, d.desc, d.avail, d.used = size, desc, avail, used
	d.nextDesc, d.availIdx, d.usedSeen = 0, 0, 0
	// A driver lays out fresh rings before it enables the queue: a
	// notification racing the set-up (TestConcurrentNotify) must not find
	// the previous run's available index.
	// (Tests that put a ring outside memory leave that one alone.)
	n := uint64(size)
	for _, r := range [][2]uint64{{desc, 16 * n}, {avail, 6 + 2*n}, {used, 6 + 8*n}} {
		if r[0] <= uint64(len(d.mem)) && r[1] <= uint64(len(d.mem))-r[0] {
			clear(d.mem[r[0] : r[0]+r[1]])
		}
	}
	d.w32(abi.VirtioMMIOQueueSel, sel)
	d.w32(abi.VirtioMMIOQueueNum, uint32(size))
	d.w32(abi.VirtioMMIOQueueDescLow, uint32(desc))
	d.w32(abi.VirtioMMIOQueueDescHigh, uint32(desc>>32))
	d.w32(abi.VirtioMMIOQueueDriverLow, uint32(avail))
	d.w32(abi.VirtioMMIOQueueDriverHigh, uint32(avail>>32))
	d.w32(abi.VirtioMMIOQueueDeviceLow, uint32(used))
	d.w32(abi.VirtioMMIOQueueDeviceHigh, uint32(used>>32))
	d.w32(abi.VirtioMMIOQueueReady, 1)
}

func (d *testDriver) start(want uint64) {
	require.True(d.t, d.negotiate(want))
	d.setupQueue(0, 8, tdDesc, tdAvail, tdUsed)
	d.w32(abi.VirtioMMIOStatus, abi.VirtioStatusAcknowledge|abi.VirtioStatusDriver|abi.VirtioStatusFeaturesOK|abi.VirtioStatusDriverOK)
	require.Zero(d.t, d.r32(abi.VirtioMMIOStatus)&abi.VirtioStatusNeedsReset, "device error: %v", d.m.Err())
}

type tdesc struct {
	addr  uint64
	len   uint32
	flags uint16
	next  uint16
}

func putDesc(mem []byte, table uint64, i uint16, x tdesc) {
	b := mem[table+16*uint64(i):]
	binary.LittleEndian.PutUint64(b[0:], x.addr)
	binary.LittleEndian.PutUint32(b[8:], x.len)
	binary.LittleEndian.PutUint16(b[12:], x.flags)
	binary.LittleEndian.PutUint16(b[14:], x.next)
}

// post writes bufs as one chain into fresh descriptors and publishes it.
// NEXT flags and next indices are filled in.
func (d *testDriver) post(bufs ...tdesc) uint16 {
	head := d.nextDesc % d.size
	for i, x := range bufs {
		idx := (d.nextDesc) % d.size
		d.nextDesc++
		if i < len(bufs)-1 {
			x.flags |= abi.VirtqDescFNext
			x.next = d.nextDesc % d.size
		}
		putDesc(d.mem, d.desc, idx, x)
	}
	d.publish(head)
	return head
}

func (d *testDriver) publish(head uint16) {
	binary.LittleEndian.PutUint16(d.mem[d.avail+4+2*uint64(d.availIdx%d.size):], head)
	d.availIdx++
	binary.LittleEndian.PutUint16(d.mem[d.avail+2:], d.availIdx)
}

func (d *testDriver) usedIdx() uint16 { return binary.LittleEndian.Uint16(d.mem[d.used+2:]) }

// waitUsed waits for the next used element and returns its id and length.
func (d *testDriver) waitUsed() (id, n uint32) {
	d.t.Helper()
	require.Eventually(d.t, func() bool { return d.usedIdx() != d.usedSeen }, 5*time.Second, 100*time.Microsecond,
		"device never used the buffer (status %#x, err %v)", d.r32(abi.VirtioMMIOStatus), d.m.Err())
	e := d.mem[d.used+4+8*uint64(d.usedSeen%d.size):]
	d.usedSeen++
	return binary.LittleEndian.Uint32(e), binary.LittleEndian.Uint32(e[4:])
}

// guestMemory returns anonymous mmap'd memory like the launcher's: the race
// detector does not track it, just as it cannot see the real guest's
// accesses, so tests may poll rings the device workers write.
func guestMemory(t testing.TB, size int) []byte {
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	require.NoError(t, err)
	t.Cleanup(func() { unix.Munmap(mem) })
	return mem
}

const (
	timeout = 5 * time.Second
	tick    = 100 * time.Microsecond
)
