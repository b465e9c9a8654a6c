package virtio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/unigo-os/unigo/abi"
	"golang.org/x/sys/unix"
)

// virtio-blk (virtio 1.2, 5.2): feature bits, request types and statuses.
const (
	BlkFRO    = 1 << 5 // VIRTIO_BLK_F_RO
	BlkFFlush = 1 << 9 // VIRTIO_BLK_F_FLUSH

	blkSector = 512

	blkTIn    = 0
	blkTOut   = 1
	blkTFlush = 4
	blkTGetID = 8

	blkSOK     = 0
	blkSIOErr  = 1
	blkSUnsupp = 2

	blkIDBytes = 20
)

// Block is the virtio block device (device ID 2), backed by a host file
// read and written with pread/pwrite; a flush is fdatasync. The device's
// size is the file's at open, in whole sectors (a partial last sector is
// not exposed). Nothing the guest puts in a request is trusted: the
// header's sector and the data's length are checked against the size, a
// request not framed as the spec says (a 16-byte header, data in whole
// sectors, a 1-byte status last) gets IOERR, and one with no writable
// byte for the status is returned unanswered.
type Block struct {
	f    *os.File
	size int64 // bytes, a multiple of blkSector
	ro   bool
	id   string

	stop chan struct{}
	wg   sync.WaitGroup
}

// OpenBlock opens path as a block device's backing file (read-only when
// ro). It refuses what is not a regular file or a block device.
func OpenBlock(path string, ro bool) (*Block, error) {
	flags := os.O_RDWR
	if ro {
		flags = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		return nil, err
	}
	return NewBlockFile(f, path, ro)
}

// NewBlockFile is OpenBlock for a file already open (by the jailer), with
// the access ro asks for; the Block owns f.
func NewBlockFile(f *os.File, path string, ro bool) (*Block, error) {
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() && st.Mode()&os.ModeDevice == 0 {
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file or a block device", path)
	}
	size, err := f.Seek(0, 2)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Block{f: f, size: size &^ (blkSector - 1), ro: ro, id: "unigo"}, nil
}

// Close closes the backing file.
func (b *Block) Close() error { return b.f.Close() }

// Size is the device's size in bytes.
func (b *Block) Size() int64 { return b.size }

func (b *Block) ID() uint32 { return abi.VirtioDeviceBlock }
func (b *Block) Features() uint64 {
	f := uint64(BlkFFlush)
	if b.ro {
		f |= BlkFRO
	}
	return f
}
func (b *Block) NumQueues() int   { return 1 }
func (b *Block) QueueMax() uint16 { return 256 }

// ReadConfig serves the configuration space: capacity (in sectors) at 0,
// the rest reads as zero.
func (b *Block) ReadConfig(off uint64, data []byte) {
	var cfg [8]byte
	binary.LittleEndian.PutUint64(cfg[:], uint64(b.size/blkSector))
	clear(data)
	if off < uint64(len(cfg)) {
		copy(data, cfg[off:])
	}
}
func (b *Block) WriteConfig(off uint64, data []byte) {}

// Activate starts the request queue's worker.
func (b *Block) Activate(features uint64, mem []byte, queues []*Queue, irq Interrupter) error {
	if len(queues) != 1 || queues[0] == nil {
		return errors.New("virtio-blk: request queue not set up")
	}
	b.stop = make(chan struct{})
	b.wg.Add(1)
	go func(q *Queue, stop <-chan struct{}) {
		defer b.wg.Done()
		q.Serve(stop, irq, b.handle)
	}(queues[0], b.stop)
	return nil
}

// Reset stops the worker and waits for it.
func (b *Block) Reset() {
	if b.stop != nil {
		close(b.stop)
		b.wg.Wait()
		b.stop = nil
	}
}

// handle serves one request chain and returns the bytes written into
// its device-writable segments. Errors in the request are the guest's
// and answered with a status; only host I/O errors become IOERR too: the
// device never fails as a whole.
func (b *Block) handle(c *Chain) (uint32, error) {
	// The status byte is the last writable byte of the chain.
	var status *byte
	var in [][]byte // device-writable data segments, status excluded
	for i := len(c.Segs) - 1; i >= 0; i-- {
		s := c.Segs[i]
		if !s.Writable {
			break
		}
		d := s.Data
		if status == nil && len(d) > 0 {
			status = &d[len(d)-1]
			d = d[:len(d)-1]
		}
		in = append([][]byte{d}, in...)
	}
	if status == nil {
		return 0, nil // nowhere to answer
	}
	var out [][]byte // device-readable segments
	for _, s := range c.Segs {
		if !s.Writable {
			out = append(out, s.Data)
		}
	}
	var hdr [16]byte
	rest, ok := gather(hdr[:], out)
	if !ok {
		*status = blkSIOErr
		return 1, nil
	}
	typ := binary.LittleEndian.Uint32(hdr[0:])
	sector := binary.LittleEndian.Uint64(hdr[8:])
	st, n := b.serve(typ, sector, rest, in)
	*status = st
	return uint32(n) + 1, nil
}

// serve performs one request: data to write in out, buffers to fill in
// in. It returns the status and the bytes written into in.
func (b *Block) serve(typ uint32, sector uint64, out, in [][]byte) (byte, int) {
	switch typ {
	case blkTIn:
		n := total(in)
		if !b.inRange(sector, n) {
			return blkSIOErr, 0
		}
		off := int64(sector) * blkSector
		done := 0
		for _, d := range in {
			if err := preadFull(b.f, d, off+int64(done)); err != nil {
				return blkSIOErr, done
			}
			done += len(d)
		}
		return blkSOK, done
	case blkTOut:
		if b.ro {
			return blkSIOErr, 0
		}
		n := total(out)
		if !b.inRange(sector, n) || total(in) != 0 {
			return blkSIOErr, 0
		}
		off := int64(sector) * blkSector
		for _, d := range out {
			if _, err := b.f.WriteAt(d, off); err != nil {
				return blkSIOErr, 0
			}
			off += int64(len(d))
		}
		return blkSOK, 0
	case blkTFlush:
		if b.ro {
			return blkSOK, 0
		}
		if err := unix.Fdatasync(int(b.f.Fd())); err != nil {
			return blkSIOErr, 0
		}
		return blkSOK, 0
	case blkTGetID:
		var id [blkIDBytes]byte
		copy(id[:], b.id)
		done := 0
		for _, d := range in {
			done += copy(d, id[done:])
		}
		return blkSOK, done
	}
	return blkSUnsupp, 0
}

// inRange reports whether n bytes at sector are whole sectors inside the
// device.
func (b *Block) inRange(sector uint64, n int) bool {
	if n%blkSector != 0 {
		return false
	}
	max := uint64(b.size / blkSector)
	return sector <= max && uint64(n/blkSector) <= max-sector
}

// gather fills dst from the front of segs and returns what follows it.
func gather(dst []byte, segs [][]byte) ([][]byte, bool) {
	got := 0
	for i, s := range segs {
		n := copy(dst[got:], s)
		got += n
		if got == len(dst) {
			rest := segs[i+1:]
			if n < len(s) {
				rest = append([][]byte{s[n:]}, rest...)
			}
			return rest, true
		}
	}
	return nil, false
}

func total(segs [][]byte) int {
	n := 0
	for _, s := range segs {
		n += len(s)
	}
	return n
}

// preadFull fills d from f at off; bytes past the file's end (a file
// that shrank under the VM) read as zero.
func preadFull(f *os.File, d []byte, off int64) error {
	n, err := f.ReadAt(d, off)
	if n < len(d) {
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		clear(d[n:])
	}
	return nil
}
