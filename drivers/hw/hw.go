package hw

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"github.com/unigo-os/unigo/abi"
)

// ErrNotUnigo is returned when the program does not run on the unigo
// kernel (the private system calls answer ENOSYS).
var ErrNotUnigo = errors.New("hw: not running on the unigo kernel")

func sysErr(op string, e syscall.Errno) error {
	if e == syscall.ENOSYS {
		return ErrNotUnigo
	}
	return fmt.Errorf("hw: %s: %w", op, e)
}

// VirtioMMIO is one virtio-mmio device window and its interrupt line.
type VirtioMMIO struct {
	Base uint64 // physical address of the registers
	Size uint64
	GSI  int // IOAPIC input
}

func (d VirtioMMIO) String() string {
	return fmt.Sprintf("virtio-mmio %#x+%#x irq %d", d.Base, d.Size, d.GSI)
}

// VirtioMMIODevices returns the virtio-mmio devices the kernel knows.
func VirtioMMIODevices() ([]VirtioMMIO, error) {
	var buf [32]abi.VirtioMMIODevice
	n, _, e := syscall.Syscall(abi.SysVirtioMMIODevices, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0)
	if e != 0 {
		return nil, sysErr("virtio-mmio device list", e)
	}
	n = min(n, uintptr(len(buf)))
	out := make([]VirtioMMIO, n)
	for i := range out {
		out[i] = VirtioMMIO{Base: buf[i].Base, Size: buf[i].Size, GSI: int(buf[i].GSI)}
	}
	return out, nil
}

// MMIO is a mapped register window. Offsets are checked against its size:
// an out-of-range access panics (a driver bug, not device input).
type MMIO struct {
	base, size uintptr
}

// MapMMIO maps size bytes of device registers at physical address phys.
func MapMMIO(phys uint64, size uint64) (MMIO, error) {
	va, _, e := syscall.Syscall(abi.SysMapMMIO, uintptr(phys), uintptr(size), 0)
	if e != 0 {
		return MMIO{}, sysErr(fmt.Sprintf("map MMIO %#x+%#x", phys, size), e)
	}
	return MMIO{base: va, size: uintptr(size)}, nil
}

func (m MMIO) addr(off, width uintptr) uintptr {
	if off+width > m.size || off%width != 0 {
		panic(fmt.Sprintf("hw: MMIO access %#x/%d outside a %#x-byte window", off, width, m.size))
	}
	return m.base + off
}

// Read8, Read16, Read32, Write8, Write16 and Write32 access one register.
func (m MMIO) Read8(off uintptr) uint8       { return load8(m.addr(off, 1)) }
func (m MMIO) Read16(off uintptr) uint16     { return load16(m.addr(off, 2)) }
func (m MMIO) Read32(off uintptr) uint32     { return load32(m.addr(off, 4)) }
func (m MMIO) Write8(off uintptr, v uint8)   { store8(m.addr(off, 1), v) }
func (m MMIO) Write16(off uintptr, v uint16) { store16(m.addr(off, 2), v) }
func (m MMIO) Write32(off uintptr, v uint32) { store32(m.addr(off, 4), v) }

// The accessors are not inlined, so each is exactly one load or store
// that the compiler can neither merge with a neighbour nor drop as dead
// (a register written twice in a row, such as a selector, must be).

//go:noinline
func load8(a uintptr) uint8 { return *(*uint8)(ptr(a)) }

//go:noinline
func load16(a uintptr) uint16 { return *(*uint16)(ptr(a)) }

//go:noinline
func load32(a uintptr) uint32 { return *(*uint32)(ptr(a)) }

//go:noinline
func store8(a uintptr, v uint8) { *(*uint8)(ptr(a)) = v }

//go:noinline
func store16(a uintptr, v uint16) { *(*uint16)(ptr(a)) = v }

//go:noinline
func store32(a uintptr, v uint32) { *(*uint32)(ptr(a)) = v }

// ptr turns a kernel-provided address (device window or DMA block, both
// outside the Go heap) into a pointer. go vet's unsafeptr check cannot
// know these addresses are not Go memory; the project runs vet with
// -unsafeptr=false.
func ptr(a uintptr) unsafe.Pointer { return unsafe.Pointer(a) }

