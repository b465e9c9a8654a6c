// Command volume uses host directories shared with unigo run -v (or QEMU's
// virtio-9p-device) through the ordinary os package: drivers/storage
// mounts each virtio-9p device at its tag, the kernel's file channel
// serves the program's system calls on it. It writes /data/guest.txt and
// fsyncs it, reads the host's files, and checks that "..", symlinks
// pointing out and absolute symlinks stay inside the volume and that the
// read-only volume /ro refuses changes with EROFS.
package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	_ "github.com/unigo-os/unigo/drivers/storage"
)

func fail(format string, a ...any) {
	fmt.Printf("volume: FAIL: "+format+"\n", a...)
	os.Exit(1)
}

// errno names the errno in err, for the host test to match.
func errno(err error) string {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e.Error()
	}
	return fmt.Sprint(err)
}

func main() {
	b, err := os.ReadFile("/data/hello.txt")
	if err != nil {
		fail("read /data/hello.txt: %v", err)
	}
	fmt.Printf("volume: /data/hello.txt: %s\n", b)

	f, err := os.Create("/data/guest.txt")
	if err != nil {
		fail("create: %v", err)
	}
	if _, err := f.WriteString("written in the guest\n"); err != nil {
		fail("write: %v", err)
	}
	if err := f.Sync(); err != nil {
		fail("fsync: %v", err)
	}
	f.Close()
	fmt.Println("volume: wrote /data/guest.txt, fsync ok")
	if err := os.MkdirAll("/data/dir/sub", 0o755); err != nil {
		fail("mkdir: %v", err)
	}
	if err := os.Rename("/data/guest.txt", "/data/dir/sub/moved.txt"); err == nil {
		os.Rename("/data/dir/sub/moved.txt", "/data/guest.txt")
	} else {
		fail("rename: %v", err)
	}
	ents, err := os.ReadDir("/data")
	if err != nil {
		fail("readdir: %v", err)
	}
	fmt.Printf("volume: /data has %d entries\n", len(ents))

	// Ways out: each must stay inside the volume and find nothing.
	for _, p := range []string{"/data/../outside.txt", "/data/up/outside.txt", "/data/rel", "/data/abs/passwd", "/data/dir/../../outside.txt"} {
		if b, err := os.ReadFile(p); err == nil {
			fail("read %s: %q", p, b)
		} else {
			fmt.Printf("volume: %s: %s\n", p, errno(err))
		}
	}

	b, err = os.ReadFile("/ro/hello.txt")
	if err != nil {
		fail("read /ro/hello.txt: %v", err)
	}
	fmt.Printf("volume: /ro/hello.txt: %s\n", b)
	_, err = os.Create("/ro/nope.txt")
	fmt.Printf("volume: create /ro/nope.txt: %s\n", errno(err))
	err = os.Remove("/ro/hello.txt")
	fmt.Printf("volume: remove /ro/hello.txt: %s\n", errno(err))
	fmt.Println("volume: ok")
}
