package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The network part of `unigo bench` (issue #5, "Measured"): the same
// examples/httpd image served natively (a Linux process) and by guests,
// loaded in turn from the host: keep-alive connections hammering the
// hello page for requests/s and latency percentiles (wrk when it is on
// PATH, else an in-process Go client), then one bulk download (guest to
// host) and one bulk upload (host to guest). Two setups, each with the
// native process as the reference:
//
//   - loopback: the native process on the host's loopback against the
//     launcher's default user-mode network (a -p port forward); no root.
//   - TAP: the setup (tap.go): the native process in a
//     network namespace behind a veth pair against the launcher and QEMU
//     microvm each on a TAP device, the client in a namespace of its own.

// netLoad shapes the load: connections, how long the request phase
// runs, and how many bytes each bulk transfer moves.
type netLoad struct {
	conns    int
	duration time.Duration
	bulk     int64
}

var defaultNetLoad = netLoad{conns: 16, duration: 5 * time.Second, bulk: 256 << 20}

// netTarget is one server as the benchmark reaches it.
type netTarget struct {
	name  string // who serves: native, launcher, QEMU KVM
	setup string // the comparison it belongs to: "loopback", "TAP"
	cmd   *exec.Cmd
	base  string // http://IP:PORT
	// dial makes the client's connections (nil: net.Dialer), and
	// inNS prefixes a command (wrk) to run where dial dials from.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	inNS []string
	// quit: stop the server through /quit and log its output's tail
	// (the kernel's unigo.stats counters) instead of killing it.
	quit bool
	log  func(format string, args ...any)
}

// netResult is one server's figures.
type netResult struct {
	name, setup string
	loadgen     string // "wrk" or "Go client"
	reqPerSec   float64
	p50, p99    time.Duration
	errors      int
	requests    int
	downMBps    float64 // bulk guest (server) to host (client)
	upMBps      float64 // bulk host to guest
	failed      error
}

// runNet measures examples/httpd natively and under the launcher over
// loopback, then the TAP setup when this machine allows it.
func (s *benchSuite) runNet() {
	var targets []netTarget
	// The -log runs log a line per request to the console (issue #13.5:
	// at most 10% fewer requests/s than without).
	for _, srv := range []struct {
		name string
		smp  int // 0: native
		args []string
	}{{"native", 0, nil}, {"launcher, 2 vCPUs", 2, nil}, {"launcher, 1 vCPU", 1, nil},
		{"native, -log", 0, []string{"-log"}}, {"launcher, 1 vCPU, -log", 1, []string{"-log"}}} {
		port, err := benchPort()
		if err != nil {
			s.net = append(s.net, netResult{name: srv.name, setup: "loopback", failed: err})
			continue
		}
		t := netTarget{name: srv.name, setup: "loopback", base: "http://127.0.0.1:" + strconv.Itoa(port)}
		if srv.smp == 0 {
			t.cmd = exec.Command(s.httpd, append([]string{"-addr", "127.0.0.1:" + strconv.Itoa(port)}, srv.args...)...)
		} else {
			args := []string{"run", "-m", "256M", "-smp", strconv.Itoa(srv.smp), "-p", strconv.Itoa(port) + ":8080"}
			if s.netCmdline != "" {
				args = append(args, "-cmdline", s.netCmdline)
				t.quit = true
			}
			t.cmd = exec.Command(s.self, append(append(args, s.httpd, "--"), srv.args...)...)
		}
		targets = append(targets, t)
	}
	for _, t := range targets {
		s.measure(t)
	}

	lab, err := newTapLab()
	if err != nil {
		s.tapSkipped = err.Error()
		s.logf("network: TAP setup skipped: %v", err)
		return
	}
	defer lab.close()
	for _, t := range lab.targets(s) {
		s.measure(t)
	}
}

func (s *benchSuite) measure(t netTarget) {
	if s.netMatch != nil && !s.netMatch.MatchString(t.setup+", "+t.name) {
		return
	}
	t.log = s.logf
	s.logf("network: examples/httpd, %s, %s", t.setup, t.name)
	r, err := measureServer(t, s.netLoad)
	r.failed = err
	if err != nil {
		s.logf("network: %s, %s: %v", t.setup, t.name, err)
	}
	s.net = append(s.net, r)
}

// unusedPorts returns n distinct loopback TCP ports that are free now,
// taken below the host's ephemeral range (ip_local_port_range), so that no
// connection's source port takes one before the guest forwarding it
// listens there: free ports from benchPort are ephemeral ones, and with
// 100 guests starting at once one was taken so.
func unusedPorts(n int) ([]int, error) {
	low := 32768 // Linux's default ephemeral range starts here
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				low = v
			}
		}
	}
	var ports []int
	for p := max(1024, low-20000); p < low && len(ports) < n; p++ {
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
			l.Close()
			ports = append(ports, p)
		}
	}
	if len(ports) < n {
		return nil, fmt.Errorf("only %d free loopback ports below the ephemeral range (from %d), %d wanted", len(ports), low, n)
	}
	return ports, nil
}

func benchPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// measureServer starts t's server, waits for it to serve, loads it and
// stops it.
func measureServer(t netTarget, load netLoad) (netResult, error) {
	r := netResult{name: t.name, setup: t.setup}
	var out bytes.Buffer
	t.cmd.Stdout, t.cmd.Stderr = &out, &out
	if err := t.cmd.Start(); err != nil {
		return r, err
	}
	defer func() {
		if t.quit {
			// The guest prints its counters as it exits.
			qc := &http.Client{Transport: &http.Transport{DialContext: t.dial}, Timeout: 5 * time.Second}
			if resp, err := qc.Get(t.base + "/quit"); err == nil {
				resp.Body.Close()
			}
			done := make(chan struct{})
			go func() { t.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.cmd.Process.Kill()
				<-done
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			t.log("network: %s, %s: output's last lines:\n%s", t.setup, t.name, strings.Join(lines[max(0, len(lines)-40):], "\n"))
			return
		}
		t.cmd.Process.Kill()
		t.cmd.Wait()
	}()
	tr := &http.Transport{DialContext: t.dial, MaxIdleConnsPerHost: load.conns, MaxConnsPerHost: load.conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get(t.base + "/")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("not serving after 60s: %v; output: %s", err, firstLine(out.String(), ""))
		}
		time.Sleep(100 * time.Millisecond)
	}

	if wrk, err := exec.LookPath("wrk"); err == nil {
		r.loadgen = "wrk"
		args := append(slices.Clone(t.inNS), wrk, "-t2", "-c"+strconv.Itoa(load.conns),
			"-d"+strconv.Itoa(int(load.duration.Seconds()))+"s", "--latency", t.base+"/")
		wout, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			return r, fmt.Errorf("wrk: %v: %s", err, firstLine(string(wout), ""))
		}
		w, err := parseWrk(string(wout))
		if err != nil {
			return r, err
		}
		r.reqPerSec, r.p50, r.p99, r.requests, r.errors = w.reqPerSec, w.p50, w.p99, w.requests, w.errors
	} else {
		r.loadgen = "Go client"
		lat, errs := hammer(client, t.base+"/", load.conns, load.duration)
		if len(lat) == 0 {
			return r, errors.New("no request succeeded")
		}
		r.requests, r.errors = len(lat), errs
		r.reqPerSec = float64(len(lat)) / load.duration.Seconds()
		r.p50, r.p99 = percentile(lat, 50), percentile(lat, 99)
	}

	bulk := &http.Client{Transport: tr, Timeout: 5 * time.Minute}
	var err error
	if r.downMBps, err = download(bulk, t.base, load.bulk); err != nil {
		return r, err
	}
	if r.upMBps, err = upload(bulk, t.base, load.bulk); err != nil {
		return r, err
	}
	return r, nil
}

// download fetches n bytes from /bytes/n and returns the rate in MB/s.
func download(c *http.Client, base string, n int64) (float64, error) {
	start := time.Now()
	resp, err := c.Get(fmt.Sprintf("%s/bytes/%d", base, n))
	if err != nil {
		return 0, fmt.Errorf("bulk download: %v", err)
	}
	got, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || got != n {
		return 0, fmt.Errorf("bulk download: %d of %d bytes: %v", got, n, err)
	}
	return float64(n) / time.Since(start).Seconds() / 1e6, nil
}

// upload posts n bytes to /upload, checks the length the server counted
// and returns the rate in MB/s.
func upload(c *http.Client, base string, n int64) (float64, error) {
	start := time.Now()
	req, err := http.NewRequest("POST", base+"/upload", io.LimitReader(zeros{}, n))
	if err != nil {
		return 0, err
	}
	req.ContentLength = n
	resp, err := c.Do(req)
	if err != nil {
		return 0, fmt.Errorf("bulk upload: %v", err)
	}
	reply, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !strings.HasPrefix(string(reply), strconv.FormatInt(n, 10)+" ") {
		return 0, fmt.Errorf("bulk upload: server counted %q of %d bytes: %v", firstLine(string(reply), ""), n, err)
	}
	return float64(n) / time.Since(start).Seconds() / 1e6, nil
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}

// hammer runs conns keep-alive clients, each sending GETs back to back
// for d, and returns every successful request's latency and the number
// of failures.
func hammer(client *http.Client, url string, conns int, d time.Duration) ([]time.Duration, int) {
	lat, errs, _ := hammerErrs(client, url, conns, d)
	return lat, errs
}

