package devices

import (
	"fmt"
	"sort"
	"sync"
)

// PortDevice handles port I/O. off is relative to the device's base port;
// len(data) is the access size (1, 2 or 4). In fills data.
type PortDevice interface {
	In(off uint16, data []byte)
	Out(off uint16, data []byte)
}

// MMIODevice handles memory-mapped I/O. off is relative to the device's
// base address.
type MMIODevice interface {
	Read(off uint64, data []byte)
	Write(off uint64, data []byte)
}

type portEntry struct {
	base, size uint16
	dev        PortDevice
}

// IOBus routes port I/O. Ports with no device read as all-ones (an empty
// ISA bus) and ignore writes, so probing guests see "nothing there".
type IOBus struct {
	mu      sync.RWMutex
	entries []portEntry
}

// Register attaches dev at ports [base, base+size).
func (b *IOBus) Register(base, size uint16, dev PortDevice) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	end := uint32(base) + uint32(size)
	for _, e := range b.entries {
		if uint32(base) < uint32(e.base)+uint32(e.size) && uint32(e.base) < end {
			return fmt.Errorf("ports %#x+%d overlap %#x+%d", base, size, e.base, e.size)
		}
	}
	b.entries = append(b.entries, portEntry{base, size, dev})
	sort.Slice(b.entries, func(i, j int) bool { return b.entries[i].base < b.entries[j].base })
	return nil
}

func (b *IOBus) find(port uint16) (PortDevice, uint16) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, e := range b.entries {
		if port >= e.base && uint32(port) < uint32(e.base)+uint32(e.size) {
			return e.dev, port - e.base
		}
	}
	return nil, 0
}

// In handles a guest IN.
func (b *IOBus) In(port uint16, data []byte) {
	if d, off := b.find(port); d != nil {
		d.In(off, data)
		return
	}
	for i := range data {
		data[i] = 0xFF
	}
}

// Out handles a guest OUT.
func (b *IOBus) Out(port uint16, data []byte) {
	if d, off := b.find(port); d != nil {
		d.Out(off, data)
	}
}

type mmioEntry struct {
	base, size uint64
	dev        MMIODevice
}

// MMIOBus routes MMIO exits. Unclaimed addresses read as zero and ignore
// writes.
type MMIOBus struct {
	mu      sync.RWMutex
	entries []mmioEntry
}

// Register attaches dev at [base, base+size).
func (b *MMIOBus) Register(base, size uint64, dev MMIODevice) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if base+size < base {
		return fmt.Errorf("MMIO range %#x+%#x wraps", base, size)
	}
	for _, e := range b.entries {
		if base < e.base+e.size && e.base < base+size {
			return fmt.Errorf("MMIO range %#x+%#x overlaps %#x+%#x", base, size, e.base, e.size)
		}
	}
	b.entries = append(b.entries, mmioEntry{base, size, dev})
	sort.Slice(b.entries, func(i, j int) bool { return b.entries[i].base < b.entries[j].base })
	return nil
}

func (b *MMIOBus) find(addr uint64) (MMIODevice, uint64) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, e := range b.entries {
		if addr >= e.base && addr-e.base < e.size {
			return e.dev, addr - e.base
		}
	}
	return nil, 0
}

// Read handles a guest MMIO read.
func (b *MMIOBus) Read(addr uint64, data []byte) {
	if d, off := b.find(addr); d != nil {
		d.Read(off, data)
		return
	}
	clear(data)
}

// Write handles a guest MMIO write.
func (b *MMIOBus) Write(addr uint64, data []byte) {
	if d, off := b.find(addr); d != nil {
		d.Write(off, data)
	}
}
