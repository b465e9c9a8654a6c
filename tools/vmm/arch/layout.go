package arch

import (
	"fmt"

	"github.com/u-root/u-root/pkg/boot/kexec"
)

// Guest-physical layout. RAM starts at 0; what does not fit below the 32-bit
// MMIO hole continues at 4 GiB, like QEMU's microvm and Firecracker.
const (
	// LowMemEnd is the end of RAM below 4 GiB; the hole above it holds
	// virtio-mmio devices, the LAPIC/IOAPIC and KVM's private pages.
	LowMemEnd = 0xC000_0000
	// HighMemStart is where RAM beyond LowMemEnd continues.
	HighMemStart = 1 << 32

	// MMIOBase is the first virtio-mmio device; each gets MMIOSize bytes.
	MMIOBase = 0xD000_0000
	MMIOSize = 0x1000
	// MMIOMaxDevices keeps device IRQs (5+i) within the IOAPIC's 24 pins.
	MMIOMaxDevices = 19
	// MMIOFirstIRQ is the IRQ (= GSI) of device 0.
	MMIOFirstIRQ = 5

	// TSSAddr and IdentityMapAddr are the pages Intel VMX needs for its
	// real-mode and unpaged-protected-mode emulation; they sit in the hole
	// just below the BIOS area like QEMU's.
	TSSAddr         = 0xFFFB_D000
	IdentityMapAddr = 0xFFFB_C000

	// MinMemory is the smallest -m accepted.
	MinMemory = 2 << 20
	// MaxMemory bounds -m; guest RAM is mapped MAP_NORESERVE so this only
	// limits address space, not host memory.
	MaxMemory = 1 << 40

	// bootInfoLimit: the boot block lives below 1 MiB, where no image
	// loads (Go images load at 4 MiB), as on QEMU and Firecracker. The
	// first page is left alone so a null pointer in the guest stays
	// obviously wrong.
	bootInfoMin   = 0x1000
	bootInfoLimit = 0xA0000
)

// Prefault is the guest RAM the launcher backs with host pages before the
// guest runs: the RAM between the boot area and a Go image's load address
// (4 MiB), where the kernel's allocator (kernel/kmem) hands out its first
// frames (page tables, stacks, the runtime's first heap). Under shadow
// paging (PVM) a first touch of a page the host has not yet backed costs
// a host fault and a shadow fault for that page alone; once backed and
// writable, each shadow fault also maps up to seven present neighbours
// (KVM's PTE prefetch). What the guest has not used by its first idle it
// gives back (abi.PortPrefaultDone). docs/BENCHMARKS.md ("Prefaulted boot
// RAM") has the figures.
var Prefault = kexec.Range{Start: 1 << 20, Size: 3 << 20}

// PrefaultRange returns Prefault clipped to guest RAM of memSize bytes and
// to below the first segment that lies in it: segments are the image's,
// whose pages are mapped from its file, and populating them for writing
// would copy them. Empty when nothing is left.
func (l *Layout) PrefaultRange(memSize uint64) (start, end uint64) {
	start, end = uint64(Prefault.Start), min(uint64(Prefault.End()), memSize)
	for _, s := range l.Memory.Segments {
		if uint64(s.Phys.Start) < end && uint64(s.Phys.End()) > start {
			end = max(start, uint64(s.Phys.Start)&^0xfff)
		}
	}
	return start, max(start, end)
}

// RAM returns the guest-physical RAM ranges for size bytes of guest memory.
func RAM(size uint64) kexec.Ranges {
	if size <= LowMemEnd {
		return kexec.Ranges{{Start: 0, Size: uint(size)}}
	}
	return kexec.Ranges{
		{Start: 0, Size: LowMemEnd},
		{Start: HighMemStart, Size: uint(size - LowMemEnd)},
	}
}

// MappingSize is the length of the host mapping that backs size bytes of
// guest RAM with guest-physical address == offset in the mapping. When RAM
// continues above 4 GiB, the hole is part of the mapping but never touched
// (and never mapped into the guest), which costs address space only.
func MappingSize(size uint64) uint64 {
	if size <= LowMemEnd {
		return size
	}
	return HighMemStart + size - LowMemEnd
}

// InRAM reports whether [addr, addr+n) lies within one RAM range of a
// guest memory mapping of mapLen bytes (MappingSize): inside the mapping,
// without overflow, and outside the [LowMemEnd, HighMemStart) hole, which
// is mapped but is not guest RAM. Every guest address the device model
// touches is checked with it.
func InRAM(mapLen, addr, n uint64) bool {
	if addr > mapLen || n > mapLen-addr {
		return false
	}
	return mapLen <= LowMemEnd || addr+n <= LowMemEnd || addr >= HighMemStart
}

// CheckMemSize validates a -m value.
func CheckMemSize(size uint64) error {
	switch {
	case size < MinMemory:
		return fmt.Errorf("memory size %s is too small (minimum %s)", FormatSize(size), FormatSize(MinMemory))
	case size > MaxMemory:
		return fmt.Errorf("memory size %s is too large (maximum %s)", FormatSize(size), FormatSize(MaxMemory))
	case size%4096 != 0:
		return fmt.Errorf("memory size %d is not a multiple of 4K", size)
	}
	return nil
}

// FormatSize prints a byte count the way -m accepts it.
func FormatSize(n uint64) string {
	switch {
	case n != 0 && n%(1<<30) == 0:
		return fmt.Sprintf("%dG", n>>30)
	case n != 0 && n%(1<<20) == 0:
		return fmt.Sprintf("%dM", n>>20)
	case n != 0 && n%(1<<10) == 0:
		return fmt.Sprintf("%dK", n>>10)
	}
	return fmt.Sprintf("%d", n)
}
