package virtio

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/unigo-os/unigo/abi"
	"golang.org/x/sys/unix"
)

// With only VIRTIO_BALLOON_F_PAGE_REPORTING offered the queues are inflateq
// and deflateq, which the device never serves (it keeps num_pages 0, so a
// driver has nothing to put there), then reporting_vq.
const (
	balloonReportingQ = 2
	balloonNumQueues  = 3
	balloonConfigSize = 8 // num_pages, actual
)

// Balloon is the virtio memory balloon (device ID 5) reduced to free page
// reporting (virtio spec 5.5.6.7): the driver names guest-physical ranges
// it does not use on the reporting queue and the device discards them
// from the host (madvise(MADV_DONTNEED) on guest memory), so guest RAM
// resident in the launcher follows what the guest uses rather than its
// high-water mark. PAGE_POISON is not offered: a discarded range's
// contents are undefined (zero for anonymous memory, the image's bytes
// where guest RAM maps the image file), and the driver clears a reported
// page before using it again.
//
// Each range must lie wholly within guest RAM (arch.InRAM, like every
// address a device touches), be page-aligned and a non-zero multiple of the
// page size; other ranges are refused and counted without touching memory.
// A report with a device-readable buffer breaks the protocol: nothing in it
// is discarded and the device needs reset.
type Balloon struct {
	// Stats counts reports, discarded ranges and bytes, and refused ranges.
	Stats BalloonStats

	// discard releases b, a page-aligned part of guest memory; nil means
	// madvise(MADV_DONTNEED). Tests replace it.
	discard func(b []byte) error

	actual atomic.Uint32 // config actual, as the driver last wrote it
	stop   chan struct{}
	wg     sync.WaitGroup
}

// BalloonStats are a Balloon's counters.
type BalloonStats struct {
	Reports, Ranges, Bytes, Refused atomic.Uint64
}

// NewBalloon returns a free-page-reporting balloon.
func NewBalloon() *Balloon { return &Balloon{} }

func (b *Balloon) ID() uint32       { return abi.VirtioDeviceBalloon }
func (b *Balloon) Features() uint64 { return abi.VirtioBalloonFPageReporting }
func (b *Balloon) NumQueues() int   { return balloonNumQueues }
func (b *Balloon) QueueMax() uint16 { return 256 }

// ReadConfig reads struct virtio_balloon_config: num_pages is always 0;
// actual is what the driver wrote.
func (b *Balloon) ReadConfig(off uint64, data []byte) {
	var cfg [balloonConfigSize]byte
	binary.LittleEndian.PutUint32(cfg[abi.VirtioBalloonCfgActual:], b.actual.Load())
	clear(data)
	if off < uint64(len(cfg)) {
		copy(data, cfg[off:])
	}
}

// WriteConfig stores the driver's writes to actual, the only writable field.
func (b *Balloon) WriteConfig(off uint64, data []byte) {
	var cfg [balloonConfigSize]byte
	binary.LittleEndian.PutUint32(cfg[abi.VirtioBalloonCfgActual:], b.actual.Load())
	for i, v := range data {
		if o := off + uint64(i); o >= abi.VirtioBalloonCfgActual && o < balloonConfigSize {
			cfg[o] = v
		}
	}
	b.actual.Store(binary.LittleEndian.Uint32(cfg[abi.VirtioBalloonCfgActual:]))
}

// Activate starts the reporting queue's worker if the driver negotiated
// VIRTIO_BALLOON_F_PAGE_REPORTING and made the queue ready.
func (b *Balloon) Activate(features uint64, mem []byte, queues []*Queue, irq Interrupter) error {
	if features&abi.VirtioBalloonFPageReporting == 0 || len(queues) <= balloonReportingQ || queues[balloonReportingQ] == nil {
		return nil
	}
	q := queues[balloonReportingQ]
	q.AddressesOnly()
	b.stop = make(chan struct{})
	b.wg.Add(1)
	go func(stop <-chan struct{}) {
		defer b.wg.Done()
		q.Serve(stop, irq, func(c *Chain) (uint32, error) { return 0, b.report(q.Index, c) })
	}(b.stop)
	return nil
}

// Reset stops the worker and waits for it.
func (b *Balloon) Reset() {
	if b.stop != nil {
		close(b.stop)
		b.wg.Wait()
		b.stop = nil
	}
}

// report discards the ranges of one free page report.
func (b *Balloon) report(queue int, c *Chain) error {
	for _, s := range c.Segs {
		if !s.Writable {
			b.Stats.Refused.Add(uint64(len(c.Segs)))
			return &ProtocolError{Queue: queue, Reason: fmt.Sprintf("free page report with a device-readable buffer %#x+%#x", s.Addr, s.Len)}
		}
	}
	b.Stats.Reports.Add(1)
	for _, s := range c.Segs {
		if s.Data == nil || s.Len == 0 || s.Addr%abi.VirtioBalloonPageSize != 0 || s.Len%abi.VirtioBalloonPageSize != 0 {
			b.Stats.Refused.Add(1)
			continue
		}
		if err := b.release(s.Data); err != nil {
			return fmt.Errorf("virtio-balloon: discard %#x+%#x: %w", s.Addr, s.Len, err)
		}
		b.Stats.Ranges.Add(1)
		b.Stats.Bytes.Add(s.Len)
	}
	return nil
}

func (b *Balloon) release(p []byte) error {
	if b.discard != nil {
		return b.discard(p)
	}
	return unix.Madvise(p, unix.MADV_DONTNEED)
}

// String summarises the counters.
func (b *Balloon) String() string {
	return fmt.Sprintf("free page reports %d, ranges discarded %d (%d KiB), ranges refused %d",
		b.Stats.Reports.Load(), b.Stats.Ranges.Load(), b.Stats.Bytes.Load()>>10, b.Stats.Refused.Load())
}
