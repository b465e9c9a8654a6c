package launch

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/tools/vmm/netback"
	"github.com/unigo-os/unigo/tools/vmm/testguest"
)

func TestParseNetFlags(t *testing.T) {
	o, err := parseRunArgs([]string{"-p", "8080:80", "-p", "0.0.0.0:5353:53/udp", "-p", "[::1]:9000:90/tcp", "img"})
	require.NoError(t, err)
	require.Len(t, o.net.forwards, 3)
	assert.Equal(t, "127.0.0.1:8080", o.net.forwards[0].Host)
	assert.EqualValues(t, 80, o.net.forwards[0].GuestPort)
	assert.False(t, o.net.forwards[0].UDP)
	assert.Equal(t, "0.0.0.0:5353", o.net.forwards[1].Host)
	assert.True(t, o.net.forwards[1].UDP)
	assert.Equal(t, "[::1]:9000", o.net.forwards[2].Host)
	assert.Equal(t, "", o.net.mode)

	o, err = parseRunArgs([]string{"-net", "tap=tap0", "img"})
	require.NoError(t, err)
	assert.Equal(t, "tap", o.net.mode)
	assert.Equal(t, "tap0", o.net.tap)

	o, err = parseRunArgs([]string{"-net", "user", "img"})
	require.NoError(t, err)
	assert.Equal(t, netback.UserPolicy{}, o.net.policy, "isolated by default")
	o, err = parseRunArgs([]string{"-net", "user,hostloopback,restrict,maxconns=8", "img"})
	require.NoError(t, err)
	assert.Equal(t, "user", o.net.mode)
	assert.Equal(t, netback.UserPolicy{HostLoopback: true, Restrict: true, MaxConns: 8}, o.net.policy)

	for args, msg := range map[string]string{
		"-p 80 img":                    "missing GUESTPORT",
		"-p 0:80 img":                  "not a port number",
		"-p 8080:70000 img":            "not a port number",
		"-p 8080:80/sctp img":          "unknown protocol",
		"-p host:8080:80 img":          "not an IP address",
		"-p :80 img":                   "not a port number",
		"-net bogus img":               "want user[,hostloopback][,restrict][,maxconns=N], none or tap=NAME",
		"-net tap= img":                "tap=NAME",
		"-net user,open img":           `unknown option "open"`,
		"-net user,maxconns=0 img":     "want N in 1..1048576",
		"-net user,maxconns=x img":     "want N in 1..1048576",
		"-net none -p 8080:80 img":     "cannot be combined with -net none",
		"-net tap=tap0 -p 8080:80 img": "cannot be combined with -net tap",
	} {
		_, err := parseRunArgs(strings.Fields(args))
		assert.ErrorContains(t, err, msg, args)
	}
}

func TestNetEnabled(t *testing.T) {
	plain := testguest.Image(testguest.Hello())
	assert.False(t, (&netOptions{}).enabled(plain), "no netstack, no flags: off")
	assert.True(t, (&netOptions{mode: "user"}).enabled(plain))
	assert.True(t, (&netOptions{forwards: make([]netback.Forward, 1)}).enabled(plain))
	assert.False(t, (&netOptions{mode: "none"}).enabled(plain))
	assert.False(t, linksNetstack([]byte("not an ELF")))
}

// TestLinksNetstack builds a small program that links a package whose
// path is the guest netstack's and checks the symbol table is recognised.
func TestLinksNetstack(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":               "module github.com/unigo-os/unigo\n\ngo 1.22\n",
		"netstack/netstack.go": "package netstack\n\n//go:noinline\nfunc Up() int { return 42 }\n",
		"main.go":              "package main\n\nimport \"github.com/unigo-os/unigo/netstack\"\n\nfunc main() { println(netstack.Up()) }\n",
	}
	for name, text := range files {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644))
	}
	bin := filepath.Join(dir, "prog")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	img, err := os.ReadFile(bin)
	require.NoError(t, err)
	assert.True(t, linksNetstack(img))
	assert.True(t, (&netOptions{}).enabled(img))
	assert.False(t, (&netOptions{mode: "none"}).enabled(img))
}

