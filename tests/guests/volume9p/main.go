// Command volume9p drives every virtio-9p device through the guest's own
// 9P stack (drivers/virtio/virtio9p, hugelgupf/p9's client,
// drivers/volume) without the kernel's file channel: the end-to-end test
// of the transport against the unigo launcher's device (unigo run -v) and
// QEMU's virtio-9p-device. A volume tagged /data is written to (the host
// test checks the files), one tagged /ro must refuse changes; on both,
// "..", symlinks and absolute symlinks must lead nowhere.
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

	"github.com/hugelgupf/p9/p9"
	"github.com/unigo-os/unigo/drivers/fsserve"
	"github.com/unigo-os/unigo/drivers/virtio/virtio9p"
	"github.com/unigo-os/unigo/drivers/volume"
)

func fail(format string, a ...any) {
	fmt.Printf("volume9p: FAIL: "+format+"\n", a...)
	os.Exit(1)
}

func walk(fs fsserve.FS, names ...string) (fsserve.Node, error) {
	n, err := fs.Root()
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		c, err := n.Walk(name)
		n.Close()
		if err != nil {
			return nil, err
		}
		n = c
	}
	return n, nil
}

func readFile(fs fsserve.FS, names ...string) (string, error) {
	n, err := walk(fs, names...)
	if err != nil {
		return "", err
	}
	defer n.Close()
	h, err := n.Open(syscall.O_RDONLY)
	if err != nil {
		return "", err
	}
	defer h.Close()
	b := make([]byte, 4096)
	k, err := h.ReadAt(b, 0)
	if err != nil && err != io.EOF {
		return "", err
	}
	return string(b[:k]), nil
}

func writeFile(dir fsserve.Node, name string, data []byte) error {
	n, h, err := dir.Create(name, syscall.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer n.Close()
	defer h.Close()
	for off := 0; off < len(data); {
		k, err := h.WriteAt(data[off:], int64(off))
		if err != nil {
			return err
		}
		off += k
	}
	return h.Sync()
}

// escapes tries the ways out of the tree; each must fail.
func escapes(tag string, fs fsserve.FS) {
	// ".." is refused (unigo's server) or stays at the root (QEMU's).
	for _, path := range [][]string{{"..", "outside.txt"}, {"..", "..", "..", "etc", "passwd"}} {
		if s, err := readFile(fs, path...); err == nil {
			fail("%s: read %q: %q", tag, path, s)
		} else {
			fmt.Printf("volume9p: %s %s: %v\n", tag, path[len(path)-1], err)
		}
	}
	abs, err := walk(fs, "abs")
	if err != nil {
		fail("%s: abs: %v", tag, err)
	}
	target, err := abs.Readlink()
	abs.Close()
	fmt.Printf("volume9p: %s abs -> %s (%v)\n", tag, target, err)
	for _, path := range [][]string{{"abs", "passwd"}, {"up", "outside.txt"}, {"rel", "x"}} {
		if s, err := readFile(fs, path...); err == nil {
			fail("%s: read %q through a symlink: %q", tag, path, s)
		} else {
			fmt.Printf("volume9p: %s %s/%s: %v\n", tag, path[0], path[1], err)
		}
	}
	if _, err := readFile(fs, "rel"); err == nil {
		fail("%s: opened a symlink to outside the tree", tag)
	} else {
		fmt.Printf("volume9p: %s open rel: %v\n", tag, err)
	}
}

func data(tag string, fs fsserve.FS) {
	s, err := readFile(fs, "hello.txt")
	if err != nil {
		fail("%s: hello.txt: %v", tag, err)
	}
	fmt.Printf("volume9p: %s hello.txt: %s\n", tag, s)
	root, err := fs.Root()
	if err != nil {
		fail("%s: root: %v", tag, err)
	}
	defer root.Close()
	if err := writeFile(root, "guest.txt", []byte("written in the guest\n")); err != nil {
		fail("%s: guest.txt: %v", tag, err)
	}
	fmt.Printf("volume9p: %s wrote guest.txt, fsync ok\n", tag)
	// A file spanning many messages, written and read back.
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10)
	start := time.Now()
	if err := writeFile(root, "big.bin", big); err != nil {
		fail("%s: big.bin: %v", tag, err)
	}
	wrote := time.Since(start)
	start = time.Now()
	n, _ := walk(fs, "big.bin")
	h, err := n.Open(syscall.O_RDONLY)
	if err != nil {
		fail("%s: big.bin: %v", tag, err)
	}
	back := make([]byte, len(big)+1)
	k, err := h.ReadAt(back, 0)
	h.Close()
	n.Close()
	if err != io.EOF || !bytes.Equal(back[:k], big) {
		fail("%s: big.bin read back %d bytes, %v", tag, k, err)
	}
	fmt.Printf("volume9p: %s big.bin %d bytes round trip\n", tag, len(big))
	fmt.Printf("volume9p: %s 1 MiB written and fsynced in %v, read in %v\n", tag, wrote.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	// Concurrent requests: tags in flight at once.
	if err := root.Mkdir("many", 0o755); err != nil {
		fail("%s: mkdir: %v", tag, err)
	}
	dir, _ := walk(fs, "many")
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = writeFile(dir, fmt.Sprintf("f%02d", i), bytes.Repeat([]byte{byte('a' + i)}, 100000))
		}()
	}
	wg.Wait()
	dir.Close()
	if err := errors.Join(errs...); err != nil {
		fail("%s: concurrent writes: %v", tag, err)
	}
	fmt.Printf("volume9p: %s 16 concurrent writers ok\n", tag)
	escapes(tag, fs)
}

func readOnly(tag string, fs fsserve.FS) {
	s, err := readFile(fs, "hello.txt")
	if err != nil {
		fail("%s: hello.txt: %v", tag, err)
	}
	fmt.Printf("volume9p: %s hello.txt: %s\n", tag, s)
	root, _ := fs.Root()
	defer root.Close()
	_, _, err = root.Create("nope.txt", syscall.O_RDWR, 0o644)
	fmt.Printf("volume9p: %s create: %v\n", tag, err)
	if err != syscall.EROFS {
		fail("%s: create gave %v, want EROFS", tag, err)
	}
	n, _ := walk(fs, "hello.txt")
	_, err = n.Open(syscall.O_WRONLY)
	n.Close()
	fmt.Printf("volume9p: %s open for writing: %v\n", tag, err)
	if err != syscall.EROFS {
		fail("%s: open O_WRONLY gave %v, want EROFS", tag, err)
	}
	escapes(tag, fs)
}

func main() {
	infos, err := virtio9p.Probe()
	if err != nil {
		fail("%v", err)
	}
	if len(infos) == 0 {
		fail("no virtio-9p device")
	}
	for _, info := range infos {
		d, err := virtio9p.Open(info, false)
		if err != nil {
			fail("%v: %v", info, err)
		}
		c, err := p9.NewClient(d, p9.WithMessageSize(virtio9p.MessageSize))
		if err != nil {
			fail("%s: version: %v", d.Tag, err)
		}
		fs, err := volume.New(c)
		if err != nil {
			fail("%s: attach: %v", d.Tag, err)
		}
		st, err := fs.Statfs()
		if err != nil {
			fail("%s: statfs: %v", d.Tag, err)
		}
		fmt.Printf("volume9p: device %s, block size %d\n", d.Tag, st.Bsize)
		switch d.Tag {
		case "/data":
			data(d.Tag, fs)
		case "/ro":
			readOnly(d.Tag, fs)
		default:
			fail("unexpected tag %q", d.Tag)
		}
		fs.Close()
		c.Close()
	}
	fmt.Println("volume9p: ok")
}
