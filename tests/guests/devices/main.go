// Command devices checks the kernel's device services from the driver
// side (package drivers/hw): DMA memory is zeroed, aligned, distinct and
// reusable; bad requests get errors, not crashes: RAM as an MMIO window,
// oversized or double-freed DMA blocks, interrupt lines that are taken,
// reserved or out of range.
package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/drivers/hw"
)

func check(ok bool, format string, args ...any) {
	if !ok {
		fmt.Printf("devices: FAIL: "+format+"\n", args...)
		os.Exit(1)
	}
}

func main() {
	// DMA: 64 blocks of assorted sizes.
	var blocks []*hw.DMA
	seen := map[uint64]bool{}
	for i := 0; i < 64; i++ {
		size := 1 << (9 + i%8) // 512 B .. 64 KiB
		b, err := hw.AllocDMA(size)
		check(err == nil, "AllocDMA(%d): %v", size, err)
		check(len(b.Bytes) == size, "AllocDMA(%d): %d bytes", size, len(b.Bytes))
		align := uint64(max(size, 4096))
		check(b.Phys%align == 0, "block at %#x not aligned to %d", b.Phys, align)
		check(!seen[b.Phys], "block at %#x handed out twice", b.Phys)
		seen[b.Phys] = true
		for j, c := range b.Bytes {
			check(c == 0, "block at %#x: byte %d is %#x, not zero", b.Phys, j, c)
		}
		for j := range b.Bytes {
			b.Bytes[j] = byte(i)
		}
		blocks = append(blocks, b)
	}
	for _, b := range blocks {
		check(b.Free() == nil, "Free")
	}
	b, err := hw.AllocDMA(4096)
	check(err == nil, "AllocDMA after free: %v", err)
	for j, c := range b.Bytes {
		check(c == 0, "reused block: byte %d is %#x, not zero", j, c)
	}
	phys := b.Phys
	check(b.Free() == nil, "Free")
	_, _, e := syscall.Syscall(abi.SysDMAFree, uintptr(phys), 4096, 0)
	check(e == syscall.EINVAL, "double free: %v", e)
	_, _, e = syscall.Syscall(abi.SysDMAFree, 0x400000, 4096, 0)
	check(e == syscall.EINVAL, "freeing the image: %v", e)
	_, err = hw.AllocDMA(hw.MaxDMA + 1)
	check(err != nil, "AllocDMA(MaxDMA+1) succeeded")
	_, err = hw.AllocDMA(0)
	check(err != nil, "AllocDMA(0) succeeded")
	fmt.Println("devices: dma ok")

	// MMIO: RAM, the first page and wrap-around are refused.
	for _, w := range [][2]uint64{{0x400000, 4096}, {0, 4096}, {1 << 20, 4096}, {^uint64(0) - 100, 4096}, {1 << 40, 4096}} {
		_, err := hw.MapMMIO(w[0], w[1])
		check(err != nil && errors.Is(err, syscall.EINVAL), "MapMMIO(%#x, %#x): %v", w[0], w[1], err)
	}
	fmt.Println("devices: mmio ok")

	// Interrupt lines.
	for _, gsi := range []int{-1, 4, 16, 17, 48, 1000} {
		_, err := hw.AttachIRQ(gsi, false)
		check(errors.Is(err, syscall.EINVAL), "AttachIRQ(%d): %v", gsi, err)
	}
	q, err := hw.AttachIRQ(20, true)
	check(err == nil, "AttachIRQ(20): %v", err)
	_, err = hw.AttachIRQ(20, false)
	check(errors.Is(err, syscall.EEXIST), "AttachIRQ(20) twice: %v", err)
	check(q.Unmask() == nil, "Unmask")
	check(q.Close() == nil, "Close")
	q, err = hw.AttachIRQ(20, false)
	check(err == nil, "AttachIRQ(20) after Close: %v", err)
	check(q.Close() == nil, "Close")
	fmt.Println("devices: irq ok")
	fmt.Println("devices: ok")
}
