// Command loopnet exercises TCP and UDP over the loopback interface
// through the unmodified net and net/http packages: echo with half-close,
// many concurrent connections, an HTTP round trip, UDP echo, IPv6,
// connection refused, and a listener whose Close unblocks Accept.
package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/rpc"
	"os"
	"sync"
	"syscall"
	"time"
)

func check(what string, err error) {
	if err != nil {
		fmt.Printf("loopnet: %s: %v\n", what, err)
		os.Exit(1)
	}
}

func echoServer(network, addr string) net.Listener {
	ln, err := net.Listen(network, addr)
	check("listen "+addr, err)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln
}

// roundTrip sends n bytes and checks that the echo matches.
func roundTrip(network, addr string, n int) error {
	c, err := net.Dial(network, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i * 7)
	}
	go func() {
		c.Write(data)
		c.(*net.TCPConn).CloseWrite()
	}()
	h := sha256.New()
	got, err := io.Copy(h, c)
	if err != nil {
		return err
	}
	if got != int64(n) || [32]byte(h.Sum(nil)) != sha256.Sum256(data) {
		return fmt.Errorf("echo of %d bytes: got %d bytes, checksum mismatch", n, got)
	}
	return nil
}

// checkTLS makes a self-signed certificate, serves TLS with it on
// loopback and completes a handshake and an exchange with a client that
// trusts only that certificate.
func checkTLS() {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check("tls key", err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "unigo test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	check("tls certificate", err)
	cert, err := x509.ParseCertificate(der)
	check("tls parse", err)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
	})
	check("tls listen", err)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		line, _ := bufio.NewReader(c).ReadString('\n')
		fmt.Fprintf(c, "tls echo: %s", line)
	}()
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool})
	check("tls dial", err)
	defer c.Close()
	fmt.Fprintf(c, "hello\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	check("tls read", err)
	fmt.Printf("loopnet: %s, %q\n", tls.VersionName(c.ConnectionState().Version), line)
}

// Arith is a net/rpc service.
type Arith struct{}

func (Arith) Mul(args [2]int, reply *int) error {
	*reply = args[0] * args[1]
	return nil
}

// checkRPC serves net/rpc on loopback and calls it.
func checkRPC() {
	srv := rpc.NewServer()
	check("rpc register", srv.Register(Arith{}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check("rpc listen", err)
	defer ln.Close()
	go srv.Accept(ln)
	c, err := rpc.Dial("tcp", ln.Addr().String())
	check("rpc dial", err)
	defer c.Close()
	var product int
	check("rpc call", c.Call("Arith.Mul", [2]int{6, 7}, &product))
	fmt.Printf("loopnet: net/rpc 6*7=%d\n", product)
}

func main() {
	ln := echoServer("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	check("echo 4 MiB", roundTrip("tcp", addr, 4<<20))
	fmt.Println("loopnet: tcp echo 4 MiB ok")

	const conns = 200
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := roundTrip("tcp", addr, 10000); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		check("concurrent echo", err)
	}
	fmt.Printf("loopnet: %d concurrent connections ok\n", conns)

	// IPv6 loopback.
	ln6 := echoServer("tcp6", "[::1]:0")
	check("echo over ::1", roundTrip("tcp6", ln6.Addr().String(), 100000))
	fmt.Println("loopnet: tcp6 echo ok")

	// HTTP.
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	check("http listen", err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.URL.Path)
	})}
	go srv.Serve(hl)
	resp, err := http.Get("http://" + hl.Addr().String() + "/unigo")
	check("http get", err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	check("http body", err)
	fmt.Printf("loopnet: http %d %q\n", resp.StatusCode, body)
	srv.Close()

	// UDP echo.
	uc, err := net.ListenPacket("udp", "127.0.0.1:0")
	check("udp listen", err)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := uc.ReadFrom(buf)
			if err != nil {
				return
			}
			uc.WriteTo(buf[:n], from)
		}
	}()
	cc, err := net.Dial("udp", uc.LocalAddr().String())
	check("udp dial", err)
	_, err = cc.Write([]byte("datagram"))
	check("udp write", err)
	cc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	n, err := cc.Read(buf)
	check("udp read", err)
	fmt.Printf("loopnet: udp echo %q\n", buf[:n])

	// Nobody listens on port 1.
	_, err = net.Dial("tcp", "127.0.0.1:1")
	if !errors.Is(err, syscall.ECONNREFUSED) {
		check("dial closed port", fmt.Errorf("got %v, want ECONNREFUSED", err))
	}
	fmt.Println("loopnet: connection refused ok")

	// Close unblocks Accept.
	done := make(chan error)
	go func() { _, err := ln6.Accept(); done <- err }()
	time.Sleep(20 * time.Millisecond)
	ln6.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		check("accept after close", fmt.Errorf("got %v", err))
	}
	fmt.Println("loopnet: close unblocks accept ok")

	checkTLS()
	checkRPC()
	fmt.Println("loopnet: done")
}
