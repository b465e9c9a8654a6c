package launch

import (
	"path"
	"strings"
	"testing"
)

// FuzzParseRunArgs: any command line (arguments separated by NUL) parses
// or fails with a one-line error, never panics; a parsed one keeps the
// guest's arguments and the launcher's invariants.
func FuzzParseRunArgs(f *testing.F) {
	for _, s := range []string{
		"img",
		"-m\x00512M\x00-smp\x002\x00img\x00--\x00a\x00b",
		"-net\x00user,hostloopback,maxconns=8\x00-p\x008080:80\x00img",
		"-e\x00K=V\x00-cmdline\x00unigo.ip=dhcp \"A=b c\"\x00img",
		"-timeout\x001s\x00-status\x00-raw\x00img\x00--\x00--",
		"-net\x00tap=tap0\x00-p\x00[::1]:1:2/udp\x00img",
		"-v\x00/srv:/data\x00-v\x00img\x00-volume\x00a:b:/ro:ro",
		"-v=/h:/d:rw\x00img\x00-v\x00/h:/d",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Split(s, "\x00")
		o, err := parseRunArgs(args)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		if o.target == "" || o.mem == 0 {
			t.Fatalf("parsed without a target or memory: %+v", o)
		}
		for i, a := range args {
			if a == "--" {
				if strings.Join(o.guestArgs, "\x00") != strings.Join(args[i+1:], "\x00") {
					t.Fatalf("guest arguments %q, want %q", o.guestArgs, args[i+1:])
				}
				break
			}
		}
		if o.net.policy.MaxConns < 0 {
			t.Fatalf("maxconns %d", o.net.policy.MaxConns)
		}
		seen := map[string]bool{}
		for _, v := range o.volumes {
			if v.host == "" || !path.IsAbs(v.guest) || path.Clean(v.guest) != v.guest || v.guest == "/" || seen[v.guest] {
				t.Fatalf("volume %+v", v)
			}
			seen[v.guest] = true
		}
		guestCmdline(o.cmdline, o.env, o.guestArgs)
	})
}

// FuzzParseMemSize: a parsed size is positive and what its digits say.
func FuzzParseMemSize(f *testing.F) {
	for _, s := range []string{"128M", "2G", "1k", "64GiB", "4097M", "0", "18446744073709551615T", " 5 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseMemSize(s)
		if err == nil && (n == 0 || n > 1<<62) {
			t.Fatalf("parseMemSize(%q) = %d", s, n)
		}
	})
}
