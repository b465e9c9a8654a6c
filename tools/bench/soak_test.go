package bench

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestVMRSS(t *testing.T) {
	assert.Greater(t, vmRSS(os.Getpid()), int64(1<<20))
	assert.EqualValues(t, -1, vmRSS(-5))
}

// TestGuestRAMResident: a mapping of this process split in three (as the
// image's file splits the guest RAM), with 1 MiB of it touched, is found
// by its size; there is no mapping of 1 TiB.
func TestGuestRAMResident(t *testing.T) {
	const page = 4096
	const size = 4<<20 + 3*page // a size none of the Go runtime's mappings has
	// PROT_NONE guard pages on both sides keep the kernel from merging
	// the mapping with a neighbour.
	m, err := unix.Mmap(-1, 0, size+2*page, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	require.NoError(t, err)
	defer unix.Munmap(m)
	ram := m[page : page+size]
	require.NoError(t, unix.Mprotect(ram, unix.PROT_READ|unix.PROT_WRITE))
	// Another protection on one page in the middle splits the mapping,
	// as the image's file splits the guest RAM.
	require.NoError(t, unix.Mprotect(ram[2<<20:2<<20+page], unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC))
	for i := 0; i < 1<<20; i += page {
		ram[i] = 1
	}
	got := guestRAMResident(os.Getpid(), size)
	assert.GreaterOrEqual(t, got, int64(1<<20))
	assert.Less(t, got, int64(size)+1)
	assert.EqualValues(t, -1, guestRAMResident(os.Getpid(), 1<<40))
}

func TestWriteSoakTable(t *testing.T) {
	s := &benchSuite{soakConns: 1000, soakTime: 20 * time.Second, soak: []soakResult{
		{setup: "user-mode network", requests: 9686, at: [4]memPoint{{38 << 20, 17 << 20, 2 << 20, 1 << 20}, {125 << 20, 20 << 20, 80 << 20, 35 << 20}, {255 << 20, 30 << 20, 200 << 20, -1}, {264 << 20, -1, -1, 22 << 20}}, answersAfter: true},
		{setup: "TAP", failed: errors.New("not serving after 60s")},
	}}
	var b bytes.Buffer
	writeSoakTable(&b, s)
	assert.Contains(t, b.String(), "| user-mode network | 9686 | 484 | 0 | 38.0 / 125.0 / 255.0 / 264.0 | 2.0 / 80.0 / 200.0 / – | 17.0 / 20.0 / 30.0 / – | 1.0 / 35.0 / – / 22.0 | yes |\n")
	assert.Contains(t, b.String(), "| TAP | failed: not serving after 60s |")
}
