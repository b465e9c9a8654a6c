// Command dhcpcheck is the guest of the DHCP test (tests/dhcp_test.go):
// booted without a static address, its interface is configured by DHCP
// in the background, so it dials the host's TCP echo server until that
// works (or 20 s pass), then reports the address it connected from, the
// name server /etc/resolv.conf names, /etc/hosts' line for its address
// and its host name (os.Hostname and uname's nodename):
//
//	dhcpcheck HOSTIP ECHOPORT
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

func fail(format string, args ...any) {
	fmt.Printf("dhcpcheck: FAIL "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 3 {
		fail("usage: dhcpcheck HOSTIP ECHOPORT")
	}
	start := time.Now()
	target := net.JoinHostPort(os.Args[1], os.Args[2])
	var c net.Conn
	var err error
	for {
		c, err = net.DialTimeout("tcp", target, 2*time.Second)
		if err == nil {
			break
		}
		if time.Since(start) > 20*time.Second {
			fail("dial %s: %v", target, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Printf("dhcpcheck: connected after %dms\n", time.Since(start).Milliseconds())
	local := c.LocalAddr().(*net.TCPAddr).IP.String()
	fmt.Printf("dhcpcheck: address %s\n", local)
	msg := "ping from " + local
	if _, err := io.WriteString(c, msg); err != nil {
		fail("write: %v", err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		fail("echo: %v", err)
	}
	fmt.Printf("dhcpcheck: echo %q\n", buf)
	c.Close()

	for _, l := range lines("/etc/resolv.conf") {
		if strings.HasPrefix(l, "nameserver ") || strings.HasPrefix(l, "# written by") {
			fmt.Printf("dhcpcheck: %s\n", l)
		}
	}
	for _, l := range lines("/etc/hosts") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == local {
			fmt.Printf("dhcpcheck: hosts %s\n", strings.Join(f, " "))
		}
	}
	name, err := os.Hostname()
	if err != nil {
		fail("hostname: %v", err)
	}
	fmt.Printf("dhcpcheck: hostname %s\n", name)
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		fail("uname: %v", err)
	}
	var node []byte
	for _, c := range u.Nodename {
		if c == 0 {
			break
		}
		node = append(node, byte(c))
	}
	fmt.Printf("dhcpcheck: nodename %s\n", node)
	fmt.Println("dhcpcheck: done")
}

func lines(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		fail("%v", err)
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		out = append(out, s.Text())
	}
	return out
}