// hammerErrs is hammer that also counts the failures by message.
func hammerErrs(client *http.Client, url string, conns int, d time.Duration) ([]time.Duration, int, map[string]int) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var mu sync.Mutex
	var all []time.Duration
	errs := 0
	kinds := map[string]int{}
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			for ctx.Err() == nil {
				t0 := time.Now()
				resp, err := client.Get(url)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = errors.New(resp.Status)
					}
				}
				if err != nil {
					mu.Lock()
					errs++
					kinds[err.Error()]++
					mu.Unlock()
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all, errs, kinds
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

// wrkResult is what parseWrk reads from wrk --latency's report.
type wrkResult struct {
	reqPerSec float64
	p50, p99  time.Duration
	requests  int
	errors    int // socket errors plus non-2xx/3xx responses
}

// parseWrk reads wrk's report:
//
//	  Latency Distribution
//	     50%  520.00us
//	     99%    2.10ms
//	  123456 requests in 5.00s, 15.19MB read
//	  Socket errors: connect 0, read 1, write 0, timeout 2
//	  Non-2xx or 3xx responses: 5
//	Requests/sec:  24680.12
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	var have50, have99, haveRate bool
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && (f[0] == "50%" || f[0] == "99%"):
			d, err := parseWrkDuration(f[1])
			if err != nil {
				return r, err
			}
			if f[0] == "50%" {
				r.p50, have50 = d, true
			} else {
				r.p99, have99 = d, true
			}
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return r, fmt.Errorf("wrk: requests/sec %q", f[1])
			}
			r.reqPerSec, haveRate = v, true
		case len(f) >= 3 && f[1] == "requests" && f[2] == "in":
			r.requests, _ = strconv.Atoi(f[0])
		case len(f) >= 2 && f[0] == "Socket" && f[1] == "errors:":
			for i := 2; i+1 < len(f); i += 2 {
				n, _ := strconv.Atoi(strings.TrimSuffix(f[i+1], ","))
				r.errors += n
			}
		case strings.HasPrefix(strings.TrimSpace(line), "Non-2xx or 3xx responses:"):
			n, _ := strconv.Atoi(f[len(f)-1])
			r.errors += n
		}
	}
	if !have50 || !have99 || !haveRate {
		return r, fmt.Errorf("wrk: no latency distribution or rate in its report: %q", firstLine(out, ""))
	}
	return r, nil
}

// parseWrkDuration reads wrk's latencies: 520.00us, 2.10ms, 1.02s, 1.50m.
func parseWrkDuration(s string) (time.Duration, error) {
	for _, u := range []struct {
		suffix string
		unit   float64
	}{{"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 {
				break
			}
			return time.Duration(f * u.unit), nil
		}
	}
	return 0, fmt.Errorf("wrk: latency %q", s)
}

// writeNetTable prints the network figures side by side, each setup's
// rows against its native row.
func writeNetTable(w io.Writer, s *benchSuite) {
	if len(s.net) == 0 && s.tapSkipped == "" {
		return
	}
	fmt.Fprintf(w, "\n### Network: examples/httpd, %d keep-alive connections for %v, then %d MiB each way\n\n",
		s.netLoad.conns, s.netLoad.duration, s.netLoad.bulk>>20)
	fmt.Fprintln(w, "| setup | server | load | requests/s | vs native | p50 | p99 | failed requests | guest to host | host to guest |")
	fmt.Fprintln(w, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
	native := map[string]float64{}
	for _, r := range s.net {
		if r.name == "native" && r.failed == nil {
			native[r.setup] = r.reqPerSec
		}
	}
	for _, r := range s.net {
		if r.failed != nil && r.requests == 0 {
			fmt.Fprintf(w, "| %s | %s | | failed: %v | | | | | | |\n", r.setup, r.name, r.failed)
			continue
		}
		ratio := "–"
		if n := native[r.setup]; n > 0 {
			ratio = fmt.Sprintf("%.2fx", r.reqPerSec/n)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %.0f | %s | %s | %s | %d | %s | %s |\n", r.setup, r.name, r.loadgen,
			r.reqPerSec, ratio, ms(r.p50), ms(r.p99), r.errors, rate(r.downMBps), rate(r.upMBps))
	}
	if s.tapSkipped != "" {
		fmt.Fprintf(w, "\nTAP setup not run: %s.\n", s.tapSkipped)
	}
}

// rate formats a throughput in MB/s with its Gbit/s.
func rate(mbps float64) string {
	if mbps <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f MB/s (%.2f Gbit/s)", mbps, mbps*8/1000)
}
