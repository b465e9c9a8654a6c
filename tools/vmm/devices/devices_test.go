package devices

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func in(d PortDevice, off uint16) uint8 {
	b := []byte{0}
	d.In(off, b)
	return b[0]
}

func out(d PortDevice, off uint16, v uint8) { d.Out(off, []byte{v}) }

func TestUARTOutput(t *testing.T) {
	var buf syncBuf
	u := NewUART(&buf, nil)
	assert.EqualValues(t, 0x60, in(u, uartLSR), "transmitter empty, no data")
	for _, c := range []byte("hi\n>") {
		out(u, 0, c)
	}
	u.Flush()
	assert.Equal(t, "hi\n>", buf.String(), "everything written by Flush")
	assert.EqualValues(t, 0x60, in(u, uartLSR), "empty again")

	// Divisor latch access does not transmit.
	out(u, uartLCR, lcrDLAB)
	out(u, 0, 1)
	assert.EqualValues(t, 1, in(u, 0))
	out(u, uartLCR, 0x03)
	u.Flush()
	assert.Equal(t, "hi\n>", buf.String())
	out(u, uartSCR, 0x5A)
	assert.EqualValues(t, 0x5A, in(u, uartSCR))
}

// gate is a writer that blocks until opened, like a pipe nobody reads.
type gate struct {
	syncBuf
	open chan struct{}
}

func (g *gate) Write(p []byte) (int, error) {
	<-g.open
	return g.syncBuf.Write(p)
}

// TestUARTBackPressure: while the host's writer is stuck, THRE stays clear
// once the FIFO holds data, a write to a full FIFO waits, and nothing is
// lost when the writer goes on; Release lets a stalled write through.
func TestUARTBackPressure(t *testing.T) {
	g := &gate{open: make(chan struct{})}
	u := NewUART(g, nil)
	out(u, 0, 'a') // taken by the writer at once, which then blocks
	require.Eventually(t, func() bool { return in(u, uartLSR)&lsrTHRE != 0 }, time.Second, time.Millisecond)
	assert.Zero(t, in(u, uartLSR)&lsrTEMT, "the writer still holds a byte")
	want := []byte{'a'}
	for i := 0; i < UARTFIFO; i++ {
		c := byte('b' + i%26)
		out(u, 0, c)
		want = append(want, c)
	}
	start := time.Now()
	assert.Zero(t, in(u, uartLSR)&(lsrTHRE|lsrTEMT), "FIFO full")
	assert.GreaterOrEqual(t, time.Since(start), lsrWait, "an LSR read waits a little for room")

	stalled := make(chan struct{})
	go func() {
		out(u, 0, '!')
		close(stalled)
	}()
	select {
	case <-stalled:
		t.Fatal("a write to a full FIFO did not wait")
	case <-time.After(20 * time.Millisecond):
	}
	close(g.open)
	<-stalled
	u.Flush()
	assert.Equal(t, string(append(want, '!')), g.String(), "every byte, in order")
	assert.EqualValues(t, lsrTHRE|lsrTEMT, in(u, uartLSR))

	// Release: a full FIFO no longer stalls the guest.
	g2 := &gate{open: make(chan struct{})}
	u2 := NewUART(g2, nil)
	for i := 0; i <= 2*UARTFIFO; i++ {
		if i == UARTFIFO+1 {
			u2.Release()
		}
		out(u2, 0, 'x')
	}
	close(g2.open)
	u2.Flush()
	assert.Len(t, g2.String(), 2*UARTFIFO+1)
}

func TestUARTInputAndIRQ(t *testing.T) {
	var levels []bool
	u := NewUART(&syncBuf{}, func(l bool) { levels = append(levels, l) })
	u.Feed([]byte("ab"))
	assert.Empty(t, levels, "no interrupt while IER is clear")
	assert.EqualValues(t, 0x61, in(u, uartLSR))
	assert.EqualValues(t, iirNone, in(u, uartIIR))

	out(u, uartIER, ierRDA)
	assert.Equal(t, []bool{true}, levels)
	assert.EqualValues(t, iirRDA, in(u, uartIIR))
	assert.EqualValues(t, 'a', in(u, 0))
	assert.EqualValues(t, 'b', in(u, 0))
	assert.Equal(t, []bool{true, false}, levels, "line drops once drained")
	assert.EqualValues(t, 0x60, in(u, uartLSR))
	assert.EqualValues(t, 0, in(u, 0), "empty RBR reads 0")

	u.Feed([]byte("c"))
	assert.Equal(t, []bool{true, false, true}, levels)
	out(u, uartIIR, fcrEnable|fcrClearRX)
	assert.Equal(t, []bool{true, false, true, false}, levels, "FIFO clear drops the line")
	assert.EqualValues(t, iirNone|iirFIFOs, in(u, uartIIR))

	// THRE interrupt: enabling it raises; reading IIR acknowledges.
	out(u, uartIER, ierTHRE)
	assert.EqualValues(t, iirTHRE|iirFIFOs, in(u, uartIIR))
	assert.EqualValues(t, iirNone|iirFIFOs, in(u, uartIIR))
	assert.False(t, levels[len(levels)-1])
}