func TestNetParams(t *testing.T) {
	g, err := setupNet(&netOptions{mode: "user"}, userNet, nil, false)
	require.NoError(t, err)
	defer g.backend.Close()
	params := g.addParams([]string{"unigo.gw=10.0.0.1", "unigo.debug=1"})
	assert.Equal(t, []string{"unigo.gw=10.0.0.1", "unigo.debug=1",
		abi.ParamIP + "=192.168.127.2/24", abi.ParamDNS + "=192.168.127.1"}, params,
		"-cmdline settings win over the launcher's")
	assert.Equal(t, []string{"unigo.ip=192.168.127.2/24", "unigo.gw=192.168.127.1", "unigo.dns=192.168.127.1"},
		g.addParams(nil))
	assert.Equal(t, []string{"unigo.ip=dhcp"}, g.addParams([]string{"unigo.ip=dhcp"}),
		"with the user's unigo.ip, none of the launcher's")
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestRunNetForward boots a guest with -p: while it runs the host port
// accepts connections (the user-mode network forwards them to the guest),
// and once it ended the port is closed again.
func TestRunNetForward(t *testing.T) {
	kvmOK(t)
	img := writeImage(t, testguest.Hang())
	port := freePort(t)
	done := make(chan int, 1)
	var errs string
	go func() {
		code, _, e := runInProcess("-timeout", "3s", "-v", "-p", fmt.Sprintf("%d:80", port), img)
		errs = e
		done <- code
	}()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 3*time.Second, 10*time.Millisecond, "forwarded port never listened")
	assert.Equal(t, exitTimeout, <-done)
	assert.Contains(t, errs, "unigo run: network")
	_, err := net.Dial("tcp", addr)
	assert.Error(t, err, "the forward ends with the run")
}

func TestRunNetOffByDefault(t *testing.T) {
	kvmOK(t)
	img := writeImage(t, testguest.Hello())
	code, _, errs := runInProcess("-v", img)
	assert.Equal(t, 7, code)
	assert.NotContains(t, errs, "unigo run: network", "no netstack in the image: no device")
	code, _, errs = runInProcess("-v", "-net", "user", img)
	assert.Equal(t, 7, code)
	assert.Contains(t, errs, "unigo run: network")
	assert.Contains(t, errs, "unigo run: virtio-net: tx 0 frames (0 dropped), rx 0 frames")
}

func TestRunNetBadInput(t *testing.T) {
	good := writeImage(t, testguest.Hello())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	busy := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"-p", "80", good}, "missing GUESTPORT"},
		{[]string{"-p", "x:80", good}, "not a port number"},
		{[]string{"-net", "slirp", good}, "want user[,hostloopback][,restrict][,maxconns=N], none or tap=NAME"},
		{[]string{"-net", "tap=unigonotap0", good}, "no such network interface"},
		{[]string{"-net", "tap=lo", good}, "not a TAP interface"},
		{[]string{"-p", busy + ":80", good}, "address already in use"},
		{[]string{"-p", busy + ":80", "-p", busy + ":81", good}, "forwarded twice"},
	} {
		code, out, errs := runInProcess(tc.args...)
		assert.Equal(t, exitLauncher, code, tc.args)
		assert.Empty(t, out)
		assert.Contains(t, errs, tc.msg, tc.args)
		assert.True(t, strings.HasPrefix(errs, "unigo run: "), errs)
		assert.Equal(t, 1, strings.Count(errs, "\n"), "one line: %q", errs)
	}
}

// TestRandomMAC: a locally administered unicast address, different each
// time (two equal draws of 46 random bits would be a broken source).
func TestRandomMAC(t *testing.T) {
	a, b := randomMAC(), randomMAC()
	for _, m := range []net.HardwareAddr{a, b} {
		require.Len(t, m, 6)
		assert.Zero(t, m[0]&1, "%v: unicast", m)
		assert.NotZero(t, m[0]&2, "%v: locally administered", m)
	}
	assert.NotEqual(t, a, b)
}
