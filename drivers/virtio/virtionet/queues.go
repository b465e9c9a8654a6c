package virtionet

import (
	"github.com/unigo-os/unigo/abi"
	"sync"

	"github.com/unigo-os/unigo/drivers/hw"
	"github.com/unigo-os/unigo/drivers/virtio"
)

// slab carves fixed-size cells out of DMA blocks.
type slab struct {
	cellSize int
	blocks   []*hw.DMA
	cells    [][]byte // cell i's memory
	phys     []uint64 // and its physical address
}

func newSlab(cellSize, n int) (*slab, error) {
	s := &slab{cellSize: cellSize}
	perBlock := hw.MaxDMA / cellSize
	for len(s.cells) < n {
		k := min(perBlock, n-len(s.cells))
		b, err := hw.AllocDMA(k * cellSize)
		if err != nil {
			s.free()
			return nil, err
		}
		s.blocks = append(s.blocks, b)
		for i := 0; i < k; i++ {
			s.cells = append(s.cells, b.Bytes[i*cellSize:(i+1)*cellSize])
			s.phys = append(s.phys, b.Phys+uint64(i*cellSize))
		}
	}
	return s, nil
}

func (s *slab) free() {
	for _, b := range s.blocks {
		b.Free()
	}
	s.blocks, s.cells, s.phys = nil, nil, nil
}

// rxQueue is a receive queue: one buffer per descriptor, the token being
// the buffer's index. Only the driver goroutine (and setup) touch it.
type rxQueue struct {
	q       *virtio.Queue
	bufs    *slab
	idle    []uint16 // buffers not given to the device
	merging int      // buffers still to come for the frame being merged
	mergeH  Header
	merged  []byte
	drop    bool // the frame being merged is being dropped
}

func newRXQueue(q *virtio.Queue, bufSize int) (*rxQueue, error) {
	s, err := newSlab(bufSize, q.Size())
	if err != nil {
		return nil, err
	}
	r := &rxQueue{q: q, bufs: s}
	for i := q.Size() - 1; i >= 0; i-- {
		r.idle = append(r.idle, uint16(i))
	}
	return r, nil
}

// fill gives every free buffer to the device (Kick publishes them).
func (r *rxQueue) fill() {
	for len(r.idle) > 0 {
		i := r.idle[len(r.idle)-1]
		b := virtio.Buffer{Addr: r.bufs.phys[i], Len: uint32(r.bufs.cellSize), Write: true}
		if r.q.Add(uint64(i), b) != nil {
			return
		}
		r.idle = r.idle[:len(r.idle)-1]
	}
}

// drain delivers up to budget received buffers, refills the queue and
// returns how many it took.
func (r *rxQueue) drain(d *Device, rx func(Header, []byte), budget int) int {
	got := 0
	for got < budget {
		tok, n, ok, err := r.q.Pop()
		if err != nil || !ok {
			break
		}
		got++
		// Pop checked tok (a buffer index we queued) and n <= cellSize.
		r.receive(d, r.bufs.cells[tok][:n], rx)
		r.idle = append(r.idle, uint16(tok))
	}
	if got > 0 {
		r.fill()
		d.kick(r.q)
	}
	return got
}

// maxMerged bounds a merged frame: a 64 KiB IP packet plus Ethernet
// (with a VLAN tag).
const maxMerged = 65535 + 18

// receive handles one used buffer b.
func (r *rxQueue) receive(d *Device, b []byte, rx func(Header, []byte)) {
	if r.merging > 0 { // a continuation buffer of a merged frame
		r.merging--
		if !r.drop && len(r.merged)+len(b) <= maxMerged {
			r.merged = append(r.merged, b...)
		} else {
			r.drop = true
		}
		if r.merging == 0 {
			r.deliver(d, r.mergeH, r.merged, r.drop, rx)
		}
		return
	}
	if len(b) < abi.VirtioNetHdrSize {
		d.stats.rxDropped.Add(1)
		return
	}
	h, nbuf := parseHeader(b)
	frame := b[abi.VirtioNetHdrSize:]
	if !d.offloads.MergeableRX || nbuf <= 1 {
		// Without MRG_RXBUF num_buffers is meaningless; with it, 0 is
		// a device bug we tolerate as 1.
		r.deliver(d, h, frame, false, rx)
		return
	}
	// A frame claiming more buffers than the queue holds is garbage:
	// its buffers are consumed and dropped.
	r.merging = int(nbuf) - 1
	r.mergeH = h
	r.merged = append(r.merged[:0], frame...)
	r.drop = int(nbuf) > r.q.Size()
}

