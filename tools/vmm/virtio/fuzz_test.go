package virtio

import (
	"encoding/binary"
	"errors"
	"github.com/unigo-os/unigo/abi"
	"testing"
)

// fuzzFeatures maps a fuzzer byte to the queue-relevant feature bits.
func fuzzFeatures(b uint8) uint64 {
	var f uint64
	if b&1 != 0 {
		f |= abi.VirtioFEventIdx
	}
	if b&2 != 0 {
		f |= abi.VirtioFIndirectDesc
	}
	return f
}

// seedRing returns a 1 KiB guest memory with a size-4 queue at desc 0,
// avail 64, used 128 holding chains of every shape.
func seedRing() []byte {
	mem := make([]byte, 1024)
	putDesc(mem, 0, 0, tdesc{addr: 512, len: 16, flags: abi.VirtqDescFNext, next: 1})
	putDesc(mem, 0, 1, tdesc{addr: 528, len: 16, flags: abi.VirtqDescFWrite})
	putDesc(mem, 0, 2, tdesc{addr: 768, len: 32, flags: abi.VirtqDescFIndirect})
	putDesc(mem, 768, 0, tdesc{addr: 600, len: 8, flags: abi.VirtqDescFNext | abi.VirtqDescFWrite, next: 1})
	putDesc(mem, 768, 1, tdesc{addr: 608, len: 8, flags: abi.VirtqDescFWrite})
	putDesc(mem, 0, 3, tdesc{addr: 640, len: 4, flags: abi.VirtqDescFWrite | abi.VirtqDescFNext, next: 3})
	for i, h := range []uint16{0, 2, 3, 1} {
		binary.LittleEndian.PutUint16(mem[64+4+2*i:], h)
	}
	binary.LittleEndian.PutUint16(mem[64+2:], 4)
	return mem
}

// FuzzVirtqueue feeds arbitrary guest memory and queue configurations to the
// split-queue code. It must never panic, never hang, and every chain it
// returns must lie inside guest memory with readable segments first.
func FuzzVirtqueue(f *testing.F) {
	f.Add(seedRing(), uint16(4), uint64(0), uint64(64), uint64(128), uint8(3), uint32(7))
	f.Add(seedRing(), uint16(4), uint64(0), uint64(64), uint64(128), uint8(0), uint32(0))
	f.Add(make([]byte, 64), uint16(1), uint64(0), uint64(16), uint64(32), uint8(1), uint32(1))
	f.Add([]byte{}, uint16(2), uint64(1<<63), uint64(2), uint64(4), uint8(2), uint32(0))
	f.Fuzz(func(t *testing.T, data []byte, size uint16, desc, avail, used uint64, feat uint8, written uint32) {
		mem := append([]byte(nil), data...)
		q, err := NewQueue(mem, 0, QueueConfig{Size: size, Desc: desc, Driver: avail, Device: used}, fuzzFeatures(feat))
		if err != nil {
			return
		}
		// Put writes into memory the driver rings may overlap, so bound the
		// loop instead of trusting the ring to drain.
		for range 4*int(size) + 8 {
			c, err := q.Next()
			if err != nil {
				var pe *ProtocolError
				if !errors.As(err, &pe) {
					t.Fatalf("error of type %T: %v", err, err)
				}
				return
			}
			if c == nil {
				break
			}
			if c.Head >= size {
				t.Fatalf("head %d out of range", c.Head)
			}
			if len(c.Segs) > int(size)+MaxIndirect {
				t.Fatalf("chain of %d segments", len(c.Segs))
			}
			w := false
			for _, s := range c.Segs {
				if !inRange(mem, s.Addr, uint64(len(s.Data))) {
					t.Fatalf("segment %#x+%#x outside memory of %d", s.Addr, len(s.Data), len(mem))
				}
				if w && !s.Writable {
					t.Fatal("readable after writable")
				}
				w = s.Writable
				if s.Writable && len(s.Data) > 0 {
					s.Data[0] ^= 0xff
				}
			}
			q.Put(c, written)
			q.NeedInterrupt()
		}
	})
}

// mmioWidths maps the width byte of an FuzzMMIO op to an access size.
var mmioWidths = []int{1, 2, 4, 8, 3}

