// Command virtiorng finds the virtio-rng device and reads entropy from it
// through the virtio transport: the end-to-end test of the kernel's device
// services (MMIO mapping, DMA memory, interrupt descriptors) and of the
// transport. The argument "level" attaches the interrupt line as
// level-triggered (QEMU), else edge-triggered (the unigo launcher).
package main

import (
	"bytes"
	"fmt"
	"github.com/unigo-os/unigo/abi"
	"io"
	"os"
	"time"

	"github.com/unigo-os/unigo/drivers/virtio"
	"github.com/unigo-os/unigo/drivers/virtio/virtiorng"
)

func main() {
	level := len(os.Args) > 1 && os.Args[1] == "level"
	infos, err := virtio.Devices(abi.VirtioDeviceRNG)
	if err != nil {
		fmt.Println("virtiorng:", err)
		os.Exit(1)
	}
	if len(infos) == 0 {
		fmt.Println("virtiorng: no virtio-rng device")
		os.Exit(1)
	}
	fmt.Printf("virtiorng: found %v\n", infos[0])
	d, err := virtiorng.Open(infos[0], level)
	if err != nil {
		fmt.Println("virtiorng:", err)
		os.Exit(1)
	}
	a, b := make([]byte, 64), make([]byte, 64)
	start := time.Now()
	for _, buf := range [][]byte{a, b} {
		if _, err := io.ReadFull(d, buf); err != nil {
			fmt.Println("virtiorng: read:", err)
			os.Exit(1)
		}
	}
	if bytes.Equal(a, b) || bytes.Equal(a, make([]byte, 64)) {
		fmt.Printf("virtiorng: bytes not random: %x %x\n", a, b)
		os.Exit(1)
	}
	// Many small reads: each one an interrupt round trip.
	const n = 200
	one := make([]byte, 16)
	for i := 0; i < n; i++ {
		if _, err := d.Read(one); err != nil {
			fmt.Println("virtiorng: read:", err)
			os.Exit(1)
		}
	}
	fmt.Printf("virtiorng: %d requests in %v\n", n+2, time.Since(start).Round(time.Microsecond))
	if err := d.Close(); err != nil {
		fmt.Println("virtiorng: close:", err)
		os.Exit(1)
	}
	fmt.Println("virtiorng: ok")
}
