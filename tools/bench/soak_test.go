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
	const M = 1 << 20
	s := &benchSuite{soakConns: 1000, soakTime: 20 * time.Second, soak: []soakResult{
		{setup: "user-mode network", requests: 9686, at: [6]memPoint{
			{rss: 38 * M, net: 17 * M, netPSS: 16 * M, ram: 2 * M, heap: 1 * M, sys: 8 * M},
			{rss: 125 * M, net: 20 * M, netPSS: 19 * M, ram: 80 * M, heap: 35 * M, sys: 60 * M},
			{rss: 200 * M, net: 25 * M, netPSS: 24 * M, ram: 150 * M, heap: 30 * M, sys: 70 * M},
			{rss: 255 * M, net: 30 * M, netPSS: 29 * M, ram: 200 * M, heap: -1, sys: -1},
			{rss: 264 * M, net: -1, netPSS: -1, ram: -1, heap: 22 * M, sys: 70 * M},
			{rss: 120 * M, net: 18 * M, netPSS: 17 * M, ram: 60 * M, heap: 20 * M, sys: 70 * M}}, answersAfter: true},
		{setup: "TAP", failed: errors.New("not serving after 60s")},
	}}
	var b bytes.Buffer
	writeSoakTable(&b, s)
	assert.Contains(t, b.String(), "| user-mode network | 9686 | 484 | 0 | 38.0 / 125.0 / 200.0 / 255.0 / 264.0 / 120.0 | 2.0 / 80.0 / 150.0 / 200.0 / – / 60.0 | 17.0 / 20.0 / 25.0 / 30.0 / – / 18.0 | 16.0 / 19.0 / 24.0 / 29.0 / – / 17.0 | 1.0 / 35.0 / 30.0 / – / 22.0 / 20.0 | 8.0 / 60.0 / 70.0 / – / 70.0 / 70.0 | yes |\n")
	assert.Contains(t, b.String(), "| TAP | failed: not serving after 60s |")
	assert.Contains(t, b.String(), "user-mode network: memory NOT flat: launcher own (RSS less guest RAM) 45.0 -> 50.0 -> 55.0 GROWS (+10.0 MiB, +22%); guest RAM resident 80.0 -> 150.0 -> 200.0 GROWS (+120.0 MiB, +150%); unigo-net RSS 20.0 -> 25.0 -> 30.0 GROWS (+10.0 MiB, +50%); unigo-net PSS 19.0 -> 24.0 -> 29.0 GROWS (+10.0 MiB, +53%); guest Go Sys unknown; guest live heap unknown.\n")
	assert.Contains(t, b.String(), "user-mode network: guest RAM resident 200.0 MiB at the load's end, 60.0 MiB 10s after it (-140.0 MiB).\n")
	assert.Contains(t, b.String(), "its end / 2 s after / 10s after;")
	assert.NotContains(t, b.String(), "TAP: memory")
}

// TestJudgeFlat: growth up to 5% of the quarter figure, or 4 MiB for
// small figures, is flat; more is not, unless the figure is flat by the
// same rule from half-way (a plateau); a fall is flat; an unknown figure
// is judged neither way.
func TestJudgeFlat(t *testing.T) {
	const M = 1 << 20
	for _, c := range []struct {
		quarter, half, end int64
		flat, plateau      bool
	}{
		{200 * M, 205 * M, 210 * M, true, false},    // +5%
		{200 * M, 205 * M, 210*M + 1, false, true},  // just over 5%, but +2.4% from half-way
		{200 * M, 200 * M, 210*M + 1, false, false}, // just over 5% from half-way too
		{200 * M, 150 * M, 150 * M, true, false},    // a fall
		{20 * M, 22 * M, 24 * M, true, false},       // +4 MiB, 20%: within the slack
		{20 * M, 20 * M, 24*M + 4096, false, false}, // past the slack
		{20 * M, -1, 24*M + 4096, false, false},     // past it, half-way unknown
		{0, 0, 4 * M, true, false},                  // from nothing, within the slack
		{100 * M, 104 * M, 98 * M, true, false},     // unigo-net's 100.3 -> 104.3 -> 98.2 MiB
		{120 * M, 201 * M, 201 * M, false, true},    // the guest's Go Sys, 119.5 -> 200.8 -> 200.8
		{188 * M, 265 * M, 271 * M, false, true},    // guest RAM, 187.8 -> 265.5 -> 270.9
		{100 * M, 150 * M, 200 * M, false, false},   // growing all the way
	} {
		f := judgeFlat("x", c.quarter, c.half, c.end)
		assert.True(t, f.known)
		assert.Equal(t, c.flat, f.flat, "%d -> %d -> %d flat", c.quarter, c.half, c.end)
		assert.Equal(t, c.plateau, f.plateau, "%d -> %d -> %d plateau", c.quarter, c.half, c.end)
		assert.Equal(t, c.end-c.quarter, f.growth)
	}
	for _, c := range [][2]int64{{-1, 5 * M}, {5 * M, -1}} {
		f := judgeFlat("x", c[0], c[0], c[1])
		assert.False(t, f.known)
		assert.False(t, f.flat)
		assert.False(t, f.plateau)
	}
}