func (r *rxQueue) deliver(d *Device, h Header, frame []byte, drop bool, rx func(Header, []byte)) {
	if drop || len(frame) == 0 {
		d.stats.rxDropped.Add(1)
		return
	}
	d.stats.rxFrames.Add(1)
	d.stats.rxBytes.Add(uint64(len(frame)))
	if rx != nil {
		rx(h, frame)
	}
}

func (r *rxQueue) free() { r.bufs.free() }

// txQueue is a transmit queue. A frame is copied, header first, into a
// chain of cells; the token is the index of its first chain record.
type txQueue struct {
	mu    sync.Mutex
	q     *virtio.Queue
	cells *slab
	spare []uint16   // free cells
	recs  [][]uint16 // per in-flight chain: its cells (indexed by token)
	idle  []uint16   // free record indexes
}

const (
	txCellSize = 2048
	txCells    = 512 // 1 MiB per queue
)

func newTXQueue(q *virtio.Queue) (*txQueue, error) {
	s, err := newSlab(txCellSize, txCells)
	if err != nil {
		return nil, err
	}
	t := &txQueue{q: q, cells: s, recs: make([][]uint16, q.Size())}
	for i := txCells - 1; i >= 0; i-- {
		t.spare = append(t.spare, uint16(i))
	}
	for i := q.Size() - 1; i >= 0; i-- {
		t.idle = append(t.idle, uint16(i))
	}
	return t, nil
}

// reclaim takes back the chains the device has sent. Caller holds mu.
func (t *txQueue) reclaim() {
	for {
		tok, _, ok, err := t.q.Pop()
		if err != nil || !ok {
			return
		}
		t.spare = append(t.spare, t.recs[tok]...)
		t.recs[tok] = t.recs[tok][:0]
		t.idle = append(t.idle, uint16(tok))
	}
}

// add copies the frame into cells and queues it; the caller kicks the
// device. Caller holds mu.
func (t *txQueue) add(h Header, n int, parts [][]byte) error {
	t.reclaim()
	if err := t.q.Broken(); err != nil {
		return virtio.ErrBroken
	}
	need := (abi.VirtioNetHdrSize + n + txCellSize - 1) / txCellSize
	if need > len(t.spare) || need > t.q.Free() || len(t.idle) == 0 {
		return ErrQueueFull
	}
	rec := t.idle[len(t.idle)-1]
	cells := t.spare[len(t.spare)-need:]
	var bufs [64]virtio.Buffer // a 64 KiB frame needs 33 cells
	ci, off := 0, abi.VirtioNetHdrSize
	h.put(t.cells.cells[cells[0]])
	for _, p := range parts {
		for len(p) > 0 {
			if off == txCellSize {
				ci, off = ci+1, 0
			}
			k := copy(t.cells.cells[cells[ci]][off:], p)
			p, off = p[k:], off+k
		}
	}
	total := abi.VirtioNetHdrSize + n
	for i, c := range cells {
		l := min(txCellSize, total-i*txCellSize)
		bufs[i] = virtio.Buffer{Addr: t.cells.phys[c], Len: uint32(l)}
	}
	if err := t.q.Add(uint64(rec), bufs[:need]...); err != nil {
		return err
	}
	t.recs[rec] = append(t.recs[rec][:0], cells...)
	t.spare = t.spare[:len(t.spare)-need]
	t.idle = t.idle[:len(t.idle)-1]
	return nil
}

func (t *txQueue) free() { t.cells.free() }
