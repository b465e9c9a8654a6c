// Command sockopts checks socket options and ioctls through raw system
// calls, against the values Linux gives: the same program passes natively
// and under unigo. It prints one line per check group.
package main

import (
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"
)

func check(what string, err error) {
	if err != nil {
		fmt.Printf("sockopts: %s: %v\n", what, err)
		os.Exit(1)
	}
}

func want(what string, got, wanted int) {
	if got != wanted {
		fmt.Printf("sockopts: %s = %d, want %d\n", what, got, wanted)
		os.Exit(1)
	}
}

// setget sets an int option and reads it back.
func setget(fd, level, opt, val int) int {
	check(fmt.Sprintf("setsockopt(%d, %d)", level, opt), syscall.SetsockoptInt(fd, level, opt, val))
	v, err := syscall.GetsockoptInt(fd, level, opt)
	check(fmt.Sprintf("getsockopt(%d, %d)", level, opt), err)
	return v
}

// mtuDiscover: what a QUIC listener sets on its UDP sockets (path MTU
// probing); stored and read back, out-of-range modes refused.
func mtuDiscover() {
	const ipPMTUDiscProbe = 3
	for _, c := range []struct {
		domain, level, opt int
		name               string
	}{
		{syscall.AF_INET, syscall.IPPROTO_IP, syscall.IP_MTU_DISCOVER, "IP_MTU_DISCOVER"},
		{syscall.AF_INET6, syscall.IPPROTO_IP, syscall.IP_MTU_DISCOVER, "IP_MTU_DISCOVER (inet6)"},
		{syscall.AF_INET6, syscall.IPPROTO_IPV6, syscall.IPV6_MTU_DISCOVER, "IPV6_MTU_DISCOVER"},
	} {
		fd, err := syscall.Socket(c.domain, syscall.SOCK_DGRAM, 0)
		check("udp socket", err)
		want(c.name, setget(fd, c.level, c.opt, ipPMTUDiscProbe), ipPMTUDiscProbe)
		want(c.name+" DONT", setget(fd, c.level, c.opt, 0), 0)
		if err := syscall.SetsockoptInt(fd, c.level, c.opt, 6); err != syscall.EINVAL {
			check(c.name+" 6", fmt.Errorf("got %v, want EINVAL", err))
		}
		syscall.Close(fd)
	}
}

func main() {
	fd, err := syscall.Socket(syscall.AF_INET6, syscall.SOCK_STREAM, 0)
	check("socket", err)
	typ, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TYPE)
	check("SO_TYPE", err)
	want("SO_TYPE", typ, syscall.SOCK_STREAM)
	want("SO_REUSEADDR", setget(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1), 1)
	want("SO_KEEPALIVE", setget(fd, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1), 1)
	want("TCP_NODELAY", setget(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1), 1)
	want("TCP_KEEPIDLE", setget(fd, syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, 30), 30)
	want("TCP_KEEPINTVL", setget(fd, syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, 5), 5)
	want("TCP_KEEPCNT", setget(fd, syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, 3), 3)
	want("IPV6_V6ONLY", setget(fd, syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, 1), 1)
	mtuDiscover()
	// Linux doubles the buffer sizes it is given.
	want("SO_RCVBUF", setget(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, 65536), 131072)
	want("SO_SNDBUF", setget(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, 65536), 131072)
	check("SO_LINGER", syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 7}))
	var l syscall.Linger
	n := uint32(unsafe.Sizeof(l))
	if _, _, e := syscall.Syscall6(syscall.SYS_GETSOCKOPT, uintptr(fd), syscall.SOL_SOCKET, syscall.SO_LINGER,
		uintptr(unsafe.Pointer(&l)), uintptr(unsafe.Pointer(&n)), 0); e != 0 {
		check("getsockopt SO_LINGER", e)
	}
	want("SO_LINGER on", int(l.Onoff), 1)
	want("SO_LINGER secs", int(l.Linger), 7)
	soErr, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
	check("SO_ERROR", err)
	want("SO_ERROR", soErr, 0)
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, 9999, 1); err != syscall.ENOPROTOOPT {
		check("unknown option", fmt.Errorf("got %v, want ENOPROTOOPT", err))
	}
	syscall.Close(fd)
	fmt.Println("sockopts: options ok")

	// FIONREAD and SO_ERROR after a refused connect, on real connections.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check("listen", err)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Write([]byte("twelve bytes"))
		time.Sleep(time.Second)
		c.Close()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	check("dial", err)
	raw, err := c.(*net.TCPConn).SyscallConn()
	check("syscallconn", err)
	var avail int
	for deadline := time.Now().Add(5 * time.Second); avail < 12 && time.Now().Before(deadline); {
		raw.Control(func(fd uintptr) {
			avail, err = ioctlInt(int(fd), 0x541b) // FIONREAD (SIOCINQ)
		})
		check("FIONREAD", err)
		time.Sleep(5 * time.Millisecond)
	}
	want("FIONREAD", avail, 12)
	c.Close()
	ln.Close()
	fmt.Println("sockopts: FIONREAD ok")

	// Non-blocking connect to a closed port: EINPROGRESS or a refusal,
	// then SO_ERROR says ECONNREFUSED.
	fd, err = syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	check("socket", err)
	err = syscall.Connect(fd, &syscall.SockaddrInet4{Port: 1, Addr: [4]byte{127, 0, 0, 1}})
	if err != syscall.EINPROGRESS && err != syscall.ECONNREFUSED {
		check("nonblocking connect", fmt.Errorf("got %v", err))
	}
	if err == syscall.EINPROGRESS {
		soErr = 0
		for deadline := time.Now().Add(5 * time.Second); soErr == 0 && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
			soErr, err = syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
			check("SO_ERROR", err)
		}
		want("SO_ERROR after a refused connect", soErr, int(syscall.ECONNREFUSED))
	}
	syscall.Close(fd)
	fmt.Println("sockopts: refused connect ok")
	fmt.Println("sockopts: done")
}

func ioctlInt(fd int, req uintptr) (int, error) {
	var v int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), req, uintptr(unsafe.Pointer(&v))); e != 0 {
		return 0, e
	}
	return int(v), nil
}
