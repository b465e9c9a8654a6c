package arch

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"sort"

	"github.com/u-root/u-root/pkg/boot/kexec"

	"github.com/unigo-os/unigo/abi"
)

// ErrBadImage wraps every reason an image cannot be booted.
var ErrBadImage = errors.New("bad image")

// Image is a parsed PVH ELF image, not yet placed in guest memory.
type Image struct {
	// Entry is the PVH 32-bit entry point (guest-physical).
	Entry uint32
	// Segments are the PT_LOAD segments: Buf holds the file bytes
	// (p_filesz, aliasing the image data), Phys spans p_memsz at p_paddr.
	// The rest of Phys beyond Buf is zero-filled when loaded.
	Segments kexec.Segments
	// ReadOnly are the Phys ranges of the segments the program may not
	// write (no PF_W: text, read-only data).
	ReadOnly kexec.Ranges
}

// maxLoadSegments bounds the work a hostile image can ask for.
const maxLoadSegments = 64

func badImage(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadImage, fmt.Sprintf(format, args...))
}

// ParseImage validates a PVH ELF image the way QEMU's -kernel loader reads
// it: an ELF64 x86-64 file whose PT_LOAD segments are loaded at their
// physical addresses and whose PT_NOTE segments contain a "Xen" note of type
// XEN_ELFNOTE_PHYS32_ENTRY giving the 32-bit entry. It never allocates more
// than the size of data and never panics on malformed input.
func ParseImage(data []byte) (img *Image, err error) {
	if len(data) < 4 || !bytes.Equal(data[:4], []byte(elf.ELFMAG)) {
		return nil, badImage("not an ELF file")
	}
	// debug/elf is hardened against malformed input, but a launcher must
	// never die with a stack trace on a bad file, so contain any panic.
	defer func() {
		if r := recover(); r != nil {
			img, err = nil, badImage("malformed ELF file: %v", r)
		}
	}()
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, badImage("malformed ELF file: %v", err)
	}
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 || f.Data != elf.ELFDATA2LSB {
		return nil, badImage("not an x86-64 ELF64 file (class %v, machine %v)", f.Class, f.Machine)
	}
	img = &Image{}
	var entry uint64
	haveEntry := false
	nload := 0
	for i, p := range f.Progs {
		switch p.Type {
		case elf.PT_LOAD:
			nload++
			if nload > maxLoadSegments {
				return nil, badImage("more than %d PT_LOAD segments", maxLoadSegments)
			}
			if p.Filesz > p.Memsz {
				return nil, badImage("segment %d: file size %#x larger than memory size %#x", i, p.Filesz, p.Memsz)
			}
			if p.Off > uint64(len(data)) || p.Filesz > uint64(len(data))-p.Off {
				return nil, badImage("segment %d: truncated (file offset %#x + %#x beyond file size %#x)", i, p.Off, p.Filesz, len(data))
			}
			if p.Memsz == 0 {
				continue
			}
			if p.Paddr+p.Memsz < p.Paddr {
				return nil, badImage("segment %d: physical range %#x+%#x wraps around", i, p.Paddr, p.Memsz)
			}
			phys := kexec.Range{Start: uintptr(p.Paddr), Size: uint(p.Memsz)}
			img.Segments = append(img.Segments, kexec.NewSegment(data[p.Off:p.Off+p.Filesz], phys))
			if p.Flags&elf.PF_W == 0 {
				img.ReadOnly = append(img.ReadOnly, phys)
			}
		case elf.PT_NOTE:
			if haveEntry {
				continue
			}
			if p.Off > uint64(len(data)) || p.Filesz > uint64(len(data))-p.Off {
				return nil, badImage("note segment %d: truncated", i)
			}
			e, ok, err := abi.PVHEntryNote(data[p.Off:p.Off+p.Filesz], p.Align)
			if err != nil {
				return nil, badImage("note segment %d: %v", i, err)
			}
			entry, haveEntry = e, ok
		}
	}
	if !haveEntry {
		return nil, badImage("no PVH entry note (ELF note \"Xen\" type %d); is this a unigo image?", abi.XenElfnotePhys32Entry)
	}
	if len(img.Segments) == 0 {
		return nil, badImage("no loadable segments")
	}
	sort.Slice(img.Segments, func(i, j int) bool {
		return img.Segments[i].Phys.Start < img.Segments[j].Phys.Start
	})
	for i := 1; i < len(img.Segments); i++ {
		if img.Segments[i-1].Phys.Overlaps(img.Segments[i].Phys) {
			return nil, badImage("segments %v and %v overlap", img.Segments[i-1].Phys, img.Segments[i].Phys)
		}
	}
	if entry > 0xFFFFFFFF {
		return nil, badImage("PVH entry %#x is above 4 GiB", entry)
	}
	if !img.Segments.PhysContains(uintptr(entry)) {
		return nil, badImage("PVH entry %#x is not inside a loadable segment", entry)
	}
	img.Entry = uint32(entry)
	return img, nil
}