// TestUARTHangup: after the host's stdin ends, MSR keeps the carrier
// (DCD) until the guest has read the last byte, then drops it with a
// modem-status interrupt that reading MSR acknowledges.
func TestUARTHangup(t *testing.T) {
	var levels []bool
	u := NewUART(&syncBuf{}, func(l bool) { levels = append(levels, l) })
	out(u, uartIER, ierRDA|ierMSI)
	_, err := u.ReadFrom(strings.NewReader("z"))
	require.NoError(t, err)
	assert.EqualValues(t, iirRDA, in(u, uartIIR), "data first")
	assert.NotZero(t, in(u, uartMSR)&msrDCD, "carrier while input is left")
	assert.EqualValues(t, 'z', in(u, 0))
	assert.EqualValues(t, iirMSI, in(u, uartIIR), "then the modem-status change")
	assert.True(t, levels[len(levels)-1])
	assert.Zero(t, in(u, uartMSR)&msrDCD, "carrier lost")
	assert.EqualValues(t, iirNone, in(u, uartIIR), "MSR read acknowledges")
	assert.False(t, levels[len(levels)-1])
	assert.Zero(t, in(u, uartMSR)&msrDCD, "stays lost")
}

func TestUARTReadFrom(t *testing.T) {
	u := NewUART(&syncBuf{}, nil)
	big := strings.Repeat("x", inBufMax+10)
	done := make(chan int64)
	go func() {
		n, _ := u.ReadFrom(strings.NewReader(big))
		done <- n
	}()
	// The reader waits for the guest to drain the buffer.
	var got int
	deadline := time.Now().Add(5 * time.Second)
	for got < len(big) && time.Now().Before(deadline) {
		if in(u, uartLSR)&lsrDR != 0 {
			in(u, 0)
			got++
		} else {
			time.Sleep(time.Millisecond)
		}
	}
	assert.Equal(t, len(big), got)
	assert.EqualValues(t, len(big), <-done)
}

type recorder struct{ ins, outs []uint16 }

func (r *recorder) In(off uint16, data []byte)  { r.ins = append(r.ins, off); data[0] = 42 }
func (r *recorder) Out(off uint16, data []byte) { r.outs = append(r.outs, off) }

func TestIOBus(t *testing.T) {
	var b IOBus
	r := &recorder{}
	require.NoError(t, b.Register(0x3f8, 8, r))
	require.Error(t, b.Register(0x3fc, 8, r))
	require.NoError(t, b.Register(0x3f0, 8, &recorder{}))
	d := []byte{0}
	b.In(0x3fd, d)
	assert.EqualValues(t, 42, d[0])
	b.Out(0x3f8, d)
	assert.Equal(t, []uint16{5}, r.ins)
	assert.Equal(t, []uint16{0}, r.outs)
	d4 := []byte{1, 2, 3, 4}
	b.In(0x80, d4)
	assert.Equal(t, []byte{0xFF, 0xFF, 0xFF, 0xFF}, d4, "empty bus reads all-ones")
	b.Out(0x80, d4) // ignored
}

type mem struct{ last uint64 }

func (m *mem) Read(off uint64, data []byte)  { data[0] = byte(off) }
func (m *mem) Write(off uint64, data []byte) { m.last = off }

func TestMMIOBus(t *testing.T) {
	var b MMIOBus
	m := &mem{}
	require.NoError(t, b.Register(0xd0000000, 0x1000, m))
	require.Error(t, b.Register(0xd0000800, 0x1000, m))
	require.Error(t, b.Register(^uint64(0)-10, 0x1000, m))
	d := []byte{0xAA, 0xAA}
	b.Read(0xd0000070, d)
	assert.Equal(t, []byte{0x70, 0xAA}, d)
	b.Write(0xd0000050, d)
	assert.EqualValues(t, 0x50, m.last)
	b.Read(0xe0000000, d)
	assert.Equal(t, []byte{0, 0}, d, "unclaimed reads zero")
}

func TestExitPort(t *testing.T) {
	var code uint32
	e := &ExitPort{OnExit: func(c uint32) { code = c }}
	e.Out(0, []byte{7, 0, 0, 0})
	assert.EqualValues(t, 7, code)
	e.Out(0, []byte{0x34, 0x12})
	assert.EqualValues(t, 0x1234, code)
	d := []byte{0, 0, 0, 0}
	e.In(0, d)
	assert.Equal(t, []byte{0xFF, 0xFF, 0xFF, 0xFF}, d)
}

// TestUARTReceive: Receive takes queued input as reads of RBR would,
// dropping the receive interrupt once drained, and reports the hangup
// once everything is taken, acknowledging the modem-status interrupt as a
// read of MSR would.
func TestUARTReceive(t *testing.T) {
	var levels []bool
	u := NewUART(&syncBuf{}, func(l bool) { levels = append(levels, l) })
	out(u, uartIER, ierRDA|ierMSI)
	u.Feed([]byte("abcde"))
	assert.Equal(t, []bool{true}, levels)
	b := make([]byte, 3)
	n, eof := u.Receive(b)
	assert.Equal(t, 3, n)
	assert.False(t, eof)
	assert.Equal(t, "abc", string(b))
	assert.Equal(t, []bool{true}, levels, "input left: line stays up")

	u.Hangup()
	n, eof = u.Receive(b)
	assert.Equal(t, 2, n)
	assert.True(t, eof)
	assert.Equal(t, "de", string(b[:n]))
	assert.Equal(t, []bool{true, false}, levels, "drained and hangup acknowledged")
	assert.EqualValues(t, iirNone, in(u, uartIIR))

	n, eof = u.Receive(nil)
	assert.Zero(t, n)
	assert.True(t, eof)
}
