package fsserve

import (
	"errors"
	"fmt"
	"os"
	"path"
	"runtime"
	"sync"
	"syscall"
	"unsafe"

	"github.com/unigo-os/unigo/abi"
)

// The file channel's system calls (abi/fschan.go) and the reader
// goroutine that starts one goroutine per request.

// ErrNotUnigo is returned by Mount and ServeDevice when the program runs
// as a plain Linux process.
var ErrNotUnigo = errors.New("fsserve: not running on unigo")

var (
	startOnce sync.Once
	startErr  error
	srv       *server
)

type channel struct{}

func (channel) reply(id uint64, result int64, data []byte, aux int64) {
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	}
	syscall.Syscall6(abi.SysFsReply, uintptr(id), uintptr(result), uintptr(p), uintptr(len(data)), uintptr(aux), 0)
}

func (channel) pull(id uint64, b []byte, off uint64) (int, syscall.Errno) {
	if len(b) == 0 {
		return 0, 0
	}
	r, _, e := syscall.Syscall6(abi.SysFsPull, uintptr(id), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(off), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), 0
}

// start attaches to the file channel and starts the reader, once.
func start() error {
	startOnce.Do(func() {
		fd, _, e := syscall.RawSyscall(abi.SysFsAttach, 0, 0, 0)
		if e == syscall.ENOSYS {
			startErr = ErrNotUnigo
			return
		}
		if e != 0 {
			startErr = fmt.Errorf("fsserve: attach: %w", e)
			return
		}
		srv = newServer(channel{})
		// A thread blocked in a file request keeps its P (Go's
		// processor) until the runtime's sysmon takes it back, ticks
		// later; with one P nothing else could run meanwhile, the
		// server included. A second P lets the server answer at once.
		if runtime.GOMAXPROCS(0) < 2 {
			runtime.GOMAXPROCS(2)
		}
		go readLoop(int(fd))
	})
	return startErr
}

// readLoop reads request records and serves each on a goroutine of its
// own, so slow requests do not hold up others. The channel descriptor is
// non-blocking and read through an os.File: the reader waits in Go's
// netpoller, holding no P, so the request goroutines it starts run at
// once instead of waiting for the runtime to take back a P parked in a
// blocking read.
func readLoop(fd int) {
	if err := syscall.SetNonblock(fd, true); err != nil {
		fmt.Fprintf(os.Stderr, "fsserve: channel: %v\n", err)
		return
	}
	f := os.NewFile(uintptr(fd), "fschan")
	buf := make([]byte, 16*abi.FsMaxRecord)
	for {
		n, err := f.Read(buf)
		if err != nil || n <= 0 {
			continue // EINTR; the channel never closes
		}
		for _, r := range parse(buf[:n]) {
			go srv.handle(&r)
		}
		// Let the new goroutines run here at once: parked in the
		// netpoller, the reader would leave them for another thread to
		// steal, which costs the runtime a sleep.
		runtime.Gosched()
	}
}

// Mount serves fsys at guestPath, an absolute path (created as a
// directory if missing). System calls on paths beneath it, and on
// descriptors opened there, reach fsys from then on. With readOnly every
// change fails with EROFS.
func Mount(guestPath string, fsys FS, readOnly bool) error {
	return doMount(guestPath, fsys, readOnly, 0)
}

func doMount(guestPath string, fsys FS, readOnly bool, flags uintptr) error {
	if !path.IsAbs(guestPath) || path.Clean(guestPath) == "/" {
		return fmt.Errorf("fsserve: mount point %q: not an absolute path below /", guestPath)
	}
	if err := start(); err != nil {
		return err
	}
	if readOnly {
		flags |= abi.FsMountRO
	}
	b := []byte(guestPath)
	id, _, e := syscall.Syscall(abi.SysFsMount, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), flags)
	if e != 0 {
		return fmt.Errorf("fsserve: mount %s: %w", guestPath, e)
	}
	srv.addMount(uint32(id), fsys, readOnly)
	return nil
}

// ServeDevice serves dev as the block device file guestPath (/dev/vda,
// say): stat shows a block device of dev's size, reads and writes at any
// offset reach dev (unaligned ones through read-modify-write of whole
// sectors), fsync flushes it, and ioctl BLKGETSIZE64 reports its size.
func ServeDevice(guestPath string, dev Device, readOnly bool) error {
	return doMount(guestPath, newDeviceFS(dev, readOnly), readOnly, abi.FsMountDevice)
}
