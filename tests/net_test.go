package tests

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/tests/netcheck"
	"github.com/unigo-os/unigo/tools/probe"
)

// Host-network tests: a guest (tests/guests/netpeer) booted with a
// virtio-net device serves clients on the host through port forwards and
// is itself a client of servers on the host.

const (
	netpeerPkg   = "./tests/guests/netpeer"
	httpdPkg     = "./examples/httpd"
	lastwordsPkg = "./tests/guests/lastwords"
)

// netSetup is how a boot runner gives a guest the host's network.
type netSetup struct {
	// hostIP is the host as the guest sees it (its loopback behind NAT).
	hostIP string
	// dnsName names the host in the DNS the runner's network serves,
	// or is empty, with noDNS saying why it cannot be tested.
	dnsName, noDNS string
	// dialers bounds the concurrent connection setups through the
	// runner's port forwards, and inbound is how many connections the
	// host holds open at once through them.
	dialers, inbound int
	// args returns the runner's extra arguments forwarding the host's
	// TCP ports tcp and UDP ports udp (host port -> guest port).
	spec func(s *runSpec, tcp, udp map[int]int)
}

var netSetups = map[string]netSetup{
	"launcher": {
		// The launcher's user-mode network (gvisor-tap-vsock): the
		// guest is 192.168.127.2, the host's loopback 192.168.127.254
		// (an opt-in: hostloopback).
		hostIP:  "192.168.127.254",
		dnsName: "host.unigo.internal",
		dialers: 8,
		inbound: 1000,
		spec: func(s *runSpec, tcp, udp map[int]int) {
			s.launcherArgs = append(s.launcherArgs, "-net", "user,hostloopback")
			for h, g := range tcp {
				s.launcherArgs = append(s.launcherArgs, "-p", fmt.Sprintf("%d:%d", h, g))
			}
			for h, g := range udp {
				s.launcherArgs = append(s.launcherArgs, "-p", fmt.Sprintf("%d:%d/udp", h, g))
			}
		},
	},
	"qemu": {
		// QEMU's user networking (slirp): the guest is 10.0.2.15, the
		// host's loopback is reachable as 10.0.2.2.
		hostIP: "10.0.2.2",
		noDNS: "QEMU's user networking forwards DNS to the host's resolver, " +
			"which has no name for the host's loopback; the launcher's gateway serves one",
		// slirp listens on a forwarded port with a backlog of 1: SYNs
		// beyond it are dropped and wait out a retransmission.
		// Under TCG slirp takes ~0.4 s per forwarded connection, so the
		// host opens 100; the guest's 1000 outbound connections (checked
		// above) cover the count.
		dialers: 1,
		inbound: 100,
		spec: func(s *runSpec, tcp, udp map[int]int) {
			nd := "user,id=n0"
			for h, g := range tcp {
				nd += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:%d", h, g)
			}
			for h, g := range udp {
				nd += fmt.Sprintf(",hostfwd=udp:127.0.0.1:%d-:%d", h, g)
			}
			s.qemuArgs = append(s.qemuArgs, qemuVirtio("-netdev", nd, "-device", "virtio-net-device,netdev=n0")...)
			s.kparams = append(s.kparams, "unigo.ip=10.0.2.15/24", "unigo.gw=10.0.2.2", "unigo.dns=10.0.2.3")
		},
	},
}

// freePorts returns n distinct free TCP (and UDP) ports on 127.0.0.1.
func freePorts(t *testing.T, n int) []int {
	var ports []int
	var lns []net.Listener
	for len(ports) < n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// syncBuffer is a bytes.Buffer safe for a writer and a poller.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.ReplaceAll(s.b.String(), "\r\n", "\n")
}

// hostServers are the servers the guest reaches on the host.
type hostServers struct {
	http, udp, closed, echo int
}

