package vmm

import (
	"errors"
	"github.com/unigo-os/unigo/abi"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/tools/vmm/testguest"
	"github.com/unigo-os/unigo/tools/vmm/virtio"
)

// idleBackend is a network with nothing on it.
type idleBackend struct{ done chan struct{} }

func (b idleBackend) ReadFrame([]byte) (int, error) { <-b.done; return 0, errors.New("closed") }
func (b idleBackend) WriteFrame([]byte) error       { return nil }

// The guest finds the network device where its command line says: device
// 1 of the bus, at 0xd0001000 with IRQ 6, after virtio-rng. It reads the
// device ID and the first MAC bytes of the configuration space.
func TestBootVirtioNet(t *testing.T) {
	needKVM(t)
	be := idleBackend{done: make(chan struct{})}
	defer close(be.done)
	mac := net.HardwareAddr{0x5a, 0x94, 0xef, 0xe4, 0x0c, 0xee}
	for _, tc := range []struct {
		addr uint32
		want uint32
	}{
		{0xd0001008, abi.VirtioDeviceNet},
		{0xd0001100, 0xe4ef945a}, // mac[0:4], little-endian
	} {
		dev, err := virtio.NewNet(be, mac, 1500)
		require.NoError(t, err)
		code := []byte{0xA1, byte(tc.addr), byte(tc.addr >> 8), byte(tc.addr >> 16), byte(tc.addr >> 24)} // mov eax, [addr]
		code = append(code, testguest.ExitWithEAX()...)
		v, err := New(Config{Image: testguest.Image(code), MemSize: 16 << 20,
			Params: []string{"unigo.ip=192.168.127.2/24"}, Virtio: []virtio.Device{virtio.NewRNG(), dev}})
		require.NoError(t, err)
		assert.Equal(t, "unigo.ip=192.168.127.2/24 unigo.cpus=1 virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6 virtio_mmio.device=4K@0xd0002000:7 unigo.hostsig=1 unigo.uartfifo=16384 unigo.uartready=1 unigo.constr=1 unigo.conin=1 unigo.conring=1 unigo.tty=0 unigo.prefault=4194304", v.Cmdline())
		r := v.Run()
		v.Close()
		require.Equal(t, GuestExit, r.Reason, "%v\n%s", r.Err, r.Report)
		assert.Equal(t, tc.want, r.Code, "read of %#x", tc.addr)
	}
}
