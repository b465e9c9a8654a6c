package virtio

import (
	"encoding/binary"
	"errors"
	"github.com/unigo-os/unigo/abi"
	"testing"
)

// Fuzzing virtio-net's packet path: the guest controls every byte of its
// memory (descriptor tables, rings, virtio-net headers, frames) and the
// backend delivers arbitrary frames. The device must never panic, never
// hang, never touch memory outside the guest's, never hand the backend a
// frame outside [14, MaxFrame] bytes, and report ring violations only as
// *ProtocolError.

// Fixed queue placement inside the fuzzed memory; the fuzzer owns the
// contents.
const (
	fzMem     = 8192
	fzTXDesc  = 0
	fzTXAvail = 0x200
	fzTXUsed  = 0x300
	fzRXDesc  = 0x400
	fzRXAvail = 0x600
	fzRXUsed  = 0x700
	fzQSize   = 8
)

// recordBackend keeps the frames the device transmits.
type recordBackend struct{ frames [][]byte }

func (b *recordBackend) ReadFrame([]byte) (int, error) { select {} }
func (b *recordBackend) WriteFrame(f []byte) error {
	b.frames = append(b.frames, append([]byte(nil), f...))
	return nil
}

// failInterrupter records Fail calls.
type failInterrupter struct{ err error }

func (f *failInterrupter) Used(q *Queue)  { q.NeedInterrupt() }
func (f *failInterrupter) Fail(err error) { f.err = err }

// offloadRecordBackend is a recordBackend whose frames carry headers.
type offloadRecordBackend struct{ recordBackend }

func (*offloadRecordBackend) SetOffloads(csum, tso4, tso6, ecn bool) error { return nil }

// fuzzNetFeatures maps a fuzzer byte to negotiated features. Bit 6 picks
// an offload backend, bit 7 ChecksumsValid.
func fuzzNetFeatures(b uint8) uint64 {
	f := uint64(abi.VirtioFVersion1)
	for i, bit := range []uint64{abi.VirtioNetFCsum, abi.VirtioNetFGuestCsum, abi.VirtioNetFMrgRxbuf, abi.VirtioFEventIdx, abi.VirtioFIndirectDesc, netOffloadFeatures} {
		if b&(1<<i) != 0 {
			f |= bit
		}
	}
	return f
}

// seedNetMemory lays out well-formed transmit and receive rings: two
// transmit requests (one with a NEEDS_CSUM header, split over two
// descriptors) and four 64-byte receive buffers.
func seedNetMemory() []byte {
	mem := make([]byte, fzMem)
	f, start, off := udpPacket([]byte("seed payload"))
	hdr := mem[0x1000 : 0x1000+abi.VirtioNetHdrSize]
	hdr[0] = abi.VirtioNetHdrFNeedsCsum
	binary.LittleEndian.PutUint16(hdr[6:], start)
	binary.LittleEndian.PutUint16(hdr[8:], off)
	copy(mem[0x1100:], f)
	putDesc(mem, fzTXDesc, 0, tdesc{addr: 0x1000, len: abi.VirtioNetHdrSize, flags: abi.VirtqDescFNext, next: 1})
	putDesc(mem, fzTXDesc, 1, tdesc{addr: 0x1100, len: uint32(len(f))})
	copy(mem[0x1300+abi.VirtioNetHdrSize:], testFrame(60))
	putDesc(mem, fzTXDesc, 2, tdesc{addr: 0x1300, len: abi.VirtioNetHdrSize + 60})
	binary.LittleEndian.PutUint16(mem[fzTXAvail+4:], 0)
	binary.LittleEndian.PutUint16(mem[fzTXAvail+6:], 2)
	binary.LittleEndian.PutUint16(mem[fzTXAvail+2:], 2)
	for i := range uint16(4) {
		putDesc(mem, fzRXDesc, i, tdesc{addr: 0x1800 + 64*uint64(i), len: 64, flags: abi.VirtqDescFWrite})
		binary.LittleEndian.PutUint16(mem[fzRXAvail+4+2*uint64(i):], i)
	}
	binary.LittleEndian.PutUint16(mem[fzRXAvail+2:], 4)
	return mem
}

