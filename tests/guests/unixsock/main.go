// Command unixsock exercises AF_UNIX sockets through the unmodified net
// package: a stream listener with concurrent echo clients, half-close,
// a datagram exchange, socketpair, SOCK_SEQPACKET, deadlines and accept
// unblocked by Close.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

func check(what string, err error) {
	if err != nil {
		fmt.Printf("unixsock: %s: %v\n", what, err)
		os.Exit(1)
	}
}

func main() {
	// A fresh directory: native runs share /tmp, and a datagram socket's
	// path outlives it.
	dir, err := os.MkdirTemp("", "unixsock")
	check("mkdirtemp", err)
	defer os.RemoveAll(dir)
	path := dir + "/echo.sock"
	ln, err := net.Listen("unix", path)
	check("listen", err)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				io.Copy(c, c) // echo until the client half-closes
			}(c)
		}
	}()

	const clients = 20
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := net.Dial("unix", path)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			msg := fmt.Sprintf("hello %d %s", i, string(make([]byte, 100000)))
			go func() {
				c.Write([]byte(msg))
				c.(*net.UnixConn).CloseWrite()
			}()
			got, err := io.ReadAll(c)
			if err != nil {
				errs <- err
				return
			}
			if string(got) != msg {
				errs <- fmt.Errorf("client %d: echo mismatch (%d bytes, want %d)", i, len(got), len(msg))
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		check("stream client", err)
	}
	fmt.Printf("unixsock: stream echo ok (%d clients)\n", clients)

	// Deadline: a read with nothing to read times out.
	c, err := net.Dial("unix", path)
	check("dial", err)
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err = c.Read(make([]byte, 1))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		check("deadline", fmt.Errorf("read error %v, want a timeout", err))
	}
	c.Close()
	fmt.Println("unixsock: read deadline ok")

	// Close unblocks Accept.
	done := make(chan error)
	ln2, err := net.Listen("unix", dir+"/idle.sock")
	check("listen idle", err)
	go func() { _, err := ln2.Accept(); done <- err }()
	time.Sleep(20 * time.Millisecond)
	ln2.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		check("accept after close", fmt.Errorf("got %v, want net.ErrClosed", err))
	}
	fmt.Println("unixsock: close unblocks accept ok")
	ln.Close()

	// Dialing a path nobody listens on.
	if _, err := net.Dial("unix", dir+"/nobody.sock"); err == nil {
		check("dial nobody", errors.New("succeeded"))
	}

	// Datagrams.
	srv, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: dir + "/dg.sock", Net: "unixgram"})
	check("listen unixgram", err)
	cli, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: dir + "/dgc.sock", Net: "unixgram"})
	check("client unixgram", err)
	_, err = cli.WriteToUnix([]byte("ping"), srv.LocalAddr().(*net.UnixAddr))
	check("sendto", err)
	buf := make([]byte, 64)
	n, from, err := srv.ReadFromUnix(buf)
	check("recvfrom", err)
	_, err = srv.WriteToUnix([]byte(string(buf[:n])+"-pong"), from)
	check("reply", err)
	n, _, err = cli.ReadFromUnix(buf)
	check("read reply", err)
	fmt.Printf("unixsock: datagram %q from %s\n", buf[:n], from.Name[len(dir):])
	srv.Close()
	cli.Close()

	// socketpair, wrapped in files and conns.
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	check("socketpair", err)
	fa, err := net.FileConn(os.NewFile(uintptr(fds[0]), "a"))
	check("fileconn a", err)
	fb, err := net.FileConn(os.NewFile(uintptr(fds[1]), "b"))
	check("fileconn b", err)
	go fmt.Fprintf(fa, "over the pair\n")
	line, err := bufio.NewReader(fb).ReadString('\n')
	check("pair read", err)
	fmt.Printf("unixsock: socketpair %q\n", line)
	fa.Close()
	fb.Close()

	seqpacket(dir)
	fmt.Println("unixsock: done")
}

// seqpacket checks SOCK_SEQPACKET ("unixpacket"): connected like a stream,
// record boundaries kept like datagrams, a record longer than the read
// buffer truncated, EOF once the peer closes, EPIPE writing to it after.
func seqpacket(dir string) {
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: dir + "/seq.sock", Net: "unixpacket"})
	check("seqpacket listen", err)
	defer ln.Close()
	cli, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: dir + "/seq.sock", Net: "unixpacket"})
	check("seqpacket dial", err)
	srv, err := ln.AcceptUnix()
	check("seqpacket accept", err)
	for _, rec := range []string{"a", "bb", "ccc", "dddddddd", "e"} {
		_, err := cli.Write([]byte(rec))
		check("seqpacket write", err)
	}
	var got []string
	for i := 0; i < 5; i++ {
		buf := make([]byte, 4)
		n, err := srv.Read(buf)
		check("seqpacket read", err)
		got = append(got, string(buf[:n]))
	}
	fmt.Printf("unixsock: seqpacket records %q\n", got)
	cli.Close()
	if _, err := srv.Read(make([]byte, 4)); err != io.EOF {
		fmt.Printf("unixsock: seqpacket read after close: %v, want EOF\n", err)
		os.Exit(1)
	}
	if _, err := srv.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
		fmt.Printf("unixsock: seqpacket write after close: %v, want EPIPE\n", err)
		os.Exit(1)
	}
	srv.Close()

	// A socketpair of the type, and a stream client refused by the
	// seqpacket listener.
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET, 0)
	check("seqpacket socketpair", err)
	_, err = syscall.Write(fds[0], []byte("one"))
	check("seqpacket pair write", err)
	_, err = syscall.Write(fds[0], []byte("two"))
	check("seqpacket pair write", err)
	buf := make([]byte, 16)
	n, err := syscall.Read(fds[1], buf)
	check("seqpacket pair read", err)
	if string(buf[:n]) != "one" {
		fmt.Printf("unixsock: seqpacket pair read %q, want \"one\"\n", buf[:n])
		os.Exit(1)
	}
	syscall.Close(fds[0])
	syscall.Close(fds[1])
	if _, err := net.Dial("unix", dir+"/seq.sock"); !errors.Is(err, syscall.EPROTOTYPE) {
		fmt.Printf("unixsock: stream dial of a seqpacket listener: %v, want EPROTOTYPE\n", err)
		os.Exit(1)
	}
	fmt.Println("unixsock: seqpacket ok")
}