// TestWriteFlatness: the verdict line says flat, flat from half-way
// (a plateau, nothing growing) or NOT flat.
func TestWriteFlatness(t *testing.T) {
	const M = 1 << 20
	r := soakResult{setup: "TAP", at: [6]memPoint{
		atQuarter: {rss: 212 * M, ram: 200 * M, net: -1, netPSS: -1, heap: 40 * M, sys: 150 * M},
		atHalf:    {rss: 262 * M, ram: 250 * M, net: -1, netPSS: -1, heap: 40 * M, sys: 200 * M},
		atEnd:     {rss: 264 * M, ram: 252 * M, net: -1, netPSS: -1, heap: 39 * M, sys: 200 * M},
	}}
	var b bytes.Buffer
	writeFlatness(&b, r)
	assert.Equal(t, "TAP: memory flat from half-way: launcher own (RSS less guest RAM) 12.0 -> 12.0 flat; guest RAM resident 200.0 -> 250.0 -> 252.0 plateau (+50.0 MiB by half-way, then flat); guest Go Sys 150.0 -> 200.0 -> 200.0 plateau (+50.0 MiB by half-way, then flat); guest live heap 40.0 -> 39.0 flat.\n", b.String())

	r.at[atHalf].rss, r.at[atHalf].ram = 212*M, 200*M
	r.at[atHalf].sys = 150 * M
	r.at[atEnd].sys = 150 * M
	b.Reset()
	writeFlatness(&b, r)
	assert.Contains(t, b.String(), "TAP: memory NOT flat: ")
	assert.Contains(t, b.String(), "guest RAM resident 200.0 -> 200.0 -> 252.0 GROWS (+52.0 MiB, +26%)")

	r.at[atEnd].rss, r.at[atEnd].ram = 213*M, 201*M
	b.Reset()
	writeFlatness(&b, r)
	assert.Contains(t, b.String(), "TAP: memory flat: ")
}

// TestSoakFlatness: every process is judged; unigo-net only when it ran
// (TAP has none); the launcher's own share is its RSS less guest RAM.
func TestSoakFlatness(t *testing.T) {
	const M = 1 << 20
	tap := soakResult{setup: "TAP", at: [6]memPoint{
		atQuarter: {rss: 216 * M, ram: 204 * M, net: -1, netPSS: -1, heap: 52 * M, sys: -1},
		atEnd:     {rss: 235 * M, ram: 223 * M, net: -1, netPSS: -1, heap: 50 * M, sys: -1},
	}}
	fs := soakFlatness(tap)
	require.Len(t, fs, 4)
	assert.Equal(t, "launcher own (RSS less guest RAM)", fs[0].name)
	assert.EqualValues(t, 12*M, fs[0].quarter)
	assert.True(t, fs[0].flat)
	assert.Equal(t, "guest RAM resident", fs[1].name)
	assert.False(t, fs[1].flat) // +19 MiB, 9%
	assert.Equal(t, "guest Go Sys", fs[2].name)
	assert.False(t, fs[2].known) // not measured in this result
	assert.Equal(t, "guest live heap", fs[3].name)
	assert.True(t, fs[3].flat)

	user := tap
	user.at[atQuarter].net, user.at[atQuarter].netPSS = 85*M, 80*M
	user.at[atEnd].net, user.at[atEnd].netPSS = 88*M, 83*M
	fs = soakFlatness(user)
	require.Len(t, fs, 6)
	assert.Equal(t, "unigo-net RSS", fs[2].name)
	assert.True(t, fs[2].flat)
	assert.Equal(t, "unigo-net PSS", fs[3].name)
	assert.True(t, fs[3].flat)

	// The same program natively: its RSS, Go Sys and heap, no guest RAM.
	native := soakResult{setup: "TAP, native", native: true, at: [6]memPoint{
		atQuarter: {rss: 150 * M, ram: -1, net: -1, netPSS: -1, heap: 40 * M, sys: 160 * M},
		atHalf:    {rss: 190 * M, ram: -1, net: -1, netPSS: -1, heap: 41 * M, sys: 200 * M},
		atEnd:     {rss: 191 * M, ram: -1, net: -1, netPSS: -1, heap: 42 * M, sys: 201 * M},
	}}
	fs = soakFlatness(native)
	require.Len(t, fs, 3)
	assert.Equal(t, "process RSS", fs[0].name)
	assert.True(t, fs[0].plateau)
	assert.Equal(t, "Go Sys", fs[1].name)
	assert.True(t, fs[1].plateau)
	assert.Equal(t, "live heap", fs[2].name)
	assert.True(t, fs[2].flat)
	var b bytes.Buffer
	writeFlatness(&b, native)
	assert.Equal(t, "TAP, native: memory flat from half-way: process RSS 150.0 -> 190.0 -> 191.0 plateau (+40.0 MiB by half-way, then flat); "+
		"Go Sys 160.0 -> 200.0 -> 201.0 plateau (+40.0 MiB by half-way, then flat); live heap 40.0 -> 42.0 flat.\n", b.String())
}
