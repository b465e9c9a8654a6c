package vmm

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/tools/vmm/testguest"
	"github.com/unigo-os/unigo/tools/vmm/virtio"
)

// TestPIODoorbell: with PIODoorbell a 16-bit OUT of VirtioDoorbellValue to
// abi.PortVirtioDoorbell notifies the device and queue it names, and no
// other; without it the write is an ignored port write.
func TestPIODoorbell(t *testing.T) {
	needKVM(t)
	door := uint16(abi.VirtioDoorbellValue(1, 0))
	code := []byte{0x66, 0xB8, byte(door), byte(door >> 8)}       // mov ax, door
	code = append(code, 0x66, 0xBA, abi.PortVirtioDoorbell, 0x00) // mov dx, port
	code = append(code, 0x66, 0xEF)                               // out dx, ax
	code = append(code, testguest.Exit(5)...)
	for _, on := range []bool{true, false} {
		v, err := New(Config{Image: testguest.Image(code), MemSize: 16 << 20, NoBalloon: true,
			Virtio: []virtio.Device{virtio.NewRNG(), virtio.NewRNG()}, PIODoorbell: on})
		require.NoError(t, err)
		r := v.Run()
		require.Equal(t, GuestExit, r.Reason, "%v", r.Err)
		assert.EqualValues(t, 5, r.Code)
		// The notification reaches the device through its ioeventfd
		// goroutine, which outlives Run until Close.
		named := &v.virtio[1].mmio.Counts.Notifies
		if on {
			assert.Eventually(t, func() bool { return named.Load() == 1 }, 10*time.Second, time.Millisecond)
		} else {
			time.Sleep(50 * time.Millisecond)
			assert.Zero(t, named.Load())
		}
		assert.Zero(t, v.virtio[0].mmio.Counts.Notifies.Load(), "the other device")
		require.NoError(t, v.Close())
	}
}