// startEchoServer serves TCP echo on a free port of 127.0.0.1 until the
// test ends and returns the port.
func startEchoServer(t *testing.T) int {
	el, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() {
		for {
			c, err := el.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() { el.Close() })
	return el.Addr().(*net.TCPAddr).Port
}

func startHostServers(t *testing.T) hostServers {
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello from the host") })
	mux.HandleFunc("/upload", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintf(w, "%d %x\n", n, h.Sum(nil))
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(hl)
	t.Cleanup(func() { srv.Close() })

	uc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := uc.ReadFrom(buf)
			if err != nil {
				return
			}
			uc.WriteTo(append([]byte("host: "), buf[:n]...), from)
		}
	}()
	t.Cleanup(func() { uc.Close() })
	return hostServers{
		echo:   startEchoServer(t),
		http:   hl.Addr().(*net.TCPAddr).Port,
		udp:    uc.LocalAddr().(*net.UDPAddr).Port,
		closed: freePorts(t, 1)[0],
	}
}

func TestHostNetwork(t *testing.T) {
	forNetRunners(t, testHostNetwork)
}

// forNetRunners runs test under every boot runner that can give a guest
// the host's network, skipping (with the reason) those that cannot.
func forNetRunners(t *testing.T, test func(t *testing.T, r runner, setup netSetup)) {
	forBootRunners(t, func(t *testing.T, r runner) {
		setup, ok := netSetups[r.name]
		if !ok {
			t.Skipf("no host networking for the %s runner yet", r.name)
		}
		test(t, r, setup)
	})
}

