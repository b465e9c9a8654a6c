// Command pipes exercises pipes, eventfds and epoll, the way Go's netpoller
// and programs use them: an os.Pipe round trip, a goroutine parked on a
// pipe read woken by a later write, EOF after the writer closes, a raw
// blocking pipe read on a locked thread woken from another thread,
// eventfd counter semantics, a raw epoll wait with timeout, time.Sleep
// after the netpoller is up, and dup/fcntl. It
// prints "pipes: ok", or the first failed check and exits 1.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "pipes:", err)
		os.Exit(1)
	}
	fmt.Println("pipes: ok")
}

func run() error {
	for _, step := range []struct {
		name string
		fn   func() error
	}{
		{"round trip", roundTrip},
		{"parked reader", parkedReader},
		{"large write", largeWrite},
		{"raw blocking pipe", rawBlocking},
		{"eventfd", eventfd},
		{"epoll", epoll},
		{"sleep", sleep},
		{"dup", dup},
	} {
		if err := step.fn(); err != nil {
			return fmt.Errorf("%s: %w", step.name, err)
		}
		fmt.Printf("pipes: %s ok\n", step.name)
	}
	return nil
}

func roundTrip() error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	if _, err := w.Write([]byte("hello, pipe")); err != nil {
		return err
	}
	buf := make([]byte, 64)
	n, err := r.Read(buf)
	if err != nil || string(buf[:n]) != "hello, pipe" {
		return fmt.Errorf("read %q, %v", buf[:n], err)
	}
	w.Close()
	if n, err := r.Read(buf); n != 0 || err != io.EOF {
		return fmt.Errorf("read after close = %d, %v; want EOF", n, err)
	}
	return nil
}

// parkedReader parks a goroutine in the netpoller on an empty pipe and
// wakes it with a write 50 ms later.
func parkedReader() error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	defer w.Close()
	got := make(chan string)
	go func() {
		buf := make([]byte, 16)
		n, err := r.Read(buf)
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		got <- string(buf[:n])
	}()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	if _, err := w.Write([]byte("wake")); err != nil {
		return err
	}
	select {
	case s := <-got:
		if s != "wake" {
			return fmt.Errorf("reader got %q", s)
		}
	case <-time.After(10 * time.Second):
		return errors.New("reader not woken within 10s")
	}
	if d := time.Since(start); d > 5*time.Second {
		return fmt.Errorf("wakeup took %v", d)
	}
	return nil
}

// largeWrite pushes more than the pipe holds, so the writer blocks until
// the reader drains it.
func largeWrite() error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	data := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	errc := make(chan error, 1)
	go func() {
		_, err := w.Write(data)
		w.Close()
		errc <- err
	}()
	got, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := <-errc; err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("read %d bytes, want %d", len(got), len(data))
	}
	return nil
}

// rawBlocking blocks a locked OS thread in read(2) on a blocking pipe and
// writes from another.
func rawBlocking() error {
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		return err
	}
	defer syscall.Close(p[0])
	got := make(chan string, 1)
	go func() {
		runtime.LockOSThread()
		buf := make([]byte, 16)
		n, err := syscall.Read(p[0], buf)
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		got <- string(buf[:n])
	}()
	time.Sleep(20 * time.Millisecond)
	if _, err := syscall.Write(p[1], []byte("raw")); err != nil {
		return err
	}
	if s := <-got; s != "raw" {
		return fmt.Errorf("reader got %q", s)
	}
	syscall.Close(p[1])
	buf := make([]byte, 4)
	if n, err := syscall.Read(p[0], buf); n != 0 || err != nil {
		return fmt.Errorf("read after writer closed = %d, %v; want 0", n, err)
	}
	// A write with no reader left fails with EPIPE (Go ignores SIGPIPE
	// for fds other than 1 and 2).
	var q [2]int
	if err := syscall.Pipe2(q[:], syscall.O_CLOEXEC); err != nil {
		return err
	}
	syscall.Close(q[0])
	_, err := syscall.Write(q[1], []byte("x"))
	syscall.Close(q[1])
	if err != syscall.EPIPE {
		return fmt.Errorf("write to a pipe without readers: %v, want EPIPE", err)
	}
	return nil
}

