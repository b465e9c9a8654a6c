package virtionet

import (
	"bytes"
	"encoding/binary"
	"github.com/unigo-os/unigo/abi"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/drivers/virtio"
)

// The queue logic runs on the host: rings and buffers are Go memory, and
// a buffer's "physical address" is its offset in one memory slice, so the
// test can play the device.

type hostMem struct {
	mem  []byte
	next int
}

func (m *hostMem) alloc(n int) ([]byte, uint64) {
	off := (m.next + 15) &^ 15
	m.next = off + n
	return m.mem[off : off+n : off+n], uint64(off)
}

func (m *hostMem) queue(t *testing.T, size int) (*virtio.Queue, []byte) {
	_, _, total := virtio.Layout(size)
	ring, phys := m.alloc(total)
	q, err := virtio.NewQueue(0, size, ring, phys, false, func(err error) { t.Errorf("device fault: %v", err) })
	require.NoError(t, err)
	return q, ring
}

func (m *hostMem) slab(cellSize, n int) *slab {
	s := &slab{cellSize: cellSize}
	for i := 0; i < n; i++ {
		b, p := m.alloc(cellSize)
		s.cells = append(s.cells, b)
		s.phys = append(s.phys, p)
	}
	return s
}

// takeChain reads the chain published at avail slot i: (head, buffers).
func takeChain(ring []byte, size, i int) (uint16, []virtio.Buffer) {
	le := binary.LittleEndian
	a, _, _ := virtio.Layout(size)
	head := le.Uint16(ring[a+4+2*(i%size):])
	var out []virtio.Buffer
	for id := head; ; {
		d := ring[16*int(id):]
		flags := le.Uint16(d[12:])
		out = append(out, virtio.Buffer{Addr: le.Uint64(d), Len: le.Uint32(d[8:]), Write: flags&2 != 0})
		if flags&1 == 0 {
			return head, out
		}
		id = le.Uint16(d[14:])
	}
}

func complete(ring []byte, size int, usedIdx *uint16, head uint16, n uint32) {
	le := binary.LittleEndian
	_, u, _ := virtio.Layout(size)
	slot := u + 4 + 8*int(*usedIdx%uint16(size))
	le.PutUint32(ring[slot:], uint32(head))
	le.PutUint32(ring[slot+4:], n)
	*usedIdx++
	le.PutUint16(ring[u+2:], *usedIdx)
}