func testHostNetwork(t *testing.T, r runner, setup netSetup) {
	// 1 GiB each way (three times: guest upload, host download, host
	// upload). Under TCG emulation that is some 10 MB/s, so the run may
	// take many minutes; the timeouts allow for it.
	const bulk = int64(1 << 30)
	hs := startHostServers(t)
	fw := freePorts(t, 2) // HTTP, echo
	spec := runSpec{
		image: images[netpeerPkg],
		args: []string{setup.hostIP, strconv.Itoa(hs.http), strconv.Itoa(hs.udp), strconv.Itoa(hs.closed),
			strconv.Itoa(hs.echo), strconv.FormatInt(bulk, 10), "1000", cmp.Or(setup.dnsName, "-")},
		memory:  "512M",
		cpus:    2,
		timeout: 40 * time.Minute,
	}
	setup.spec(&spec, map[int]int{fw[0]: 8080, fw[1]: 7777}, map[int]int{fw[1]: 7777})

	vm := startVM(t, r, spec)
	vm.waitFor(t, "netpeer: ready", "netpeer: FAIL")
	out := vm.out
	o := out.String()
	assert.Contains(t, o, `netpeer: host says "hello from the host"`)
	assert.Contains(t, o, fmt.Sprintf("netpeer: upload of %d bytes ok", bulk))
	assert.Contains(t, o, `netpeer: host udp echo "host: guest datagram"`)
	assert.Contains(t, o, "netpeer: refused ok")
	assert.Contains(t, o, "netpeer: 1000 concurrent connections to the host ok")
	assert.Contains(t, o, "netpeer: dial timeout ok")
	t.Run("dns", func(t *testing.T) {
		if setup.dnsName == "" {
			t.Skip(setup.noDNS)
		}
		assert.Contains(t, o, fmt.Sprintf("netpeer: dns %s is %s ok", setup.dnsName, setup.hostIP))
	})

	base := fmt.Sprintf("http://127.0.0.1:%d", fw[0])
	client := &http.Client{Timeout: 15 * time.Minute}

	t.Run("get", func(t *testing.T) {
		resp, err := client.Get(base + "/")
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Contains(t, string(body), "hello from the guest")
	})

	t.Run("download", func(t *testing.T) {
		start := time.Now()
		resp, err := client.Get(fmt.Sprintf("%s/bytes/%d", base, bulk))
		require.NoError(t, err)
		defer resp.Body.Close()
		h, want := sha256.New(), sha256.New()
		n, err := io.Copy(h, resp.Body)
		require.NoError(t, err)
		require.Equal(t, bulk, n)
		buf := make([]byte, 1<<20)
		for off := int64(0); off < bulk; off += int64(len(buf)) {
			b := buf[:min(int64(len(buf)), bulk-off)]
			netcheck.Pattern(b, off)
			want.Write(b)
		}
		assert.Equal(t, want.Sum(nil), h.Sum(nil), "download checksum")
		t.Logf("downloaded %d bytes at %.1f MB/s", n, float64(n)/time.Since(start).Seconds()/1e6)
	})

	t.Run("upload", func(t *testing.T) {
		start := time.Now()
		pr, pw := io.Pipe()
		want := sha256.New()
		go func() {
			buf := make([]byte, 1<<20)
			for off := int64(0); off < bulk; off += int64(len(buf)) {
				b := buf[:min(int64(len(buf)), bulk-off)]
				netcheck.Pattern(b, off)
				want.Write(b)
				if _, err := pw.Write(b); err != nil {
					return
				}
			}
			pw.Close()
		}()
		req, _ := http.NewRequest("POST", base+"/upload", pr)
		req.ContentLength = bulk
		resp, err := client.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, fmt.Sprintf("%d %s\n", bulk, hex.EncodeToString(want.Sum(nil))), string(body))
		t.Logf("uploaded %d bytes at %.1f MB/s", bulk, float64(bulk)/time.Since(start).Seconds()/1e6)
	})

	t.Run("stalled-peer", func(t *testing.T) {
		// A client that asks for a large download and never reads must
		// not keep the guest from serving others.
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", fw[0]))
		require.NoError(t, err)
		defer c.Close()
		fmt.Fprintf(c, "GET /bytes/%d HTTP/1.1\r\nHost: guest\r\n\r\n", 1<<30)
		time.Sleep(500 * time.Millisecond)
		for i := 0; i < 3; i++ {
			resp, err := client.Get(base + "/")
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Contains(t, string(body), "hello from the guest")
		}
	})

	echo := fmt.Sprintf("127.0.0.1:%d", fw[1])
	t.Run("half-close", func(t *testing.T) {
		c, err := net.Dial("tcp", echo)
		require.NoError(t, err)
		defer c.Close()
		msg := strings.Repeat("half-close ", 10000)
		_, err = io.WriteString(c, msg)
		require.NoError(t, err)
		require.NoError(t, c.(*net.TCPConn).CloseWrite())
		got, err := io.ReadAll(c)
		require.NoError(t, err)
		assert.Equal(t, msg, string(got), "echo after half-close, then EOF")
	})

	t.Run("concurrent", func(t *testing.T) {
		// Connections all open at once, each echoing a line.
		require.NoError(t, netcheck.ConcurrentEcho(echo, setup.inbound, setup.dialers))
	})

	t.Run("udp", func(t *testing.T) {
		c, err := net.Dial("udp", echo)
		require.NoError(t, err)
		defer c.Close()
		buf := make([]byte, 100)
		var n int
		for try := 0; try < 5; try++ {
			c.Write([]byte("host datagram"))
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			if n, err = c.Read(buf); err == nil {
				break
			}
		}
		require.NoError(t, err)
		assert.Equal(t, "host datagram", string(buf[:n]))
	})

	// Stop the guest through its own API and expect a clean exit.
	resp, err := client.Get(base + "/quit")
	require.NoError(t, err)
	resp.Body.Close()
	vm.waitExit(t, r, time.Minute)
	assert.Contains(t, out.String(), "netpeer: bye")
}

// TestExitFlush boots a one-CPU guest that writes to a host server and
// exits at once, without closing: every byte must arrive, in order, and
// the connection end cleanly, as from a Linux process, whether main
// returns or the program calls os.Exit. runtime.exit keeps its P, so this
// proves the kernel lets the netstack run while it holds the exit (see
// kernel/task/exit.go) and waits for the peer's acknowledgement, not merely
// for the netstack to take the bytes. A panic must still end the program
// at once with status 2. In "slow-reader" the host reads at some 1 MB/s
// through a small receive buffer, so that most of the bytes are still in
// the guest (and the user-mode network) when it exits and take seconds to
// drain: the exit must wait for as long as the peer keeps taking them (a
// loaded CI host is such a peer), and so must the launcher's network
// process (unigo-net) after the guest has gone.
func TestExitFlush(t *testing.T) {
	forNetRunners(t, func(t *testing.T, r runner, setup netSetup) {
		for _, tc := range []struct {
			name, how string
			code      int
			slow      bool
		}{{"return", "return", 0, false}, {"exit3", "exit3", 3, false}, {"panic", "panic", 2, false},
			{"slow-reader", "exit3", 3, true}} {
			t.Run(tc.name, func(t *testing.T) {
				if tc.slow && r.name == "qemu" {
					t.Skip("QEMU exits the moment the guest writes its exit port, and its slirp has " +
						"already acknowledged (FIN included) up to a socket buffer of bytes it still " +
						"holds for a slow host: those die with QEMU, and no guest can wait for them")
				}
				testExitFlush(t, r, setup, tc.how, tc.code, tc.slow)
			})
		}
	})
}

