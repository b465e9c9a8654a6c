// Command sendfile checks sendfile(2) and copy_file_range(2): the offset
// pointer and file position semantics, clipping at the end of the file,
// a pipe as the source, partial counts and EAGAIN on a non-blocking
// destination, the refusals, and the standard library's users (io.Copy
// from a file to a TCP connection, http.ServeFile, io.Copy between
// files), with the bytes checked by SHA-256.
package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"syscall"
	"unsafe"
)

func check(what string, err error) {
	if err != nil {
		fmt.Printf("sendfile: %s: %v\n", what, err)
		os.Exit(1)
	}
}

func want(what string, ok bool, format string, args ...any) {
	if !ok {
		fmt.Printf("sendfile: %s: "+format+"\n", append([]any{what}, args...)...)
		os.Exit(1)
	}
}

const size = 1<<20 + 12345

func main() {
	data := make([]byte, size)
	rand.New(rand.NewSource(1)).Read(data)
	sum := sha256.Sum256(data)
	dir, err := os.MkdirTemp("", "sendfile")
	check("mkdtemp", err)
	path := dir + "/src"
	check("write", os.WriteFile(path, data, 0o644))

	offsets(path, data)
	pipes(path, data)
	nonblocking(path, data)
	refusals(path)
	copyRange(dir, path, data)
	tcp(path, sum)
	serve(path, sum)
	fmt.Println("sendfile: ok")
}

// offsets: with an offset pointer the pointer moves and the file
// position does not; without one the position moves; counts past the
// end are clipped; at the end the result is 0.
func offsets(path string, data []byte) {
	in, err := os.Open(path)
	check("open", err)
	defer in.Close()
	out, err := os.CreateTemp("", "dst")
	check("create", err)
	defer out.Close()
	ifd, ofd := int(in.Fd()), int(out.Fd())

	off := int64(1000)
	n, err := syscall.Sendfile(ofd, ifd, &off, 5000)
	check("sendfile at offset", err)
	want("offset", n == 5000 && off == 6000, "n=%d off=%d, want 5000 6000", n, off)
	pos, _ := in.Seek(0, io.SeekCurrent)
	want("offset", pos == 0, "file position %d after sendfile with an offset, want 0", pos)

	n, err = syscall.Sendfile(ofd, ifd, nil, 3000)
	check("sendfile at position", err)
	pos, _ = in.Seek(0, io.SeekCurrent)
	want("position", n == 3000 && pos == 3000, "n=%d position=%d, want 3000 3000", n, pos)

	off = size - 100
	n, err = syscall.Sendfile(ofd, ifd, &off, 1<<20)
	check("sendfile at the end", err)
	want("clip", n == 100 && off == size, "n=%d off=%d, want 100 %d", n, off, size)
	n, err = syscall.Sendfile(ofd, ifd, &off, 10)
	want("eof", n == 0 && err == nil, "n=%d err=%v at end of file, want 0 nil", n, err)

	got, err := os.ReadFile(out.Name())
	check("read back", err)
	exp := append(append(append([]byte{}, data[1000:6000]...), data[:3000]...), data[size-100:]...)
	want("offsets", bytes.Equal(got, exp), "file holds %d bytes, not the %d expected", len(got), len(exp))
	os.Remove(out.Name())
	fmt.Println("sendfile: offsets ok")
}

// pipes: a file into a pipe; a pipe source is refused, as on Linux.
func pipes(path string, data []byte) {
	in, err := os.Open(path)
	check("open", err)
	defer in.Close()
	r, w, err := os.Pipe()
	check("pipe", err)
	_, err = syscall.Sendfile(int(w.Fd()), int(r.Fd()), nil, 1)
	want("pipe in", err == syscall.EINVAL, "a pipe source: %v, want EINVAL (as Linux)", err)
	done := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(r)
		done <- b
	}()
	var total int
	for total < 200000 {
		n, err := syscall.Sendfile(int(w.Fd()), int(in.Fd()), nil, 200000-total)
		check("sendfile to pipe", err)
		total += n
	}
	w.Close()
	got := <-done
	r.Close()
	want("to pipe", bytes.Equal(got, data[:200000]), "pipe read %d bytes, not the first 200000", len(got))

	fmt.Println("sendfile: pipes ok")
}

// nonblocking: into a full non-blocking pipe, a partial count, then
// EAGAIN; the file position counts only what went out.
func nonblocking(path string, data []byte) {
	in, err := os.Open(path)
	check("open", err)
	defer in.Close()
	var p [2]int
	check("pipe2", syscall.Pipe2(p[:], syscall.O_NONBLOCK))
	defer syscall.Close(p[0])
	defer syscall.Close(p[1])
	n, err := syscall.Sendfile(p[1], int(in.Fd()), nil, size)
	check("sendfile non-blocking", err)
	want("partial", n > 0 && n < size, "n=%d, want a partial count", n)
	pos, _ := in.Seek(0, io.SeekCurrent)
	want("partial", pos == int64(n), "file position %d after sending %d", pos, n)
	_, err = syscall.Sendfile(p[1], int(in.Fd()), nil, size)
	want("eagain", err == syscall.EAGAIN, "full pipe: %v, want EAGAIN", err)
	buf := make([]byte, n)
	m := 0
	for m < n {
		k, err := syscall.Read(p[0], buf[m:])
		check("read pipe", err)
		m += k
	}
	want("partial bytes", m == n && bytes.Equal(buf, data[:n]), "pipe held other bytes")
	fmt.Println("sendfile: non-blocking ok")
}

