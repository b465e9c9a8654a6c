// Command blockdev writes numbered 4 KiB records to the disk at /dev/vda
// (pwrite from several goroutines at once, one unaligned write at the
// end), fsyncs, reads them back and prints what it found; the host then
// checks the disk file. With the argument "ro" it expects a read-only
// disk: writes fail, reads see what the host put there.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

const (
	records = 16
	recSize = 4096
)

// record returns record i's contents; the host test builds the same.
func record(i int) []byte {
	line := fmt.Sprintf("record %04d\n", i)
	return bytes.Repeat([]byte(line), recSize/len(line)+1)[:recSize]
}

// offset places record i on the disk: 512-aligned, with gaps.
func offset(i int) int64 { return int64(i)*3*recSize + int64(i%2)*512 }

func fail(format string, a ...any) {
	fmt.Printf("blockdev: "+format+"\n", a...)
	os.Exit(1)
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "ro" {
		readOnly()
		return
	}
	f, err := os.OpenFile("/dev/vda", os.O_RDWR, 0)
	if err != nil {
		fail("open: %v", err)
	}
	st, err := f.Stat()
	if err != nil {
		fail("stat: %v", err)
	}
	if st.Mode()&os.ModeDevice == 0 || st.Mode()&os.ModeCharDevice != 0 {
		fail("mode %v: not a block device", st.Mode())
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		fail("seek end: %v", err)
	}
	var ioctlSize uint64
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), 0x80081272, uintptr(unsafe.Pointer(&ioctlSize))); e != 0 {
		fail("BLKGETSIZE64: %v", e)
	}
	fmt.Printf("blockdev: size %d stat %d ioctl %d\n", size, st.Size(), ioctlSize)

	var wg sync.WaitGroup
	errs := make(chan error, records)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < records; i += 4 {
				if _, err := f.WriteAt(record(i), offset(i)); err != nil {
					errs <- fmt.Errorf("record %d: %v", i, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		fail("pwrite: %v", err)
	}
	// An unaligned write across the last sector boundary but one.
	if _, err := f.WriteAt([]byte("UNALIGNED"), size-512-4); err != nil {
		fail("unaligned pwrite: %v", err)
	}
	if _, err := f.WriteAt([]byte("x"), size); err == nil {
		fail("write past the end succeeded")
	}
	if err := f.Sync(); err != nil {
		fail("fsync: %v", err)
	}
	fmt.Printf("blockdev: wrote %d records\n", records)
	buf := make([]byte, recSize)
	for i := 0; i < records; i++ {
		if _, err := f.ReadAt(buf, offset(i)); err != nil {
			fail("pread %d: %v", i, err)
		}
		if !bytes.Equal(buf, record(i)) {
			fail("record %d reads back as %q...", i, buf[:16])
		}
	}
	if _, err := f.ReadAt(buf[:9], size-512-4); err != nil || string(buf[:9]) != "UNALIGNED" {
		fail("unaligned pread: %q %v", buf[:9], err)
	}
	fmt.Println("blockdev: read back ok")
	// Throughput: the whole disk in 64 KiB preads.
	big := make([]byte, 64<<10)
	start := time.Now()
	for off := int64(0); off+int64(len(big)) <= size; off += int64(len(big)) {
		if _, err := f.ReadAt(big, off); err != nil {
			fail("pread 64K: %v", err)
		}
	}
	el := time.Since(start)
	fmt.Printf("blockdev: read %d KiB in 64 KiB preads in %v (%.1f MB/s)\n", size>>10, el.Round(time.Microsecond), float64(size)/el.Seconds()/1e6)
	whole := make([]byte, size)
	start = time.Now()
	if _, err := f.ReadAt(whole, 0); err != nil {
		fail("pread whole disk: %v", err)
	}
	el = time.Since(start)
	fmt.Printf("blockdev: read %d KiB in one pread in %v (%.1f MB/s)\n", size>>10, el.Round(time.Microsecond), float64(size)/el.Seconds()/1e6)
	for i := 0; i < records; i++ {
		if !bytes.Equal(whole[offset(i):offset(i)+recSize], record(i)) {
			fail("record %d differs in the whole-disk read", i)
		}
	}
	if err := f.Close(); err != nil {
		fail("close: %v", err)
	}
	fmt.Println("blockdev: ok")
}

func readOnly() {
	_, err := os.OpenFile("/dev/vda", os.O_RDWR, 0)
	if !errors.Is(err, syscall.EROFS) {
		fail("open read-write: %v, want EROFS", err)
	}
	fmt.Println("blockdev: open for writing: EROFS")
	f, err := os.Open("/dev/vda")
	if err != nil {
		fail("open: %v", err)
	}
	if _, err := f.WriteAt([]byte("x"), 0); !errors.Is(err, syscall.EBADF) {
		fail("write: %v, want EBADF", err)
	}
	fmt.Println("blockdev: write: EBADF")
	buf := make([]byte, recSize)
	if _, err := f.ReadAt(buf, offset(3)); err != nil {
		fail("pread: %v", err)
	}
	if !bytes.Equal(buf, record(3)) {
		fail("record 3 reads as %q", buf[:16])
	}
	fmt.Println("blockdev: ro ok")
}
