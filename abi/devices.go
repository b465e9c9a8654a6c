package abi

// Private system calls through which drivers (ordinary Go code at CPL 3,
// package drivers/hw) ask the kernel for device access. Linux never uses
// numbers this high, so the same binary run as a Linux process gets ENOSYS
// from each of them and its drivers report "not running on unigo".
//
// Arguments and results follow the Linux convention: RDI, RSI, RDX, R10 in,
// RAX out, negative errno on failure.
const (
	// SysDeviceFirst is the first private device system call.
	SysDeviceFirst = 0x1000

	// SysVirtioMMIODevices(buf *VirtioMMIODevice, n) copies up to n
	// entries of the virtio-mmio device list (from the command line's
	// virtio_mmio.device=SIZE@ADDR:IRQ entries) to buf and returns how
	// many devices there are in all.
	SysVirtioMMIODevices = SysDeviceFirst + 0

	// SysMapMMIO(phys, size) maps the device registers at [phys,
	// phys+size) uncached and returns their virtual address (phys
	// itself: MMIO is identity-mapped like RAM).
	SysMapMMIO = SysDeviceFirst + 1

	// SysDMAAlloc(size) returns a physically contiguous, zeroed, pinned
	// block of at least size bytes (at most DMAMaxSize), aligned to its
	// power-of-two size. Its virtual address equals its physical address.
	SysDMAAlloc = SysDeviceFirst + 2

	// SysDMAFree(addr, size) returns a block from SysDMAAlloc.
	SysDMAFree = SysDeviceFirst + 3

	// SysIRQAttach(gsi, flags) routes IOAPIC input gsi to a vector and
	// returns a new eventfd-style descriptor (8-byte reads return the
	// number of interrupts since the last read; epoll reports it readable
	// while that number is non-zero). flags: IRQLevel, IRQNonblock,
	// IRQCloexec. A level-triggered line is masked by the kernel each
	// time it fires and stays masked until SysIRQUnmask.
	SysIRQAttach = SysDeviceFirst + 4

	// SysIRQUnmask(gsi) unmasks a level-triggered line once the driver
	// has acknowledged its device. Harmless on an edge-triggered line.
	SysIRQUnmask = SysDeviceFirst + 5

	// SysIRQDetach(gsi) masks gsi and drops the kernel's reference to its
	// descriptor (the driver closes its own).
	SysIRQDetach = SysDeviceFirst + 6
)

// SysIRQAttach flags.
const (
	IRQLevel    = 1      // level-triggered, active high (else edge)
	IRQNonblock = 0o4000 // O_NONBLOCK on the descriptor
	IRQCloexec  = 0o2000000
)

// DMAMaxSize is the largest block SysDMAAlloc returns.
const DMAMaxSize = 64 << 10

// VirtioMMIODevice is one entry of the device list (24 bytes).
type VirtioMMIODevice struct {
	Base uint64 // physical address of the register window
	Size uint64 // its size in bytes
	GSI  uint32 // IOAPIC input
	_    uint32
}

// VirtioMMIOParam is the kernel parameter key announcing a virtio-mmio
// device, in the syntax of Linux's virtio_mmio driver.
const VirtioMMIOParam = "virtio_mmio.device="

// ParseVirtioMMIO parses the value of a virtio_mmio.device parameter,
// SIZE@BASE:IRQ[:ID], where SIZE and BASE are C-style numbers (0x hex, 0
// octal, else decimal) and SIZE may end in K, M or G. The platform device
// ID Linux accepts after the IRQ is ignored. It does not allocate, so the
// kernel can use it.
func ParseVirtioMMIO(s []byte) (d VirtioMMIODevice, ok bool) {
	size, rest, ok := parseNumber(s)
	if !ok {
		return d, false
	}
	if len(rest) > 0 {
		shift := 0
		switch rest[0] {
		case 'k', 'K':
			shift = 10
		case 'm', 'M':
			shift = 20
		case 'g', 'G':
			shift = 30
		}
		if shift != 0 {
			if size > ^uint64(0)>>shift {
				return d, false
			}
			size <<= shift
			rest = rest[1:]
		}
	}
	if len(rest) == 0 || rest[0] != '@' || size == 0 {
		return d, false
	}
	base, rest, ok := parseNumber(rest[1:])
	if !ok || len(rest) == 0 || rest[0] != ':' || base+size < base {
		return d, false
	}
	irq, rest, ok := parseNumber(rest[1:])
	if !ok || irq > 0xffff {
		return d, false
	}
	if len(rest) > 0 {
		if rest[0] != ':' {
			return d, false
		}
		if _, tail, ok := parseNumber(rest[1:]); !ok || len(tail) != 0 {
			return d, false
		}
	}
	return VirtioMMIODevice{Base: base, Size: size, GSI: uint32(irq)}, true
}

// parseNumber reads a C-style unsigned number from the front of s.
func parseNumber(s []byte) (v uint64, rest []byte, ok bool) {
	base := uint64(10)
	i := 0
	switch {
	case len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'):
		base, i = 16, 2
	case len(s) > 1 && s[0] == '0' && s[1] >= '0' && s[1] <= '7':
		base, i = 8, 1
	}
	start := i
	for ; i < len(s); i++ {
		c := s[i]
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		case c >= 'A' && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			d = 99
		}
		if d >= base {
			break
		}
		if v > (^uint64(0)-d)/base {
			return 0, s, false
		}
		v = v*base + d
	}
	if i == start {
		return 0, s, false
	}
	return v, s[i:], true
}
