package vfs

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFsJoinClean(t *testing.T) {
	for _, c := range []struct{ base, path, want string }{
		{"/", "/a/b", "/a/b"},
		{"/x", "a/b", "/x/a/b"},
		{"/x/y", "../z", "/x/z"},
		{"/x", "../../..", "/"},
		{"/", "a//b/./c/", "/a/b/c"},
		{"/data", ".", "/data"},
		{"/data/a", "/etc/../data/./b", "/data/b"},
		{"/", "", "/"},
		{"/a", "..", "/"},
	} {
		var dst [64]byte
		n := fsJoinClean(dst[:], []byte(c.base), []byte(c.path))
		if assert.GreaterOrEqual(t, n, 0, "%q + %q", c.base, c.path) {
			assert.Equal(t, c.want, string(dst[:n]), "%q + %q", c.base, c.path)
		}
	}
	var small [4]byte
	assert.Equal(t, -1, fsJoinClean(small[:], nil, []byte("/abcdef")))
	assert.Equal(t, 4, fsJoinClean(small[:], nil, []byte("/abc")))
	assert.Equal(t, -1, fsJoinClean(small[:0], nil, []byte("/")))
}

func TestFsUnder(t *testing.T) {
	for _, c := range []struct {
		abs, mp, rel string
		ok           bool
	}{
		{"/data", "/data", "", true},
		{"/data/a/b", "/data", "a/b", true},
		{"/database", "/data", "", false},
		{"/dat", "/data", "", false},
		{"/dev/vda", "/dev/vda", "", true},
		{"/dev/vdab", "/dev/vda", "", false},
		{"/", "/data", "", false},
	} {
		rel, ok := fsUnder([]byte(c.abs), []byte(c.mp))
		assert.Equal(t, c.ok, ok, "%q under %q", c.abs, c.mp)
		assert.Equal(t, c.rel, string(rel), "%q under %q", c.abs, c.mp)
	}
}

// FuzzFsJoinClean: program-supplied paths must never make the cleaner
// write out of bounds or return something unclean.
func FuzzFsJoinClean(f *testing.F) {
	for _, s := range []string{"/a/b", "../..", "a//b/./c/", "/..", "", "x/../../y", "....", "/a/b/../../../c"} {
		f.Add("/base/dir", s)
	}
	f.Fuzz(func(t *testing.T, base, path string) {
		var clean [64]byte
		b := fsJoinClean(clean[:], nil, []byte(base))
		if b < 0 {
			return
		}
		var dst [128]byte
		n := fsJoinClean(dst[:], clean[:b], []byte(path))
		if n < 0 {
			return
		}
		out := string(dst[:n])
		if out[0] != '/' || (n > 1 && out[n-1] == '/') {
			t.Fatalf("%q + %q = %q", base, path, out)
		}
		for _, c := range []string{"//", "/./", "/../"} {
			if n > 1 && strings.Contains(out+"/", c) {
				t.Fatalf("%q + %q = %q holds %q", base, path, out, c)
			}
		}
	})
}