func FuzzNetPath(f *testing.F) {
	seed := seedNetMemory()
	f.Add(seed, uint8(0x1f), testFrame(100))
	f.Add(seed, uint8(0x00), testFrame(20))
	f.Add(seed, uint8(0x04), testFrame(300))
	f.Add(seed, uint8(0x01), []byte{1, 2, 3})
	f.Add(make([]byte, 16), uint8(0xff), []byte{})
	gso := append([]byte{abi.VirtioNetHdrFNeedsCsum, abi.VirtioNetHdrGSOTCPv4, 54, 0, 0xa8, 5, 34, 0, 16, 0, 0, 0}, testFrame(100)...)
	f.Add(seed, uint8(0x63), gso)
	f.Add(seed, uint8(0x7f), gso)
	f.Fuzz(func(t *testing.T, data []byte, feat uint8, frame []byte) {
		mem := make([]byte, fzMem)
		copy(mem, data)
		features := fuzzNetFeatures(feat)
		be := &offloadRecordBackend{}
		dev := &Net{mac: testMAC, mtu: 1500, backend: be, ChecksumsValid: feat&0x80 != 0}
		if feat&0x40 != 0 {
			dev.offload = be
		}

		// Transmit: drain whatever the guest queued.
		txq, err := NewQueue(mem, NetQueueTX, QueueConfig{Size: fzQSize, Desc: fzTXDesc, Driver: fzTXAvail, Device: fzTXUsed}, features)
		if err != nil {
			t.Fatal(err)
		}
		tx := &netTX{n: dev, features: features, buf: make([]byte, abi.VirtioNetHdrSize+MaxFrame)}
		irq := &failInterrupter{}
		for range 4 {
			more, err := txq.Drain(irq, tx.send)
			if err != nil {
				var pe *ProtocolError
				if !errors.As(err, &pe) {
					t.Fatalf("transmit error of type %T: %v", err, err)
				}
				break
			}
			if !more {
				break
			}
		}
		for _, fr := range be.frames {
			if dev.offload != nil {
				if len(fr) < abi.VirtioNetHdrSize+minFrame || len(fr) > abi.VirtioNetHdrSize+MaxFrame {
					t.Fatalf("offload backend got a %d-byte packet", len(fr))
				}
				if !headerAllowed(fr, features&abi.VirtioNetFCsum != 0, features&abi.VirtioNetFHostTSO4 != 0,
					features&abi.VirtioNetFHostTSO6 != 0, features&abi.VirtioNetFHostECN != 0) {
					t.Fatalf("offload backend got a header asking for more than negotiated: % x", fr[:abi.VirtioNetHdrSize])
				}
			} else if len(fr) < minFrame || len(fr) > MaxFrame {
				t.Fatalf("backend got a %d-byte frame", len(fr))
			}
		}

		// Receive: deliver the fuzzed packet (if the backend reader would
		// pass it on) a few times. For a plain backend the reader puts a
		// zero header in front; an offload backend's header is the
		// fuzzer's.
		if dev.offload == nil {
			frame = append(make([]byte, abi.VirtioNetHdrSize), frame...)
		}
		if len(frame) < abi.VirtioNetHdrSize+minFrame || len(frame) > abi.VirtioNetHdrSize+MaxFrame {
			return
		}
		rxq, err := NewQueue(mem, NetQueueRX, QueueConfig{Size: fzQSize, Desc: fzRXDesc, Driver: fzRXAvail, Device: fzRXUsed}, features)
		if err != nil {
			t.Fatal(err)
		}
		rx := &netRX{n: dev, q: rxq, irq: irq, features: features}
		for range 3 {
			pkt := append([]byte(nil), frame...)
			delivered := dev.Stats.RXFrames.Load()
			done, err := rx.deliver(pkt)
			delivered = dev.Stats.RXFrames.Load() - delivered
			if err != nil {
				var pe *ProtocolError
				if !errors.As(err, &pe) {
					t.Fatalf("receive error of type %T: %v", err, err)
				}
				return
			}
			if !done {
				return
			}
			if len(rx.held) > int(rxq.Size) {
				t.Fatalf("holding %d chains of a %d-entry ring", len(rx.held), rxq.Size)
			}
			if !headerAllowed(pkt, features&abi.VirtioNetFGuestCsum != 0, features&abi.VirtioNetFGuestTSO4 != 0,
				features&abi.VirtioNetFGuestTSO6 != 0, features&abi.VirtioNetFGuestECN != 0) && delivered > 0 {
				t.Fatalf("driver got a header asking for more than negotiated: % x", pkt[:abi.VirtioNetHdrSize])
			}
		}
	})
}
