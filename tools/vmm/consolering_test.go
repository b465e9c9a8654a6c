package vmm

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/tools/vmm/testguest"
)

// TestBootConsoleRing: a guest prints on COM1, announces a console ring
// that already holds more than the UART's FIFO, and exits at once, before
// the consumer can have run: the launcher writes everything out, COM1's
// bytes first, before Run returns.
func TestBootConsoleRing(t *testing.T) {
	const ringAddr, size = 0x200000, 32 << 10
	var words strings.Builder
	for i := 0; words.Len() < 20<<10; i++ {
		words.WriteString("ring line " + strings.Repeat("x", i%50) + "\n")
	}
	ring := make([]byte, abi.ConsoleRingHeaderSize+size)
	// Head-Tail is the text's length, Tail starts at 0 (the launcher sets
	// it), so the text lies at the data's start.
	binary.LittleEndian.PutUint64(ring, size)
	binary.LittleEndian.PutUint64(ring[abi.ConsoleRingHeadOff:], uint64(words.Len()))
	copy(ring[abi.ConsoleRingHeaderSize:], words.String())

	code := testguest.Print("com1 first\n")
	code = append(code, 0xB8, 0x00, 0x00, 0x20, 0x00)                // mov eax, ringAddr
	code = append(code, 0x66, 0xBA, abi.PortConsoleRing, 0x00, 0xEF) // mov dx, port; out dx, eax
	code = append(code, testguest.Exit(3)...)
	img := testguest.Spec{Entry: testguest.LoadAddr, Segments: []testguest.Segment{
		{Paddr: testguest.LoadAddr, Data: code}, {Paddr: ringAddr, Data: ring}}}.ELF()
	r, out := boot(t, Config{Image: img})
	require.Equal(t, GuestExit, r.Reason, "%v", r.Err)
	assert.EqualValues(t, 3, r.Code)
	want := "com1 first\n" + words.String()
	if out != want {
		i := 0
		for i < len(out) && i < len(want) && out[i] == want[i] {
			i++
		}
		t.Fatalf("%d bytes out, %d wanted, first difference at byte %d", len(out), len(want), i)
	}
	assert.True(t, bytes.HasPrefix([]byte(out), []byte("com1 first\nring line \n")))
}