func TestSendCopiesIntoCellChain(t *testing.T) {
	m := &hostMem{mem: make([]byte, 4<<20)}
	q, ring := m.queue(t, 64)
	tq := &txQueue{q: q, cells: m.slab(txCellSize, 16), recs: make([][]uint16, 64)}
	for i := 15; i >= 0; i-- {
		tq.spare = append(tq.spare, uint16(i))
	}
	for i := 63; i >= 0; i-- {
		tq.idle = append(tq.idle, uint16(i))
	}
	frame := make([]byte, 5000)
	for i := range frame {
		frame[i] = byte(i * 13)
	}
	h := Header{Flags: abi.VirtioNetHdrFNeedsCsum, GSOType: abi.VirtioNetHdrGSOTCPv4, HdrLen: 54, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	require.NoError(t, tq.add(h, len(frame), [][]byte{frame[:14], frame[14:3000], frame[3000:]}))
	q.Kick()
	assert.Len(t, tq.spare, 16-3, "12+5000 bytes take three 2 KiB cells")

	head, bufs := takeChain(ring, 64, 0)
	require.Len(t, bufs, 3)
	var got []byte
	for _, b := range bufs {
		assert.False(t, b.Write)
		got = append(got, m.mem[b.Addr:b.Addr+uint64(b.Len)]...)
	}
	require.Len(t, got, abi.VirtioNetHdrSize+len(frame))
	gh, nbuf := parseHeader(got)
	assert.Equal(t, h, gh)
	assert.Zero(t, nbuf)
	assert.True(t, bytes.Equal(frame, got[abi.VirtioNetHdrSize:]))

	// The device sends it; the next send reclaims the cells.
	var usedIdx uint16
	complete(ring, 64, &usedIdx, head, 0)
	require.NoError(t, tq.add(Header{}, 60, [][]byte{make([]byte, 60)}))
	assert.Len(t, tq.spare, 16-1)

	// Out of cells: ErrQueueFull, nothing leaked.
	for tq.add(Header{}, 4000, [][]byte{make([]byte, 4000)}) == nil {
	}
	spare, free := len(tq.spare), q.Free()
	assert.ErrorIs(t, tq.add(Header{}, 4000, [][]byte{make([]byte, 4000)}), ErrQueueFull)
	assert.Equal(t, spare, len(tq.spare))
	assert.Equal(t, free, q.Free())
}

type delivered struct {
	h     Header
	frame []byte
}

func newTestRX(t *testing.T, mergeable bool) (*Device, *rxQueue, *[]delivered, func(Header, []byte)) {
	m := &hostMem{mem: make([]byte, 1<<20)}
	q, _ := m.queue(t, 8)
	r := &rxQueue{q: q, bufs: m.slab(2048, 8)}
	d := &Device{offloads: Offloads{MergeableRX: mergeable}}
	var got []delivered
	return d, r, &got, func(h Header, f []byte) { got = append(got, delivered{h, bytes.Clone(f)}) }
}

func rxBuf(h Header, nbuf uint16, payload []byte) []byte {
	b := make([]byte, abi.VirtioNetHdrSize+len(payload))
	h.put(b)
	binary.LittleEndian.PutUint16(b[10:], nbuf)
	copy(b[abi.VirtioNetHdrSize:], payload)
	return b
}

func TestReceiveMergesBuffers(t *testing.T) {
	d, r, got, rx := newTestRX(t, true)
	h := Header{Flags: abi.VirtioNetHdrFDataValid, GSOType: abi.VirtioNetHdrGSOTCPv6, HdrLen: 74, GSOSize: 1440}
	r.receive(d, rxBuf(Header{}, 1, []byte("small")), rx)
	r.receive(d, rxBuf(h, 3, []byte("aaa")), rx)
	r.receive(d, []byte("bbbb"), rx)
	assert.Len(t, *got, 1, "not delivered before its last buffer")
	r.receive(d, []byte("cc"), rx)
	require.Len(t, *got, 2)
	assert.Equal(t, delivered{Header{}, []byte("small")}, (*got)[0])
	assert.Equal(t, delivered{h, []byte("aaabbbbcc")}, (*got)[1])
	assert.Equal(t, uint64(2), d.Stats().RXFrames)
}

func TestReceiveDropsGarbage(t *testing.T) {
	d, r, got, rx := newTestRX(t, true)
	r.receive(d, []byte{1, 2, 3}, rx) // runt: shorter than the header
	r.receive(d, rxBuf(Header{}, 1, nil), rx)
	// A frame claiming 9 buffers on an 8-entry queue: its buffers are
	// consumed and dropped, and the frame after it arrives intact.
	r.receive(d, rxBuf(Header{}, 9, []byte("x")), rx)
	for i := 0; i < 8; i++ {
		r.receive(d, []byte("junk"), rx)
	}
	assert.Empty(t, *got)
	r.receive(d, rxBuf(Header{}, 1, []byte("ok")), rx)
	require.Len(t, *got, 1)
	assert.Equal(t, []byte("ok"), (*got)[0].frame)
	assert.Equal(t, uint64(3), d.Stats().RXDropped)

	// A merged frame over 64 KiB is dropped whole.
	r.receive(d, rxBuf(Header{}, 2, make([]byte, 40000)), rx)
	r.receive(d, make([]byte, 40000), rx)
	assert.Len(t, *got, 1)
	assert.Equal(t, uint64(4), d.Stats().RXDropped)
}

func TestReceiveWithoutMergeableIgnoresCount(t *testing.T) {
	d, r, got, rx := newTestRX(t, false)
	r.receive(d, rxBuf(Header{}, 5, []byte("frame")), rx)
	require.Len(t, *got, 1)
	assert.Equal(t, []byte("frame"), (*got)[0].frame)
}
