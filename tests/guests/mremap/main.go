// Command mremap checks mremap(2) through golang.org/x/sys/unix: growing
// and shrinking in place, moving (MREMAP_MAYMOVE, MREMAP_FIXED) with the
// contents kept and the old range unmapped, a file mapping, and the
// refusals.
package main

import (
	"bytes"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

const pg = 4096

func check(what string, err error) {
	if err != nil {
		fmt.Printf("mremap: %s: %v\n", what, err)
		os.Exit(1)
	}
}

func want(what string, ok bool, format string, args ...any) {
	if !ok {
		fmt.Printf("mremap: %s: "+format+"\n", append([]any{what}, args...)...)
		os.Exit(1)
	}
}

func anon(n int) []byte {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	check("mmap", err)
	return b
}

func fill(b []byte, seed byte) {
	for i := range b {
		b[i] = byte(i/pg) ^ byte(i) ^ seed
	}
}

func filled(b []byte, seed byte) bool {
	for i := range b {
		if b[i] != byte(i/pg)^byte(i)^seed {
			return false
		}
	}
	return true
}

// mapped reports whether the kernel can read [p, p+n): write(2) from it
// to a pipe fails with EFAULT where nothing is mapped.
func mapped(p unsafe.Pointer, n uintptr) bool {
	var fds [2]int
	check("pipe", unix.Pipe(fds[:]))
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	_, _, e := unix.Syscall(unix.SYS_WRITE, uintptr(fds[1]), uintptr(p), n)
	return e == 0
}

func remap(old unsafe.Pointer, oldSize uintptr, newAddr unsafe.Pointer, newSize uintptr, flags int) (unsafe.Pointer, error) {
	return unix.MremapPtr(old, oldSize, newAddr, newSize, flags)
}

func main() {
	grow()
	inPlace()
	fixed()
	big()
	file()
	refusals()
	fmt.Println("mremap: ok")
}

// grow: unix.Mremap with MREMAP_MAYMOVE keeps the bytes, adds zeros.
func grow() {
	b := anon(4 * pg)
	fill(b, 1)
	b2, err := unix.Mremap(b, 16*pg, unix.MREMAP_MAYMOVE)
	check("grow", err)
	want("grow", len(b2) == 16*pg && filled(b2[:4*pg], 1), "contents lost")
	want("grow", bytes.Count(b2[4*pg:], []byte{0}) == 12*pg, "new pages are not zero")
	fill(b2, 2)
	want("grow", filled(b2, 2), "new pages not writable")
	b3, err := unix.Mremap(b2, 2*pg, 0)
	check("shrink", err)
	want("shrink", unsafe.SliceData(b3) == unsafe.SliceData(b2) && filled(b3, 2), "shrink moved or lost the contents")
	want("shrink", !mapped(unsafe.Pointer(&b2[2*pg]), pg), "the tail is still mapped")
	check("munmap", unix.Munmap(b3))
	fmt.Println("mremap: grow and shrink ok")
}

// inPlace: without MREMAP_MAYMOVE a mapping grows where it is when the
// room after it is free, and fails with ENOMEM when it is not.
func inPlace() {
	b := anon(8 * pg)
	p := unsafe.Pointer(&b[0])
	fill(b, 3)
	q, err := remap(p, 8*pg, nil, 4*pg, 0)
	check("shrink", err)
	q, err = remap(q, 4*pg, nil, 8*pg, 0)
	check("grow in place", err)
	want("grow in place", q == p, "moved without MREMAP_MAYMOVE")
	b = unsafe.Slice((*byte)(q), 8*pg)
	want("grow in place", filled(b[:4*pg], 3) && bytes.Count(b[4*pg:], []byte{0}) == 4*pg, "contents")
	_, err = remap(p, 4*pg, nil, 8*pg, 0)
	want("no room", err == unix.ENOMEM, "growing into mapped pages: %v, want ENOMEM", err)
	q, err = remap(p, 4*pg, nil, 8*pg, unix.MREMAP_MAYMOVE)
	check("move part", err)
	want("move part", q != p && filled(unsafe.Slice((*byte)(q), 4*pg), 3), "moved part lost its contents")
	want("move part", !mapped(p, pg) && mapped(unsafe.Add(p, 4*pg), 4*pg), "the source part is still mapped, or the rest is not")
	unix.MunmapPtr(q, 8*pg)
	unix.MunmapPtr(unsafe.Add(p, 4*pg), 4*pg)
	fmt.Println("mremap: in place ok")
}

// fixed: MREMAP_FIXED replaces what is at the destination.
func fixed() {
	a, b := anon(4*pg), anon(6*pg)
	fill(a, 4)
	fill(b, 5)
	pa, pb := unsafe.Pointer(&a[0]), unsafe.Pointer(&b[0])
	q, err := remap(pa, 4*pg, pb, 6*pg, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED)
	check("fixed", err)
	c := unsafe.Slice((*byte)(q), 6*pg)
	want("fixed", q == pb && filled(c[:4*pg], 4) && bytes.Count(c[4*pg:], []byte{0}) == 2*pg, "at %p (want %p), contents", q, pb)
	want("fixed", !mapped(pa, 4*pg), "the source is still mapped")
	_, err = remap(pb, 4*pg, unsafe.Add(pb, 2*pg), 4*pg, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED)
	want("overlap", err == unix.EINVAL, "overlapping ranges: %v, want EINVAL", err)
	unix.MunmapPtr(pb, 6*pg)
	fmt.Println("mremap: fixed ok")
}

// big: 32 MiB, touched, moved to 64 MiB (pages over many page tables).
func big() {
	const n = 32 << 20
	b := anon(n)
	fill(b, 6)
	b2, err := unix.Mremap(b, 2*n, unix.MREMAP_MAYMOVE)
	check("big", err)
	want("big", filled(b2[:n], 6), "contents lost")
	check("munmap", unix.Munmap(b2))
	fmt.Println("mremap: 32 MiB ok")
}

// file: a shared file mapping grows; writes reach the file.
func file() {
	f, err := os.CreateTemp("", "mremap")
	check("create", err)
	defer os.Remove(f.Name())
	data := make([]byte, 4*pg)
	fill(data, 7)
	_, err = f.Write(data)
	check("write", err)
	b, err := unix.Mmap(int(f.Fd()), 0, 2*pg, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	check("mmap file", err)
	b2, err := unix.Mremap(b, 4*pg, unix.MREMAP_MAYMOVE)
	check("grow file mapping", err)
	want("file", bytes.Equal(b2, data), "mapping shows other bytes")
	b2[3*pg] = 0xAA
	check("munmap", unix.Munmap(b2))
	got := make([]byte, 1)
	_, err = f.ReadAt(got, 3*pg)
	check("read", err)
	want("file", got[0] == 0xAA, "write through the grown mapping did not reach the file")
	f.Close()
	fmt.Println("mremap: file ok")
}

func refusals() {
	b := anon(4 * pg)
	p := unsafe.Pointer(&b[0])
	_, err := remap(unsafe.Add(p, 1), pg, nil, 2*pg, unix.MREMAP_MAYMOVE)
	want("unaligned", err == unix.EINVAL, "%v, want EINVAL", err)
	_, err = remap(p, pg, unsafe.Add(p, 8*pg), pg, unix.MREMAP_FIXED)
	want("fixed without maymove", err == unix.EINVAL, "%v, want EINVAL", err)
	_, err = remap(p, pg, nil, 0, unix.MREMAP_MAYMOVE)
	want("new size 0", err == unix.EINVAL, "%v, want EINVAL", err)
	_, err = remap(p, pg, nil, pg, 0x100)
	want("unknown flag", err == unix.EINVAL, "%v, want EINVAL", err)
	check("mprotect", unix.Mprotect(b[pg:2*pg], unix.PROT_READ))
	_, err = remap(p, 4*pg, nil, 8*pg, unix.MREMAP_MAYMOVE)
	want("two mappings", err == unix.EFAULT, "%v, want EFAULT", err)
	check("munmap", unix.Munmap(b))
	_, err = remap(p, pg, nil, 2*pg, unix.MREMAP_MAYMOVE)
	want("unmapped", err == unix.EFAULT, "%v, want EFAULT", err)
	fmt.Println("mremap: refusals ok")
}
