// Command netpeer is the guest side of the host-network tests
// (tests/net_test.go). It serves, for clients on the host: HTTP on :8080
// (/ a greeting, /bytes/N a download of N pattern bytes, /upload the
// SHA-256 of the request body, /quit to stop), a TCP echo server on :7777
// that honours half-close, and a UDP echo server on :7777. Before it says
// "netpeer: ready" it runs the guest-as-client checks against the host
// servers named by its arguments:
//
//	netpeer HOSTIP HTTPPORT UDPPORT CLOSEDPORT ECHOPORT UPLOADBYTES CONNS DNSNAME
//
// The client checks: GET from the host's HTTP server, an upload of
// UPLOADBYTES with its SHA-256 checked by the host, a UDP echo, a refused
// connection, a connection timeout to an absent neighbour, CONNS
// concurrent connections to the host's TCP echo server, and, unless DNSNAME
// is "-", a lookup of DNSNAME (which must name the host) through the
// resolver the network configuration gave, then a GET by that name.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/unigo-os/unigo/tests/netcheck"
)

func fail(format string, args ...any) {
	fmt.Printf("netpeer: FAIL "+format+"\n", args...)
	os.Exit(1)
}

type patternReader struct{ off, n int64 }

func (r *patternReader) Read(b []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	if int64(len(b)) > r.n-r.off {
		b = b[:r.n-r.off]
	}
	netcheck.Pattern(b, r.off)
	r.off += int64(len(b))
	return len(b), nil
}

func main() {
	if len(os.Args) != 9 {
		fail("usage: netpeer HOSTIP HTTPPORT UDPPORT CLOSEDPORT ECHOPORT UPLOADBYTES CONNS DNSNAME")
	}
	dnsName := os.Args[8]
	host, httpPort, udpPort, closedPort, echoPort := os.Args[1], os.Args[2], os.Args[3], os.Args[4], os.Args[5]
	upload, _ := strconv.ParseInt(os.Args[6], 10, 64)
	conns, _ := strconv.Atoi(os.Args[7])

	// Servers first, so that the host can connect as soon as we say ready.
	quit := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from the guest, %s\n", r.RemoteAddr)
	})
	mux.HandleFunc("/bytes/", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.URL.Path[len("/bytes/"):], 10, 64)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		io.CopyBuffer(w, &patternReader{n: n}, make([]byte, 64<<10))
	})
	mux.HandleFunc("/upload", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.CopyBuffer(h, r.Body, make([]byte, 64<<10))
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintf(w, "%d %x\n", n, h.Sum(nil))
	})
	mux.HandleFunc("/quit", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "bye")
		close(quit)
	})
	hl, err := net.Listen("tcp", ":8080")
	if err != nil {
		fail("listen :8080: %v", err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(hl)

	el, err := net.Listen("tcp", ":7777")
	if err != nil {
		fail("listen :7777: %v", err)
	}
	go func() {
		for {
			c, err := el.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	uc, err := net.ListenPacket("udp", ":7777")
	if err != nil {
		fail("listen udp :7777: %v", err)
	}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := uc.ReadFrom(buf)
			if err != nil {
				return
			}
			uc.WriteTo(buf[:n], from)
		}
	}()

	// The guest as a client of the host.
	resp, err := http.Get("http://" + net.JoinHostPort(host, httpPort) + "/")
	if err != nil {
		fail("GET from host: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Printf("netpeer: host says %q\n", body)

	// Upload to the host, which answers with the length and checksum.
	h := sha256.New()
	io.Copy(h, &patternReader{n: upload})
	start := time.Now()
	resp, err = http.Post("http://"+net.JoinHostPort(host, httpPort)+"/upload", "application/octet-stream", &patternReader{n: upload})
	if err != nil {
		fail("upload to host: %v", err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	want := fmt.Sprintf("%d %s\n", upload, hex.EncodeToString(h.Sum(nil)))
	if string(body) != want {
		fail("upload: host got %q, want %q", body, want)
	}
	el2 := time.Since(start)
	fmt.Printf("netpeer: upload of %d bytes ok (%.1f MB/s)\n", upload, float64(upload)/el2.Seconds()/1e6)

	// UDP echo through the host.
	c, err := net.Dial("udp", net.JoinHostPort(host, udpPort))
	if err != nil {
		fail("dial udp: %v", err)
	}
	got := make([]byte, 100)
	var n int
	for try := 0; try < 5; try++ { // UDP may drop; retry a few times
		c.Write([]byte("guest datagram"))
		c.SetReadDeadline(time.Now().Add(time.Second))
		if n, err = c.Read(got); err == nil {
			break
		}
	}
	if err != nil {
		fail("udp echo from host: %v", err)
	}
	c.Close()
	fmt.Printf("netpeer: host udp echo %q\n", got[:n])

	// A closed port on the host: refused.
	_, err = net.Dial("tcp", net.JoinHostPort(host, closedPort))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		fail("dial closed host port: got %v, want ECONNREFUSED", err)
	}
	fmt.Println("netpeer: refused ok")

	// Nobody answers ARP for .99 on the guest's subnet: the dial times out.
	absent := host[:strings.LastIndexByte(host, '.')] + ".99:80"
	_, err = net.DialTimeout("tcp", absent, 300*time.Millisecond)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		fail("dial %s: got %v, want a timeout", absent, err)
	}
	fmt.Println("netpeer: dial timeout ok")

	if dnsName != "-" {
		addrs, err := net.LookupHost(dnsName)
		if err != nil || len(addrs) == 0 || addrs[0] != host {
			fail("lookup %s: %v %v, want %s", dnsName, addrs, err, host)
		}
		resp, err := http.Get("http://" + net.JoinHostPort(dnsName, httpPort) + "/")
		if err != nil {
			fail("GET by name: %v", err)
		}
		resp.Body.Close()
		fmt.Printf("netpeer: dns %s is %s ok\n", dnsName, addrs[0])
	}

	// Many concurrent connections out through the device: all open at
	// once, each echoing. They are dialed a few at a time, as a client
	// pool would: NAT gateways bound their in-flight connection setups
	// (gvisor-tap-vsock's to 10) and drop the SYNs beyond.
	if err := netcheck.ConcurrentEcho(net.JoinHostPort(host, echoPort), conns, 8); err != nil {
		fail("concurrent connections to the host: %v", err)
	}
	fmt.Printf("netpeer: %d concurrent connections to the host ok\n", conns)

	fmt.Println("netpeer: ready")
	<-quit
	// Let the /quit response out before closing everything.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	srv.Shutdown(ctx)
	cancel()
	el.Close()
	uc.Close()
	fmt.Println("netpeer: bye")
}
