package bench

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestVMRSS(t *testing.T) {
	assert.Greater(t, vmRSS(os.Getpid()), int64(1<<20))
	assert.EqualValues(t, -1, vmRSS(-5))
}

// TestGuestRAMResident: this process has no mapping of 1 TiB; a small
// threshold finds some resident memory.
func TestGuestRAMResident(t *testing.T) {
	assert.EqualValues(t, -1, guestRAMResident(os.Getpid(), 1<<40))
	assert.Positive(t, guestRAMResident(os.Getpid(), 1))
}

func TestWriteSoakTable(t *testing.T) {
	s := &benchSuite{soakConns: 1000, soakTime: 20 * time.Second, soak: []soakResult{
		{setup: "user-mode network", requests: 9686, at: [4]memPoint{{38 << 20, 2 << 20, 1 << 20}, {125 << 20, 80 << 20, 35 << 20}, {255 << 20, 200 << 20, -1}, {264 << 20, -1, 22 << 20}}, answersAfter: true},
		{setup: "TAP", failed: errors.New("not serving after 60s")},
	}}
	var b bytes.Buffer
	writeSoakTable(&b, s)
	assert.Contains(t, b.String(), "| user-mode network | 9686 | 484 | 0 | 38.0 / 125.0 / 255.0 / 264.0 | 2.0 / 80.0 / 200.0 / – | 1.0 / 35.0 / – / 22.0 | yes |\n")
	assert.Contains(t, b.String(), "| TAP | failed: not serving after 60s |")
}
