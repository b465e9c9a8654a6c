package testguest

import (
	"encoding/binary"

	"github.com/unigo-os/unigo/abi"
)

// LoadAddr is where the test programs are linked (1 MiB, above the boot
// block and below Go's usual 4 MiB).
const LoadAddr = 0x100000

// 32-bit code fragments. Each is a complete instruction sequence.
var (
	// movDX loads a port number into DX (operand-size prefix + mov dx, imm16).
	movDX = func(port uint16) []byte { return []byte{0x66, 0xBA, byte(port), byte(port >> 8)} }
	// movEAX loads a 32-bit immediate.
	movEAX   = func(v uint32) []byte { return []byte{0xB8, byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }
	outDXAL  = []byte{0xEE}
	outDXEAX = []byte{0xEF}
	// hang is "cli; hlt; jmp hang".
	hang = []byte{0xFA, 0xF4, 0xEB, 0xFC}
)

// Print returns code writing s to COM1 one byte at a time.
func Print(s string) []byte {
	code := movDX(abi.PortCOM1)
	for i := 0; i < len(s); i++ {
		code = append(code, 0xB0, s[i]) // mov al, imm8
		code = append(code, outDXAL...)
	}
	return code
}

// Mark returns code writing the boot mark m to abi.PortBootMark.
func Mark(m uint8) []byte {
	code := movDX(abi.PortBootMark)
	code = append(code, 0xB0, m) // mov al, imm8
	return append(code, outDXAL...)
}

// Exit returns code writing code to the exit port (32-bit OUT) and then
// halting forever in case the monitor lets it continue.
func Exit(code uint32) []byte {
	b := append(movEAX(code), movDX(abi.PortExit)...)
	b = append(b, outDXEAX...)
	return append(b, hang...)
}

// ExitWithEAX returns code writing the current EAX to the exit port.
func ExitWithEAX() []byte {
	b := append(movDX(abi.PortExit), outDXEAX...)
	return append(b, hang...)
}

// Out32 returns code writing v to port with a 32-bit OUT.
func Out32(port uint16, v uint32) []byte {
	return append(append(movEAX(v), movDX(port)...), outDXEAX...)
}

// Hello prints "hi\n" and exits with code 7: the canonical test guest.
func Hello() []byte { return append(Print("hi\n"), Exit(7)...) }

// Hang spins forever with interrupts off (for timeout tests).
func Hang() []byte { return append([]byte{}, hang...) }

// Segment is one PT_LOAD segment of a Spec.
type Segment struct {
	Paddr    uint64
	Data     []byte
	Memsz    uint64 // 0 means len(Data)
	Writable bool   // PF_W, not PF_X (a data segment)
}

// Spec describes an image; the zero NoteDesc means "8-byte note".
type Spec struct {
	Segments []Segment
	Entry    uint64
	// NoteDesc is the PVH note descriptor size: 8 (default), 4, or -1 for
	// no PVH note at all.
	NoteDesc int
	// PageAligned puts each segment at a file offset congruent to its
	// Paddr modulo 4096, as a linker does, so that a launcher can map its
	// whole pages from the file.
	PageAligned bool
}

// Image returns a bootable image running code at LoadAddr.
func Image(code []byte) []byte {
	return Spec{Segments: []Segment{{Paddr: LoadAddr, Data: code}}, Entry: LoadAddr}.ELF()
}

// ELF encodes s as an ELF64 x86-64 executable: header, program headers,
// note, then segment data, each segment at a 16-byte-aligned file offset.
func (s Spec) ELF() []byte {
	const ehsize, phsize = 64, 56
	le := binary.LittleEndian
	nph := len(s.Segments)
	var note []byte
	if s.NoteDesc >= 0 {
		desc := s.NoteDesc
		if desc == 0 {
			desc = 8
		}
		note = make([]byte, 12+4+desc)
		le.PutUint32(note[0:], 4)
		le.PutUint32(note[4:], uint32(desc))
		le.PutUint32(note[8:], abi.XenElfnotePhys32Entry)
		copy(note[12:], "Xen\x00")
		var d [8]byte
		le.PutUint64(d[:], s.Entry)
		copy(note[16:], d[:]) // truncated to desc bytes
		note = append(note, make([]byte, (4-len(note)%4)%4)...)
		nph++
	}
	noteOff := ehsize + nph*phsize
	off := (noteOff + len(note) + 15) &^ 15
	out := make([]byte, off)

	copy(out, "\x7fELF")
	out[4], out[5], out[6] = 2, 1, 1 // ELFCLASS64, little-endian, EV_CURRENT
	le.PutUint16(out[16:], 2)        // ET_EXEC
	le.PutUint16(out[18:], 62)       // EM_X86_64
	le.PutUint32(out[20:], 1)
	le.PutUint64(out[24:], s.Entry)
	le.PutUint64(out[32:], ehsize) // phoff
	le.PutUint16(out[52:], ehsize)
	le.PutUint16(out[54:], phsize)
	le.PutUint16(out[56:], uint16(nph))
	le.PutUint16(out[58:], 64) // shentsize (no sections)

	// Lay out the segment data first so that the program headers can be
	// written into the final buffer.
	offs := make([]int, len(s.Segments))
	for i, seg := range s.Segments {
		for s.PageAligned && uint64(len(out))%4096 != seg.Paddr%4096 {
			out = append(out, 0)
		}
		offs[i] = len(out)
		out = append(out, seg.Data...)
		for len(out)%16 != 0 {
			out = append(out, 0)
		}
	}
	ph := ehsize
	for i, seg := range s.Segments {
		memsz := seg.Memsz
		if memsz == 0 {
			memsz = uint64(len(seg.Data))
		}
		flags := uint32(5) // R+X
		if seg.Writable {
			flags = 6 // R+W
		}
		le.PutUint32(out[ph:], 1) // PT_LOAD
		le.PutUint32(out[ph+4:], flags)
		le.PutUint64(out[ph+8:], uint64(offs[i]))
		le.PutUint64(out[ph+16:], seg.Paddr) // vaddr
		le.PutUint64(out[ph+24:], seg.Paddr) // paddr
		le.PutUint64(out[ph+32:], uint64(len(seg.Data)))
		le.PutUint64(out[ph+40:], memsz)
		le.PutUint64(out[ph+48:], 16)
		ph += phsize
	}
	if note != nil {
		le.PutUint32(out[ph:], 4)   // PT_NOTE
		le.PutUint32(out[ph+4:], 4) // R
		le.PutUint64(out[ph+8:], uint64(noteOff))
		le.PutUint64(out[ph+32:], uint64(len(note)))
		le.PutUint64(out[ph+40:], uint64(len(note)))
		le.PutUint64(out[ph+48:], 4)
		copy(out[noteOff:], note)
	}
	return out
}
