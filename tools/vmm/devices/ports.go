package devices

// le decodes a little-endian access of 1 to 8 bytes.
func le(data []byte) uint64 {
	var v uint64
	for i := len(data) - 1; i >= 0; i-- {
		v = v<<8 | uint64(data[i])
	}
	return v
}

// ExitPort is QEMU's isa-debug-exit: a write of code ends the VM. QEMU
// exits with (code<<1)|1; the launcher passes code through unchanged.
type ExitPort struct {
	// OnExit is called with the written value (zero-extended).
	OnExit func(code uint32)
}

// In reads as all-ones, like QEMU's device.
func (p *ExitPort) In(off uint16, data []byte) {
	for i := range data {
		data[i] = 0xFF
	}
}

// Out ends the VM. Partial-width writes are accepted like QEMU does.
func (p *ExitPort) Out(off uint16, data []byte) {
	if off == 0 {
		p.OnExit(uint32(le(data)))
	}
}

// BootMarkPort receives the guest's boot marks (abi.PortBootMark): each
// write of one byte reports a point of the boot for timing.
type BootMarkPort struct {
	// OnMark is called with the written byte.
	OnMark func(mark uint8)
}

// In reads as all-ones, like an absent device.
func (p *BootMarkPort) In(off uint16, data []byte) {
	for i := range data {
		data[i] = 0xFF
	}
}

// Out reports the mark.
func (p *BootMarkPort) Out(off uint16, data []byte) {
	if off == 0 && len(data) > 0 {
		p.OnMark(data[0])
	}
}