func eventfd() error {
	fd, err := unix.Eventfd(3, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var b [8]byte
	if _, err := unix.Write(fd, le(4)); err != nil {
		return err
	}
	if n, err := unix.Read(fd, b[:]); n != 8 || err != nil || get(b) != 7 {
		return fmt.Errorf("read = %d, %v, %d; want 7", n, err, get(b))
	}
	if _, err := unix.Read(fd, b[:]); err != unix.EAGAIN {
		return fmt.Errorf("read of a zero counter: %v, want EAGAIN", err)
	}
	sem, err := unix.Eventfd(2, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK|unix.EFD_SEMAPHORE)
	if err != nil {
		return err
	}
	defer unix.Close(sem)
	for i := 0; i < 2; i++ {
		if _, err := unix.Read(sem, b[:]); err != nil || get(b) != 1 {
			return fmt.Errorf("semaphore read %d = %d, %v", i, get(b), err)
		}
	}
	if _, err := unix.Read(sem, b[:]); err != unix.EAGAIN {
		return fmt.Errorf("empty semaphore read: %v, want EAGAIN", err)
	}
	return nil
}

// epollWait is unix.EpollWait retried, with what is left of the timeout,
// when a signal interrupts it: natively the Go runtime's preemption
// signals reach this thread, as any Linux program must expect.
func epollWait(ep int, events []unix.EpollEvent, msec int) (int, error) {
	deadline := time.Now().Add(time.Duration(msec) * time.Millisecond)
	for {
		n, err := unix.EpollWait(ep, events, msec)
		if err != unix.EINTR {
			return n, err
		}
		if msec > 0 {
			msec = max(0, int(time.Until(deadline).Milliseconds()))
		}
	}
}

func epoll() error {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	defer unix.Close(ep)
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return err
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(p[0])}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, p[0], &ev); err != nil {
		return err
	}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, p[0], &ev); err != unix.EEXIST {
		return fmt.Errorf("second add: %v, want EEXIST", err)
	}
	events := make([]unix.EpollEvent, 4)
	start := time.Now()
	n, err := epollWait(ep, events, 30)
	if err != nil || n != 0 {
		return fmt.Errorf("wait on an empty pipe = %d, %v", n, err)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		return fmt.Errorf("30 ms wait returned after %v", d)
	}
	// A write from another goroutine wakes a blocked wait.
	go func() {
		time.Sleep(20 * time.Millisecond)
		unix.Write(p[1], []byte("x"))
	}()
	n, err = epollWait(ep, events, 10000)
	if err != nil || n != 1 || events[0].Fd != int32(p[0]) || events[0].Events&unix.EPOLLIN == 0 {
		return fmt.Errorf("wait after write = %d, %v, %+v", n, err, events[0])
	}
	// Level-triggered: still readable.
	if n, _ := epollWait(ep, events, 0); n != 1 {
		return fmt.Errorf("level-triggered rewait = %d, want 1", n)
	}
	// Edge-triggered: reported once.
	ev.Events = unix.EPOLLIN | unix.EPOLLET
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_MOD, p[0], &ev); err != nil {
		return err
	}
	if n, _ := epollWait(ep, events, 0); n != 1 {
		return fmt.Errorf("edge-triggered first wait = %d, want 1", n)
	}
	if n, _ := epollWait(ep, events, 0); n != 0 {
		return fmt.Errorf("edge-triggered second wait = %d, want 0", n)
	}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_DEL, p[0], nil); err != nil {
		return err
	}
	// Regular files cannot be polled.
	f, err := os.CreateTemp("", "pipes-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	ev = unix.EpollEvent{Events: unix.EPOLLIN}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, int(f.Fd()), &ev); err != unix.EPERM {
		return fmt.Errorf("add of a regular file: %v, want EPERM", err)
	}
	return nil
}

func sleep() error {
	for _, d := range []time.Duration{time.Millisecond, 30 * time.Millisecond} {
		start := time.Now()
		time.Sleep(d)
		if e := time.Since(start); e < d || e > d+2*time.Second {
			return fmt.Errorf("Sleep(%v) took %v", d, e)
		}
	}
	return nil
}

func dup() error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	defer w.Close()
	fd, err := unix.FcntlInt(w.Fd(), unix.F_DUPFD_CLOEXEC, 100)
	if err != nil || fd < 100 {
		return fmt.Errorf("F_DUPFD_CLOEXEC = %d, %v", fd, err)
	}
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || fl != unix.FD_CLOEXEC {
		return fmt.Errorf("F_GETFD = %d, %v", fl, err)
	}
	if _, err := unix.Write(fd, []byte("dup")); err != nil {
		return err
	}
	unix.Close(fd)
	if err := unix.Dup3(int(w.Fd()), 200, 0); err != nil {
		return err
	}
	unix.Write(200, []byte("3"))
	unix.Close(200)
	buf := make([]byte, 8)
	n, err := r.Read(buf)
	if err != nil || string(buf[:n]) != "dup3" {
		return fmt.Errorf("read %q, %v", buf[:n], err)
	}
	return nil
}

func le(v uint64) []byte {
	var b [8]byte
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	return b[:]
}

func get(b [8]byte) uint64 {
	var v uint64
	for i := range b {
		v |= uint64(b[i]) << (8 * i)
	}
	return v
}
