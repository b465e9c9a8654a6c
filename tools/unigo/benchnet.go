package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"time"
)

// The network part of `unigo bench` (issue #5, "Measured"): the same
// examples/httpd image served natively (a Linux process on the host's
// loopback) and under the launcher (user-mode networking, a -p port
// forward), each loaded in turn by an in-process Go client: keep-alive
// connections hammering the hello page for requests/s and latency
// percentiles, then one bulk download (guest to host). examples/httpd has
// no upload endpoint, so host-to-guest bulk throughput is measured by
// tests/net_test.go (TestHostNetwork logs it), not here.

// netLoad shapes the load: connections, and how long each phase runs.
type netLoad struct {
	conns    int
	duration time.Duration
	bulk     int64 // bytes downloaded in the bulk phase
}

var defaultNetLoad = netLoad{conns: 16, duration: 5 * time.Second, bulk: 256 << 20}

// netResult is one server's figures.
type netResult struct {
	name      string
	reqPerSec float64
	p50, p99  time.Duration
	errors    int
	bulkMBps  float64
	failed    error
	requests  int
}

// runNet measures examples/httpd natively and under the launcher.
func (s *benchSuite) runNet() {
	servers := []struct {
		name string
		cmd  func(port int) *exec.Cmd
	}{
		{"native", func(port int) *exec.Cmd {
			return exec.Command(s.httpd, "-addr", "127.0.0.1:"+strconv.Itoa(port))
		}},
		{"launcher", func(port int) *exec.Cmd {
			return exec.Command(s.self, "run", "-m", "256M", "-smp", "2", "-p", strconv.Itoa(port)+":8080", s.httpd)
		}},
	}
	for _, srv := range servers {
		s.logf("network: examples/httpd %s", srv.name)
		r := netResult{name: srv.name}
		port, err := benchPort()
		if err == nil {
			r, err = measureServer(srv.name, srv.cmd(port), port, s.netLoad)
		}
		r.failed = err
		if err != nil {
			s.logf("network: %s: %v", srv.name, err)
		}
		s.net = append(s.net, r)
	}
}

func benchPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// measureServer starts cmd, waits for it to serve on port, loads it and
// stops it.
func measureServer(name string, cmd *exec.Cmd, port int, load netLoad) (netResult, error) {
	r := netResult{name: name}
	if err := cmd.Start(); err != nil {
		return r, err
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(base + "/")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("not serving after 30s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	lat, errs := hammer(base+"/", load.conns, load.duration)
	if len(lat) == 0 {
		return r, errors.New("no request succeeded")
	}
	r.requests, r.errors = len(lat), errs
	r.reqPerSec = float64(len(lat)) / load.duration.Seconds()
	r.p50, r.p99 = percentile(lat, 50), percentile(lat, 99)

	start := time.Now()
	bulk := &http.Client{Timeout: 5 * time.Minute}
	resp, err := bulk.Get(fmt.Sprintf("%s/bytes/%d", base, load.bulk))
	if err != nil {
		return r, err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != load.bulk {
		return r, fmt.Errorf("bulk download: %d of %d bytes: %v", n, load.bulk, err)
	}
	r.bulkMBps = float64(n) / time.Since(start).Seconds() / 1e6
	return r, nil
}

// hammer runs conns keep-alive clients, each sending GETs back to back
// for d, and returns every successful request's latency and the number
// of failures.
func hammer(url string, conns int, d time.Duration) ([]time.Duration, int) {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var mu sync.Mutex
	var all []time.Duration
	errs := 0
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			bad := 0
			for ctx.Err() == nil {
				t0 := time.Now()
				resp, err := client.Get(url)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil {
					bad++
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			errs += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all, errs
}

// percentile returns the p-th percentile (nearest rank) of lat, which it
// sorts.
func percentile(lat []time.Duration, p int) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	i := (len(lat)*p + 99) / 100
	return lat[max(i-1, 0)]
}

// writeNetTable prints the network figures side by side.
func writeNetTable(w io.Writer, s *benchSuite) {
	if len(s.net) == 0 {
		return
	}
	fmt.Fprintf(w, "\n### Network: examples/httpd, %d keep-alive connections for %v, then a %d MiB download\n\n",
		s.netLoad.conns, s.netLoad.duration, s.netLoad.bulk>>20)
	fmt.Fprintln(w, "| server | requests/s | p50 | p99 | failed requests | bulk guest to host |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|")
	for _, r := range s.net {
		if r.failed != nil && r.requests == 0 {
			fmt.Fprintf(w, "| %s | failed: %v | | | | |\n", r.name, r.failed)
			continue
		}
		bulk := "—"
		if r.bulkMBps > 0 {
			bulk = fmt.Sprintf("%.1f MB/s", r.bulkMBps)
		}
		fmt.Fprintf(w, "| %s | %.0f | %s | %s | %d | %s |\n", r.name, r.reqPerSec, ms(r.p50), ms(r.p99), r.errors, bulk)
	}
}