// throttledReader reads at most chunk bytes at a time from r and pauses after
// each read.
type throttledReader struct {
	r     io.Reader
	chunk int
	pause time.Duration
}

func (s *throttledReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p[:min(len(p), s.chunk)])
	time.Sleep(s.pause)
	return n, err
}

func testExitFlush(t *testing.T, r runner, setup netSetup, how string, code int, slow bool) {
	const n = 8 << 20 // beyond every buffer on the way
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	type result struct {
		n   int64
		sum []byte
		err error
		end time.Time // when the stream ended
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		var src io.Reader = c
		if slow {
			if err := c.(*net.TCPConn).SetReadBuffer(64 << 10); err != nil {
				got <- result{err: err}
				return
			}
			src = &throttledReader{r: c, chunk: 32 << 10, pause: 30 * time.Millisecond}
		}
		h := sha256.New()
		m, err := io.Copy(h, src)
		got <- result{m, h.Sum(nil), err, time.Now()}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	spec := runSpec{image: images[lastwordsPkg], memory: "128M", cpus: 1, timeout: 5 * time.Minute,
		args: []string{fmt.Sprintf("%s:%d", setup.hostIP, port), strconv.Itoa(n), how},
		// Diagnostics for a run that hangs: a first line from the
		// kernel (it booted), then the netstack's counters every 10 s
		// (is TCP moving, retransmitting, or idle?). A run that passes
		// is over before the first.
		kparams: []string{probe.GuestCPUParam, "unigo.netstats=10s"}}
	setup.spec(&spec, nil, nil)
	vm := startVM(t, r, spec)
	var exitErr error
	select {
	case exitErr = <-vm.exited:
		vm.exited <- exitErr
	case <-time.After(spec.timeout):
		t.Fatal("guest did not exit")
	}
	exited := time.Now()
	assert.Equal(t, code, guestExitCode(t, r, exitErr, vm.diag.String()), "guest exit status")
	require.Contains(t, vm.out.String(), fmt.Sprintf("lastwords: wrote %d bytes, exiting", n))
	if how == "panic" {
		assert.Contains(t, vm.out.String(), "panic: lastwords: panic after writing")
		return // what arrived before the panic ended the VM is not promised
	}
	var res result
	select {
	case res = <-got:
	case <-time.After(time.Minute):
		t.Fatal("the host's connection did not end after the guest exited")
	}
	require.NoError(t, res.err)
	want := sha256.New()
	b := make([]byte, n)
	netcheck.Pattern(b, 0)
	want.Write(b)
	// A stream that ended only as the VM went (QEMU closing slirp's
	// sockets) was cut short by the exit, not by the guest's FIN.
	assert.Equal(t, int64(n), res.n, "bytes the host received; the stream ended %v after the VM exited", res.end.Sub(exited))
	assert.Equal(t, want.Sum(nil), res.sum, "checksum of what the host received")
}

// guestExitCode decodes the guest's exit status from the runner's
// process status err.
func guestExitCode(t *testing.T, r runner, err error, diag string) int {
	status := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		require.True(t, ok, "runner: %v", err)
		status = ee.ExitCode()
	}
	if r.name != "qemu" {
		return status
	}
	code, poweredOff, derr := decodeQEMUStatus(status, diag)
	require.NoError(t, derr)
	require.False(t, poweredOff, "QEMU powered off without an exit code")
	return code
}

