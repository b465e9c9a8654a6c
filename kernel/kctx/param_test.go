package kctx_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/abi"

	_ "github.com/unigo-os/unigo/kernel" // rt needs the kernel linked
	"github.com/unigo-os/unigo/kernel/kctx"
)

func TestParseUint(t *testing.T) {
	for in, want := range map[string]uint64{"0": 0, "42": 42, "0x600e7": 0x600e7, "0XfF": 255,
		"18446744073709551615": ^uint64(0)} {
		v, ok := kctx.ParseUint([]byte(in))
		assert.True(t, ok, in)
		assert.Equal(t, want, v, in)
	}
	for _, in := range []string{"", "0x", "12a", "-1", "18446744073709551616", "0x10000000000000000"} {
		_, ok := kctx.ParseUint([]byte(in))
		assert.False(t, ok, in)
	}
}

func TestNextToken(t *testing.T) {
	s := []byte(` unigo.cpus=2  "a b" "q\"x" -- tail`)
	var tok [16]byte
	pos := 0
	var got []string
	for {
		n, more, err := kctx.NextToken(s, &pos, tok[:])
		assert.Empty(t, err)
		if !more {
			break
		}
		got = append(got, string(tok[:n]))
	}
	assert.Equal(t, []string{"unigo.cpus=2", "a b", `q"x`, "--", "tail"}, got)
	_, _, err := kctx.NextToken([]byte(`"open`), new(int), tok[:])
	assert.Equal(t, "unterminated quote", err)

	// Tabs, carriage returns and newlines separate, as for the launcher.
	assert.Equal(t, []string{"a=1", "b.c=2", "--", "x", "y"}, tokens(t, "a=1\tb.c=2\r\n--\rx\ty\r"))
}

// tokens splits s with NextToken.
func tokens(t testing.TB, s string) []string {
	var tok [64]byte
	pos := 0
	var got []string
	for {
		n, more, err := kctx.NextToken([]byte(s), &pos, tok[:])
		require.Empty(t, err)
		if !more {
			return got
		}
		got = append(got, string(tok[:n]))
	}
}

// FuzzNextToken: the kernel's tokenizer splits and unquotes any line as
// the launcher's side (abi.Cmdline) does: the same tokens, or both fail.
func FuzzNextToken(f *testing.F) {
	for _, s := range []string{
		"a=1 b.c=2 -- x", "a=1\tb=2\r\nc=3\r", `"q \"x\"" "a b"c`, `"open`, "\r\r\t\n", "x\x00y z",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if i := strings.IndexByte(s, 0); i >= 0 {
			s = s[:i] // the kernel copies the line as a C string
		}
		line := []byte("-- " + s) // every token an argument for abi.Cmdline
		want := []string{}
		c := abi.NewCmdline(line)
		var dst [64]byte
		wantErr := false
		for {
			kind, _, val, _, err := c.Next(dst[:])
			if err != abi.CmdlineOK {
				wantErr = true
				break
			}
			if kind == abi.TokenEnd {
				break
			}
			want = append(want, string(val))
		}
		got := []string{}
		gotErr := false
		pos := 0
		var tok [64]byte
		for {
			n, more, err := kctx.NextToken(line, &pos, tok[:])
			if err != "" {
				gotErr = true
				break
			}
			if !more {
				break
			}
			got = append(got, string(tok[:n]))
		}
		require.Equal(t, wantErr, gotErr, "%q", s)
		if !wantErr {
			require.Equal(t, want, got[1:], "%q", s)
		}
	})
}

func TestKernelParam(t *testing.T) {
	kctx.CmdlineLen = copy(kctx.Cmdline[:], `unigo.stats unigo.cpus=4 -- unigo.strace=1`)
	var val [8]byte
	n, ok := kctx.KernelParam("unigo.cpus", val[:])
	assert.True(t, ok)
	assert.Equal(t, "4", string(val[:n]))
	_, ok = kctx.KernelParam("unigo.stats", nil)
	assert.True(t, ok)
	_, ok = kctx.KernelParam("unigo.strace", val[:])
	assert.False(t, ok, "after --")
	_, ok = kctx.KernelParam("unigo.cpu", val[:])
	assert.False(t, ok, "a prefix is not a match")
}

// TestFlagParam checks the boolean parameters' one rule: on for NAME=1 or
// NAME alone, off for anything else, whatever its length, and a name is
// never found as the prefix of a longer one.
func TestFlagParam(t *testing.T) {
	long := "1" + strings.Repeat("0", 200) // longer than any token the lookups read
	for _, c := range []struct {
		cmdline string
		want    bool
	}{
		{"", false},
		{"unigo.cpus=2", false},
		{"unigo.stats=1", true},
		{"unigo.stats", true},
		{"unigo.stats=0", false},
		{"unigo.stats=10", false},
		{"unigo.stats=11111111111", false},
		{"unigo.stats=", false},
		{"unigo.stats=yes", false},
		{"unigo.stats=" + long, false},
		{"unigo.statsx=1", false},
		{"unigo.statsx=1 unigo.stats=1", true},
		{"unigo.stat=1", false},
		{`"unigo.stats=1"`, true},
		{"-- unigo.stats=1", false},
		{"unigo.cpus=2	unigo.stats=1", true},
	} {
		kctx.CmdlineLen = copy(kctx.Cmdline[:], c.cmdline)
		assert.Equal(t, c.want, kctx.FlagParam("unigo.stats"), "%q", c.cmdline)
	}
}

// TestParamIs checks that a parameter matches one value exactly: not a
// longer value that starts with it (the old one-byte buffers read
// unigo.balloon=0x as 0), nor the bare name, nor a longer name.
func TestParamIs(t *testing.T) {
	for _, c := range []struct {
		cmdline string
		want    bool
	}{
		{"", false},
		{"unigo.balloon=0", true},
		{"unigo.balloon=0x", false},
		{"unigo.balloon=00", false},
		{"unigo.balloon=1", false},
		{"unigo.balloon", false},
		{"unigo.balloon=", false},
		{"unigo.balloons=0", false},
		{"unigo.balloon=" + strings.Repeat("0", 200), false},
		{"x=1 unigo.balloon=0 -- unigo.balloon=1", true},
	} {
		kctx.CmdlineLen = copy(kctx.Cmdline[:], c.cmdline)
		assert.Equal(t, c.want, kctx.ParamIs("unigo.balloon", "0"), "%q", c.cmdline)
	}
}
