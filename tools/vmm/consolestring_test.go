package vmm

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/unigo-os/unigo/tools/vmm/devices"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// TestConsoleString: a descriptor written to abi.PortConsoleString sends
// its string; one that is outside guest RAM, points outside it, wraps
// around or asks for more than the FIFO holds sends nothing.
func TestConsoleString(t *testing.T) {
	var out lockedBuf
	v := &VM{mem: make([]byte, 1<<20), uart: devices.NewUART(&out, nil)}
	desc := func(at, addr, n uint64) uint64 {
		binary.LittleEndian.PutUint64(v.mem[at:], addr)
		binary.LittleEndian.PutUint64(v.mem[at+8:], n)
		return at
	}
	copy(v.mem[0x2000:], "hello\n")
	v.consoleString(desc(0x1000, 0x2000, 6))
	v.consoleString(desc(0x1000, 0x2000, 0))
	for _, d := range []uint64{
		1 << 20,                                  // descriptor outside RAM
		1<<20 - 8,                                // descriptor straddling its end
		desc(0x1000, 1<<20-2, 6),                 // string straddling the end
		desc(0x1000, ^uint64(0)-2, 6),            // string address wrapping around
		desc(0x1000, 0x2000, devices.UARTFIFO+1), // longer than the FIFO
		desc(0x1000, 0x2000, ^uint64(0)),         // absurd length
		0xFFFFFFFF,                               // the largest port value
	} {
		v.consoleString(d)
	}
	v.uart.Flush()
	assert.Equal(t, "hello\n", out.b.String())
}