// bgVM is a guest running in the background while a test talks to it.
type bgVM struct {
	out, diag *syncBuffer
	exited    chan error
	timeout   time.Duration
}

// startVM boots spec with runner r in the background; the VM is stopped
// when the test ends, and its output logged if the test failed.
func startVM(t *testing.T, r runner, spec runSpec) *bgVM {
	ctx, cancel := context.WithTimeout(context.Background(), spec.timeout)
	cmd, _, err := r.command(ctx, spec)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	vm := &bgVM{out: &syncBuffer{}, diag: &syncBuffer{}, exited: make(chan error, 1), timeout: spec.timeout}
	cmd.Stdout, cmd.Stderr = vm.out, vm.diag
	cmd.WaitDelay = 5 * time.Second
	t.Logf("%s: %s", r.name, strings.Join(cmd.Args, " "))
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() { vm.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		err := <-vm.exited
		vm.exited <- err
		if t.Failed() {
			t.Logf("guest output:\n%s\nmonitor:\n%s", vm.out, vm.diag)
		}
	})
	return vm
}

// waitFor waits until the guest prints want; it fails the test if the
// guest prints bad first, exits, or takes longer than the run's timeout.
func (vm *bgVM) waitFor(t *testing.T, want, bad string) {
	deadline := time.Now().Add(vm.timeout)
	for !strings.Contains(vm.out.String(), want) {
		select {
		case err := <-vm.exited:
			vm.exited <- err
			t.Fatalf("guest exited before printing %q: %v", want, err)
		case <-time.After(50 * time.Millisecond):
		}
		require.False(t, bad != "" && strings.Contains(vm.out.String(), bad), "guest printed %q", bad)
		require.True(t, time.Now().Before(deadline), "guest never printed %q", want)
	}
}

// waitExit waits for the guest to exit with status 0.
func (vm *bgVM) waitExit(t *testing.T, r runner, within time.Duration) {
	select {
	case err := <-vm.exited:
		vm.exited <- err
		if err != nil && !exitOK(r, err) {
			t.Fatalf("guest exit: %v", err)
		}
	case <-time.After(within):
		t.Fatal("guest did not exit")
	}
}

// exitOK accepts the runner's encoding of guest exit status 0.
func exitOK(r runner, err error) bool {
	// QEMU's isa-debug-exit reports code 0 as status (0<<1)|1.
	e, ok := err.(*exec.ExitError)
	return ok && r.name == "qemu" && e.ExitCode() == 1
}

// TestHTTPDExample boots examples/httpd with a port forward and fetches
// its pages as a user would, then stops it through /quit.
func TestHTTPDExample(t *testing.T) {
	forNetRunners(t, func(t *testing.T, r runner, setup netSetup) {
		port := freePorts(t, 1)[0]
		spec := runSpec{image: images[httpdPkg], memory: "256M", cpus: 2, timeout: 5 * time.Minute}
		setup.spec(&spec, map[int]int{port: 8080}, nil)
		vm := startVM(t, r, spec)
		vm.waitFor(t, "httpd: serving on", "")
		base := fmt.Sprintf("http://127.0.0.1:%d", port)
		get := func(path string) string {
			resp, err := (&http.Client{Timeout: time.Minute}).Get(base + path)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, 200, resp.StatusCode, path)
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			return string(b)
		}
		assert.Equal(t, "Hello from unigo!\n", get("/"))
		assert.Contains(t, get("/json"), `"goos":"linux"`)
		assert.Len(t, get("/bytes/300000"), 300000)
		assert.Contains(t, get("/debug/pprof/"), "goroutine")
		body := bytes.Repeat([]byte("upload "), 1<<18)
		resp, err := (&http.Client{Timeout: time.Minute}).Post(base+"/upload", "application/octet-stream", bytes.NewReader(body))
		require.NoError(t, err)
		reply, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("%d %x\n", len(body), sha256.Sum256(body)), string(reply), "POST /upload")
		assert.Equal(t, "bye\n", get("/quit"))
		vm.waitExit(t, r, time.Minute)
		assert.Contains(t, vm.out.String(), "httpd: bye")
	})
}
