package netproc

import (
	"strings"
	"testing"
)

// FuzzParseHello: whatever the network process sends first, ParseHello
// returns nil only for the ready message and otherwise one line.
func FuzzParseHello(f *testing.F) {
	f.Add([]byte{helloReady})
	f.Add([]byte("E-p 127.0.0.1:8080:80/tcp: listen tcp 127.0.0.1:8080: bind: address already in use"))
	f.Add([]byte{})
	f.Add([]byte("E\n\x00\xff"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		err := ParseHello(msg)
		if err == nil {
			if len(msg) != 1 || msg[0] != helloReady {
				t.Fatalf("%q accepted as ready", msg)
			}
			return
		}
		if s := err.Error(); s == "" || strings.ContainsAny(s, "\n\r\x00\x1b") {
			t.Fatalf("error %q is not one printable line", s)
		}
	})
}

// FuzzParseArgs: the network process's command line never panics.
func FuzzParseArgs(f *testing.F) {
	f.Add("-p\x00127.0.0.1:8080:80/tcp\x00-hostloopback\x00-maxconns\x0010")
	f.Add("-restrict\x00-jail")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseArgs(strings.Split(s, "\x00"))
		if err == nil {
			if _, err := ParseArgs(c.Args()); err != nil {
				t.Fatalf("Args of %+v does not parse: %v", c, err)
			}
		}
	})
}