// DMA is a block of device-visible memory.
type DMA struct {
	// Phys is the physical (bus) address to give the device.
	Phys uint64
	// Bytes is the memory itself; it stays valid until Free.
	Bytes []byte
	size  uintptr
}

// MaxDMA is the largest block AllocDMA returns.
const MaxDMA = abi.DMAMaxSize

// AllocDMA returns a zeroed, physically contiguous block of size bytes
// (at most MaxDMA), aligned to the next power of two of at least 4 KiB.
func AllocDMA(size int) (*DMA, error) {
	if size <= 0 || size > MaxDMA {
		return nil, fmt.Errorf("hw: DMA block of %d bytes: want 1..%d", size, MaxDMA)
	}
	p, _, e := syscall.Syscall(abi.SysDMAAlloc, uintptr(size), 0, 0)
	if e != 0 {
		return nil, sysErr(fmt.Sprintf("allocate %d bytes of DMA memory", size), e)
	}
	return &DMA{Phys: uint64(p), Bytes: unsafe.Slice((*byte)(ptr(p)), size), size: uintptr(size)}, nil
}

// Free returns the block to the kernel. The device must no longer use it.
func (d *DMA) Free() error {
	if d.Bytes == nil {
		return nil
	}
	_, _, e := syscall.Syscall(abi.SysDMAFree, uintptr(d.Phys), d.size, 0)
	d.Bytes = nil
	if e != 0 {
		return sysErr("free DMA memory", e)
	}
	return nil
}

// IRQ is an interrupt line attached to this driver.
type IRQ struct {
	gsi   int
	level bool
	f     *os.File
	buf   [8]byte
}

// AttachIRQ routes IOAPIC input gsi to the driver. level selects
// level-triggered, active-high delivery (else edge). On a level-triggered
// line the kernel masks the input each time it fires: the driver
// acknowledges its device, then calls Unmask. On a host that ends
// interrupts on delivery (PVM) the kernel serves level lines as edge and
// Unmask does nothing, so a driver must acknowledge its device before it
// looks for work after each wake-up (kernel/host.go).
func AttachIRQ(gsi int, level bool) (*IRQ, error) {
	flags := uintptr(abi.IRQNonblock | abi.IRQCloexec)
	if level {
		flags |= abi.IRQLevel
	}
	fd, _, e := syscall.Syscall(abi.SysIRQAttach, uintptr(gsi), flags, 0)
	if e != 0 {
		return nil, sysErr(fmt.Sprintf("attach irq %d", gsi), e)
	}
	// Non-blocking, so os.File polls it through the runtime's netpoller.
	return &IRQ{gsi: gsi, level: level, f: os.NewFile(fd, fmt.Sprintf("irq%d", gsi))}, nil
}

// Wait blocks the calling goroutine (not its thread) until the line has
// fired at least once since the last Wait, and returns how many times it
// fired. It fails once Close has been called.
func (q *IRQ) Wait() (uint64, error) {
	n, err := q.f.Read(q.buf[:])
	if err != nil {
		return 0, err
	}
	if n != 8 {
		return 0, fmt.Errorf("hw: irq %d: short read of %d bytes", q.gsi, n)
	}
	return uint64(q.buf[0]) | uint64(q.buf[1])<<8 | uint64(q.buf[2])<<16 | uint64(q.buf[3])<<24 |
		uint64(q.buf[4])<<32 | uint64(q.buf[5])<<40 | uint64(q.buf[6])<<48 | uint64(q.buf[7])<<56, nil
}

// Unmask re-enables a level-triggered line after the driver has
// acknowledged its device. It does nothing on an edge-triggered line.
func (q *IRQ) Unmask() error {
	if !q.level {
		return nil
	}
	if _, _, e := syscall.Syscall(abi.SysIRQUnmask, uintptr(q.gsi), 0, 0); e != 0 {
		return sysErr(fmt.Sprintf("unmask irq %d", q.gsi), e)
	}
	return nil
}

// Close masks the line, detaches it and wakes a goroutine blocked in Wait.
func (q *IRQ) Close() error {
	_, _, e := syscall.Syscall(abi.SysIRQDetach, uintptr(q.gsi), 0, 0)
	err := q.f.Close()
	if e != 0 {
		return sysErr(fmt.Sprintf("detach irq %d", q.gsi), e)
	}
	return err
}
