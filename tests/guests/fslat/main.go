// Command fslat measures the kernel's file channel: it mounts an
// in-memory fsserve.FS at /mnt and times N stats and N 4 KiB preads of a
// file there, checking each result, and prints the mean per operation.
// The count is the first argument (default 2000).
package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/unigo-os/unigo/drivers/fsserve"
)

func fail(what string, err error) {
	fmt.Printf("fslat: %s: %v\n", what, err)
	os.Exit(1)
}

func main() {
	n := 2000
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil || v <= 0 {
			fmt.Printf("fslat: bad count %q\n", os.Args[1])
			os.Exit(2)
		}
		n = v
	}
	if err := fsserve.Mount("/mnt", fsserve.NewMemFS(), false); err != nil {
		fail("mount", err)
	}
	data := bytes.Repeat([]byte("fslat-0123456789"), 1024) // 16 KiB
	if err := os.WriteFile("/mnt/f", data, 0o644); err != nil {
		fail("write", err)
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		st, err := os.Stat("/mnt/f")
		if err != nil {
			fail("stat", err)
		}
		if st.Size() != int64(len(data)) {
			fail("stat", fmt.Errorf("size %d, want %d", st.Size(), len(data)))
		}
	}
	stat := time.Since(start)
	f, err := os.Open("/mnt/f")
	if err != nil {
		fail("open", err)
	}
	buf := make([]byte, 4096)
	start = time.Now()
	for i := 0; i < n; i++ {
		off := int64(i%4) * 4096
		m, err := f.ReadAt(buf, off)
		if err != nil || m != len(buf) {
			fail("pread", fmt.Errorf("%d bytes, %v", m, err))
		}
		if !bytes.Equal(buf, data[off:off+4096]) {
			fail("pread", fmt.Errorf("wrong bytes at %d", off))
		}
	}
	pread := time.Since(start)
	f.Close()
	us := func(d time.Duration) string {
		return strconv.FormatFloat(float64(d.Nanoseconds())/float64(n)/1e3, 'f', 1, 64)
	}
	fmt.Printf("fslat: n=%d stat_us=%s pread4k_us=%s\n", n, us(stat), us(pread))
	fmt.Println("fslat: ok")
}
