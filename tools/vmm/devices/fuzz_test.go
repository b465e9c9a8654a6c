package devices

import (
	"bytes"
	"testing"

	"github.com/unigo-os/unigo/abi"
)

// FuzzPorts drives the launcher's port devices (COM1, the exit port, the
// boot-mark port) on a bus laid out as the VM's, with accesses the guest
// controls: each op is a direction/size byte, a port offset, then data.
// Nothing may panic; the console gets at most one byte per write to THR;
// an exit reports exactly the bytes written.
func FuzzPorts(f *testing.F) {
	f.Add([]byte{0x81, 0, 'h', 0x81, 0, 'i', 0x81, 0, '\n', 0x84, 0x10, 7, 0, 0, 0})
	f.Add([]byte{0x81, 3, 0x80, 0x81, 0, 1, 0x81, 1, 0, 0x81, 3, 3, 0x01, 5, 0x01, 2})
	f.Add([]byte{0x81, 1, 0x0f, 0x01, 2, 0x81, 0x18, 0x42, 0x88, 0x10, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Fuzz(func(t *testing.T, ops []byte) {
		var out bytes.Buffer
		irqs := 0
		uart := NewUART(&out, func(bool) { irqs++ })
		var exits []uint32
		var bus IOBus
		must := func(err error) {
			if err != nil {
				t.Fatal(err)
			}
		}
		must(bus.Register(abi.PortCOM1, 8, uart))
		must(bus.Register(abi.PortExit, 2, &ExitPort{OnExit: func(c uint32) { exits = append(exits, c) }}))
		must(bus.Register(abi.PortBootMark, 1, &BootMarkPort{OnMark: func(uint8) {}}))
		uart.Feed([]byte("input"))
		thrWrites := 0
		for len(ops) >= 2 {
			write, size := ops[0]&0x80 != 0, int(ops[0]&0x0f)
			if size == 0 || size > 8 {
				size = 1
			}
			// Offsets 0-7 hit COM1, 0x10-0x11 the exit port, 0x18 the
			// boot marks, anything else unclaimed ports around them.
			var port uint16
			switch o := ops[1]; {
			case o < 0x10:
				port = abi.PortCOM1 + uint16(o&7)
			case o < 0x18:
				port = abi.PortExit + uint16(o&1)
			case o < 0x20:
				port = abi.PortBootMark
			default:
				port = uint16(o) << 4
			}
			ops = ops[2:]
			data := make([]byte, size)
			if write {
				n := copy(data, ops)
				ops = ops[n:]
				lcr := make([]byte, 1)
				bus.In(abi.PortCOM1+3, lcr)
				if port == abi.PortCOM1 && lcr[0]&0x80 == 0 {
					thrWrites++
				}
				before := len(exits)
				bus.Out(port, data)
				if port == abi.PortExit && len(exits) != before+1 {
					t.Fatalf("write to the exit port: %d exits", len(exits)-before)
				}
				if len(exits) > before && uint32(le(data)) != exits[len(exits)-1] {
					t.Fatalf("exit %#x for %x", exits[len(exits)-1], data)
				}
			} else {
				bus.In(port, data)
			}
		}
		uart.Flush()
		if out.Len() > thrWrites {
			t.Fatalf("%d bytes out for %d THR writes", out.Len(), thrWrites)
		}
	})
}