// mmioOp is one step of FuzzMMIO, encoded in 8 bytes: kind, width index,
// offset (2 bytes) and a 32-bit value.
func mmioOp(kind uint8, width int, off uint16, v uint32) []byte {
	wi := byte(0)
	for i, w := range mmioWidths {
		if w == width {
			wi = byte(i)
		}
	}
	b := []byte{kind, wi, byte(off), byte(off >> 8), 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(b[4:], v)
	return b
}

// seedMMIO is a driver bringing up the rng and posting the seedRing chains.
func seedMMIO(feat uint64) []byte {
	var ops []byte
	w := func(off uint16, v uint32) { ops = append(ops, mmioOp(1, 4, off, v)...) }
	w(abi.VirtioMMIOStatus, 0)
	w(abi.VirtioMMIOStatus, 3)
	w(abi.VirtioMMIODriverFeaturesSel, 0)
	w(abi.VirtioMMIODriverFeatures, uint32(feat))
	w(abi.VirtioMMIODriverFeaturesSel, 1)
	w(abi.VirtioMMIODriverFeatures, uint32(feat>>32))
	w(abi.VirtioMMIOStatus, 11)
	w(abi.VirtioMMIOQueueSel, 0)
	w(abi.VirtioMMIOQueueNum, 4)
	w(abi.VirtioMMIOQueueDescLow, 0)
	w(abi.VirtioMMIOQueueDriverLow, 64)
	w(abi.VirtioMMIOQueueDeviceLow, 128)
	w(abi.VirtioMMIOQueueReady, 1)
	w(abi.VirtioMMIOStatus, 15)
	ops = append(ops, mmioOp(2, 0, 0, 0)...)
	ops = append(ops, mmioOp(0, 4, abi.VirtioMMIOInterruptStatus, 0)...)
	w(abi.VirtioMMIOInterruptACK, 3)
	// Re-publish: bump the avail index by a guest memory store.
	ops = append(ops, mmioOp(3, 2, 64+2, 8)...)
	w(abi.VirtioMMIOQueueNotify, 0)
	return ops
}

// syncRNG is the rng with its worker replaced by run, which the fuzzer calls
// after every notification so each input replays deterministically.
type syncRNG struct {
	RNG
	queues []*Queue
	irq    Interrupter
}

func (d *syncRNG) Activate(features uint64, mem []byte, queues []*Queue, irq Interrupter) error {
	if len(queues) != 1 || queues[0] == nil {
		return errors.New("no queue")
	}
	d.queues, d.irq = queues, irq
	return nil
}

func (d *syncRNG) Reset() { d.queues = nil }

func (d *syncRNG) run() {
	for i, q := range d.queues {
		if q == nil {
			continue
		}
		select {
		case <-q.Kicks():
			if _, err := q.Drain(d.irq, d.fill); err != nil {
				d.queues[i] = nil
			}
		default:
		}
	}
}

// FuzzMMIO drives the transport with arbitrary register accesses,
// notifications and guest memory stores while the rng's worker runs. It must
// never panic or hang, and a reset must always bring the device back. The
// rng worker runs synchronously so that every input replays exactly.
func FuzzMMIO(f *testing.F) {
	f.Add(seedMMIO(abi.VirtioFVersion1), seedRing())
	f.Add(seedMMIO(abi.VirtioFVersion1|abi.VirtioFEventIdx|abi.VirtioFIndirectDesc), seedRing())
	f.Add(seedMMIO(abi.VirtioFVersion1|abi.VirtioFIndirectDesc), make([]byte, 1024))
	f.Add(mmioOp(0, 4, abi.VirtioMMIOMagicValue, 0), []byte{})
	mem := make([]byte, 4096)
	f.Fuzz(func(t *testing.T, ops []byte, init []byte) {
		clear(mem)
		copy(mem, init)
		dev := &syncRNG{RNG: RNG{Source: func(b []byte) error { clear(b); return nil }}}
		m := NewMMIO(dev, mem, func() {})
		for len(ops) >= 8 {
			kind, width, off, v := ops[0], ops[1], uint64(binary.LittleEndian.Uint16(ops[2:])), binary.LittleEndian.Uint32(ops[4:])
			ops = ops[8:]
			buf := make([]byte, mmioWidths[int(width)%len(mmioWidths)])
			for i := range min(4, len(buf)) {
				buf[i] = byte(v >> (8 * i))
			}
			off %= MMIOSize + 0x100
			switch kind % 4 {
			case 0:
				m.Read(off, buf)
			case 1:
				m.Write(off, buf)
				dev.run() // a QueueNotify write
			case 2:
				m.Notify(v % 4)
				dev.run()
			case 3:
				// The guest scribbling on its own memory, rings included.
				off %= uint64(len(mem))
				copy(mem[off:], buf)
			}
		}
		// After a reset the device is as new.
		m.Write(abi.VirtioMMIOStatus, make([]byte, 4))
		var b [4]byte
		m.Read(abi.VirtioMMIOStatus, b[:])
		if binary.LittleEndian.Uint32(b[:]) != 0 {
			t.Fatalf("status %x after reset", b)
		}
	})
}
