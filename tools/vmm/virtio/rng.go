package virtio

import (
	"errors"
	"github.com/unigo-os/unigo/abi"
	"sync"

	"golang.org/x/sys/unix"
)

// rngMaxRequest caps the bytes served per request so one huge buffer cannot
// monopolise the worker; the driver sees the short length and asks again.
const rngMaxRequest = 64 << 10

// RNG is the virtio entropy device (device ID 4): one request queue whose
// device-writable buffers it fills from the host's getrandom(2).
type RNG struct {
	// Source fills b with random bytes; nil means getrandom(2). Tests
	// replace it to get deterministic contents.
	Source func(b []byte) error

	stop chan struct{}
	wg   sync.WaitGroup
}

// NewRNG returns a virtio-rng device backed by getrandom(2).
func NewRNG() *RNG { return &RNG{} }

func (r *RNG) ID() uint32                          { return abi.VirtioDeviceRNG }
func (r *RNG) Features() uint64                    { return 0 }
func (r *RNG) NumQueues() int                      { return 1 }
func (r *RNG) QueueMax() uint16                    { return 256 }
func (r *RNG) ReadConfig(off uint64, data []byte)  { clear(data) } // no configuration space
func (r *RNG) WriteConfig(off uint64, data []byte) {}

// Activate starts the request queue's worker.
func (r *RNG) Activate(features uint64, mem []byte, queues []*Queue, irq Interrupter) error {
	if len(queues) != 1 || queues[0] == nil {
		return errors.New("virtio-rng: request queue not set up")
	}
	r.stop = make(chan struct{})
	r.wg.Add(1)
	go func(q *Queue, stop <-chan struct{}) {
		defer r.wg.Done()
		q.Serve(stop, irq, r.fill)
	}(queues[0], r.stop)
	return nil
}

// Reset stops the worker and waits for it.
func (r *RNG) Reset() {
	if r.stop != nil {
		close(r.stop)
		r.wg.Wait()
		r.stop = nil
	}
}

func (r *RNG) fill(c *Chain) (uint32, error) {
	var n int
	for _, s := range c.Segs {
		if !s.Writable {
			continue
		}
		b := s.Data[:min(len(s.Data), rngMaxRequest-n)]
		if err := r.read(b); err != nil {
			return 0, err
		}
		n += len(b)
		if n == rngMaxRequest {
			break
		}
	}
	return uint32(n), nil
}

func (r *RNG) read(b []byte) error {
	if r.Source != nil {
		return r.Source(b)
	}
	for len(b) > 0 {
		n, err := unix.Getrandom(b, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
