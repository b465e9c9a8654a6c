// Command volfill fills the volume at its argument's directory: it appends
// 64 KiB chunks to a file there, each followed by fsync, until a write or
// fsync fails, and reports how many bytes were acknowledged and the error.
// The host checks that ENOSPC reached the guest and that every
// acknowledged byte is in the file.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

const chunk = 64 << 10

func main() {
	if len(os.Args) != 2 {
		fmt.Println("usage: volfill DIR")
		os.Exit(2)
	}
	f, err := os.Create(filepath.Join(os.Args[1], "fill"))
	if err != nil {
		fmt.Println("volfill: create:", err)
		os.Exit(1)
	}
	buf := make([]byte, chunk)
	acked := 0
	for i := 0; ; i++ {
		for j := range buf {
			buf[j] = byte('a' + i%26)
		}
		_, err := f.Write(buf)
		if err == nil {
			err = f.Sync()
		}
		if err != nil {
			var e syscall.Errno
			errors.As(err, &e)
			fmt.Printf("volfill: acknowledged %d bytes, then errno %d (%v)\n", acked, int(e), err)
			break
		}
		acked += chunk
	}
	if err := f.Close(); err != nil {
		fmt.Println("volfill: close:", err)
	}
	fmt.Println("volfill: done")
}