// refusals: bad descriptors, a write-only source, a socket source, a
// negative offset.
func refusals(path string) {
	in, err := os.Open(path)
	check("open", err)
	defer in.Close()
	out, err := os.CreateTemp("", "dst")
	check("create", err)
	defer os.Remove(out.Name())
	defer out.Close()
	_, err = syscall.Sendfile(int(out.Fd()), 9999, nil, 10)
	want("bad in", err == syscall.EBADF, "%v, want EBADF", err)
	wo, err := os.OpenFile(out.Name(), os.O_WRONLY, 0)
	check("open write-only", err)
	defer wo.Close()
	_, err = syscall.Sendfile(int(out.Fd()), int(wo.Fd()), nil, 10)
	want("write-only in", err == syscall.EBADF, "%v, want EBADF", err)
	_, err = syscall.Sendfile(int(in.Fd()), int(in.Fd()), nil, 10)
	want("read-only out", err == syscall.EBADF, "%v, want EBADF", err)
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	check("socketpair", err)
	_, err = syscall.Sendfile(int(out.Fd()), fds[0], nil, 10)
	want("socket in", err == syscall.EINVAL, "%v, want EINVAL", err)
	syscall.Close(fds[0])
	syscall.Close(fds[1])
	off := int64(-1)
	_, err = syscall.Sendfile(int(out.Fd()), int(in.Fd()), &off, 10)
	want("negative offset", err == syscall.EINVAL, "%v, want EINVAL", err)
	fmt.Println("sendfile: refusals ok")
}

// copyRange: copy_file_range with and without offsets, and io.Copy
// between two files (which tries it first).
func copyRange(dir, path string, data []byte) {
	in, err := os.Open(path)
	check("open", err)
	defer in.Close()
	out, err := os.Create(dir + "/copy")
	check("create", err)
	defer out.Close()
	roff, woff := int64(10), int64(0)
	n, err := copyFileRange(int(in.Fd()), &roff, int(out.Fd()), &woff, 1000)
	check("copy_file_range", err)
	want("copy_file_range", n == 1000 && roff == 1010 && woff == 1000, "n=%d roff=%d woff=%d", n, roff, woff)
	rpos, _ := in.Seek(0, io.SeekCurrent)
	wpos, _ := out.Seek(0, io.SeekCurrent)
	want("copy_file_range positions", rpos == 0 && wpos == 0, "positions %d %d moved", rpos, wpos)
	got, err := os.ReadFile(dir + "/copy")
	check("read back", err)
	want("copy_file_range bytes", bytes.Equal(got, data[10:1010]), "copy holds other bytes")

	check("truncate", out.Truncate(0))
	m, err := io.Copy(out, in)
	check("io.Copy file to file", err)
	got, err = os.ReadFile(dir + "/copy")
	check("read back", err)
	want("io.Copy file to file", m == size && bytes.Equal(got, data), "copied %d, file holds %d bytes", m, len(got))
	fmt.Println("sendfile: copy_file_range ok")
}

func copyFileRange(rfd int, roff *int64, wfd int, woff *int64, n int) (int, error) {
	r, _, e := syscall.Syscall6(sysCopyFileRange, uintptr(rfd), uintptrOf(roff), uintptr(wfd), uintptrOf(woff), uintptr(n), 0)
	if e != 0 {
		return int(r), e
	}
	return int(r), nil
}

// tcp: io.Copy from a file to a TCP connection (net's sendfile path),
// with a slow reader so the non-blocking socket fills up.
func tcp(path string, sum [32]byte) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check("listen", err)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		f, err := os.Open(path)
		if err == nil {
			io.Copy(c, f)
			f.Close()
		}
		c.Close()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	check("dial", err)
	h := sha256.New()
	n, err := io.Copy(h, c)
	check("receive", err)
	c.Close()
	want("tcp", n == size && bytes.Equal(h.Sum(nil), sum[:]), "received %d bytes, sha256 %x", n, h.Sum(nil))
	fmt.Println("sendfile: io.Copy to TCP ok")
}

// serve: http.ServeFile, whole and a range.
func serve(path string, sum [32]byte) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check("listen", err)
	defer ln.Close()
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, path)
	}))
	url := "http://" + ln.Addr().String() + "/f"
	resp, err := http.Get(url)
	check("get", err)
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	check("body", err)
	want("http", resp.StatusCode == 200 && n == size && bytes.Equal(h.Sum(nil), sum[:]), "status %d, %d bytes, sha256 %x", resp.StatusCode, n, h.Sum(nil))

	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Range", "bytes=100000-100099")
	resp, err = http.DefaultClient.Do(req)
	check("get range", err)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	check("range body", err)
	data, _ := os.ReadFile(path)
	want("http range", resp.StatusCode == 206 && bytes.Equal(b, data[100000:100100]), "status %d, %d bytes", resp.StatusCode, len(b))
	fmt.Println("sendfile: http.ServeFile ok")
}

// sysCopyFileRange is copy_file_range(2) on linux/amd64.
const sysCopyFileRange = 326

func uintptrOf(p *int64) uintptr { return uintptr(unsafe.Pointer(p)) }
