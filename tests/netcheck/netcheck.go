// Package netcheck holds the checks the host-network tests run on both
// sides: in the guest (tests/guests/netpeer) and on the host
// (tests/net_test.go).
package netcheck

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Pattern fills b with the bytes that start at offset off of the test stream (netpeer's /bytes/N
// download and both sides' uploads).
func Pattern(b []byte, off int64) {
	for i := range b {
		b[i] = byte((off + int64(i)) * 131 >> 3)
	}
}

// ConcurrentEcho opens n connections to an echo server at addr, at most
// dialers at a time, keeps them all open, then has every one echo a line
// at the same time.
func ConcurrentEcho(addr string, n, dialers int) error {
	conns := make([]net.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	sem := make(chan struct{}, dialers)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := net.DialTimeout("tcp", addr, time.Minute)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
		}(i)
	}
	wg.Wait()
	for i, c := range conns {
		if c == nil {
			continue
		}
		wg.Add(1)
		go func(i int, c net.Conn) {
			defer wg.Done()
			c.SetDeadline(time.Now().Add(2 * time.Minute))
			msg := fmt.Sprintf("connection %d\n", i)
			if _, err := io.WriteString(c, msg); err != nil {
				errs <- err
				return
			}
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil || line != msg {
				errs <- fmt.Errorf("connection %d: got %q, %v", i, line, err)
			}
		}(i, c)
	}
	wg.Wait()
	close(errs)
	return <-errs
}
