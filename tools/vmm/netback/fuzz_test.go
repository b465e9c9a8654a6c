package netback

import "testing"

// FuzzParseForward: a parsed -p spec prints (Forward.String) as a spec
// that parses to the same forward.
func FuzzParseForward(f *testing.F) {
	for _, s := range []string{"8080:80", "0.0.0.0:8080:80/udp", "[::1]:9000:90/tcp", "80", "a:b:c", ":1:2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fw, err := ParseForward(s)
		if err != nil {
			return
		}
		again, err := ParseForward(fw.String())
		if err != nil || again != fw {
			t.Fatalf("%q -> %v -> %v, %v", s, fw, again, err)
		}
	})
}
