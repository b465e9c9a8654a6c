package abi

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type tok struct {
	kind     TokenKind
	key, val string
}

// tokens runs the allocation-free iterator over s, packing every token into
// one buffer the way early boot code does.
func tokens(s string) ([]tok, CmdlineError) {
	c := NewCmdline([]byte(s))
	buf := make([]byte, len(s))
	var out []tok
	for {
		kind, key, val, n, err := c.Next(buf)
		if err != CmdlineOK || kind == TokenEnd {
			return out, err
		}
		out = append(out, tok{kind, string(key), string(val)})
		buf = buf[n:]
	}
}

func TestCmdlineTokens(t *testing.T) {
	cases := []struct {
		in   string
		want []tok
	}{
		{"", nil},
		{" \t\r\n ", nil},
		{"A=1", []tok{{TokenEnv, "A", "1"}}},
		{"A=", []tok{{TokenEnv, "A", ""}}},
		{"A=b=c", []tok{{TokenEnv, "A", "b=c"}}},
		{"unigo.argv0=hello", []tok{{TokenParam, "unigo.argv0", "hello"}}},
		{"virtio_mmio.device=4K@0xd0000000:5", []tok{{TokenParam, "virtio_mmio.device", "4K@0xd0000000:5"}}},
		{`MSG="hi there"`, []tok{{TokenEnv, "MSG", "hi there"}}},
		{`"MSG=hi there"`, []tok{{TokenEnv, "MSG", "hi there"}}},
		{`X="a\"b\\c"`, []tok{{TokenEnv, "X", `a"b\c`}}},
		{`X=a\b`, []tok{{TokenEnv, "X", `a\b`}}},
		{`X=a"  "b`, []tok{{TokenEnv, "X", "a  b"}}},
		{"A=1\tB.c=2\n-- x", []tok{{TokenEnv, "A", "1"}, {TokenParam, "B.c", "2"}, {TokenArg, "", "x"}}},
		{`-- -v "two words" "" -- A=1 "x\"y"`, []tok{
			{TokenArg, "", "-v"}, {TokenArg, "", "two words"}, {TokenArg, "", ""},
			{TokenArg, "", "--"}, {TokenArg, "", "A=1"}, {TokenArg, "", `x"y`}}},
		{"--", nil},
		{"A=1 --", []tok{{TokenEnv, "A", "1"}}},
		{"A=1\x00 garbage", []tok{{TokenEnv, "A", "1"}}},
	}
	for _, c := range cases {
		got, err := tokens(c.in)
		require.Equal(t, CmdlineOK, err, "%q", c.in)
		assert.Equal(t, c.want, got, "%q", c.in)
	}
}

func TestCmdlineErrors(t *testing.T) {
	cases := []struct {
		in   string
		want CmdlineError
	}{
		{"A=1 oops", ErrCmdlineNoEquals},
		{`"--"`, ErrCmdlineNoEquals}, // only a bare -- separates
		{"=1", ErrCmdlineEmptyKey},
		{`A="open`, ErrCmdlineQuote},
		{`-- "open\"`, ErrCmdlineQuote},
	}
	for _, c := range cases {
		_, err := tokens(c.in)
		assert.Equal(t, c.want, err, "%q", c.in)
		assert.NotContains(t, err.Error(), "\n")
	}

	// An error is sticky: the iterator stays on the bad token.
	c := NewCmdline([]byte("A=1 bad B=2"))
	var buf [16]byte
	kind, _, _, _, err := c.Next(buf[:])
	require.Equal(t, CmdlineOK, err)
	require.Equal(t, TokenEnv, kind)
	for i := 0; i < 2; i++ {
		kind, _, _, _, err = c.Next(buf[:])
		assert.Equal(t, ErrCmdlineNoEquals, err)
		assert.Equal(t, TokenEnd, kind)
	}

	// A token longer than the buffer is reported, not truncated.
	c = NewCmdline([]byte("LONG=0123456789"))
	_, _, _, _, err = c.Next(buf[:8])
	assert.Equal(t, ErrCmdlineTooLong, err)
	kind, key, val, n, err := c.Next(buf[:])
	require.Equal(t, CmdlineOK, err)
	assert.Equal(t, TokenEnv, kind)
	assert.Equal(t, "LONG", string(key))
	assert.Equal(t, "0123456789", string(val))
	assert.Equal(t, 15, n)

	var zero Cmdline
	kind, _, _, _, err = zero.Next(nil)
	assert.Equal(t, TokenEnd, kind)
	assert.Equal(t, CmdlineOK, err)
}

// TestCmdlineNoAlloc proves the guest-side parser is usable before the Go
// runtime's heap exists.
func TestCmdlineNoAlloc(t *testing.T) {
	line := []byte(`GOGC=50 unigo.argv0=hello "MSG=hi there" X="a\"b" -- -v "two words" ""` + "\x00junk")
	count := 0
	allocs := testing.AllocsPerRun(100, func() {
		var buf [256]byte
		dst := buf[:]
		c := NewCmdline(line)
		count = 0
		for {
			kind, _, _, n, err := c.Next(dst)
			if err != CmdlineOK || kind == TokenEnd {
				break
			}
			dst = dst[n:]
			count++
		}
		var e CmdlineError = ErrCmdlineQuote
		_ = e != CmdlineOK
	})
	assert.Equal(t, 0.0, allocs)
	assert.Equal(t, 7, count)
}

func TestQuoteArg(t *testing.T) {
	for in, want := range map[string]string{
		"plain":     "plain",
		`a\b`:       `a\b`,
		"":          `""`,
		"--":        `"--"`,
		"two words": `"two words"`,
		`say "hi"`:  `"say \"hi\""`,
		"tab\there": "\"tab\there\"",
		`back\ sl`:  `"back\\ sl"`,
	} {
		assert.Equal(t, want, QuoteArg(in), "%q", in)
		got, err := tokens("-- " + QuoteArg(in))
		require.Equal(t, CmdlineOK, err)
		assert.Equal(t, []tok{{TokenArg, "", in}}, got)
	}
}

func TestCompose(t *testing.T) {
	s, err := Compose(
		[]string{"GOGC=50", "MSG=hi there", "EMPTY=", "WEIRD KEY=v", `Q="x"`},
		[]string{"unigo.argv0=hello"},
		[]string{"-v", "two words", "", "--"})
	require.NoError(t, err)
	assert.Equal(t, `GOGC=50 MSG="hi there" EMPTY= "WEIRD KEY=v" Q="\"x\"" unigo.argv0=hello -- -v "two words" "" "--"`, s)
	env, kp, args, err := Parse(s)
	require.NoError(t, err)
	assert.Equal(t, []string{"GOGC=50", "MSG=hi there", "EMPTY=", "WEIRD KEY=v", `Q="x"`}, env)
	assert.Equal(t, []string{"unigo.argv0=hello"}, kp)
	assert.Equal(t, []string{"-v", "two words", "", "--"}, args)

	s, err = Compose(nil, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, "", s)

	for _, c := range []struct {
		env, kp, args []string
		err           string
	}{
		{env: []string{"NOEQUALS"}, err: `command line: not KEY=VAL: "NOEQUALS"`},
		{env: []string{"=v"}, err: `command line: not KEY=VAL: "=v"`},
		{env: []string{"a.b=1"}, err: `command line: environment KEY with a dot: "a.b=1"`},
		{kp: []string{"nodot=1"}, err: `command line: kernel parameter KEY without a dot: "nodot=1"`},
		{args: []string{"a\x00b"}, err: `command line: NUL byte: "a\x00b"`},
		{env: []string{"A=\x00"}, err: `command line: NUL byte: "A=\x00"`},
	} {
		_, err := Compose(c.env, c.kp, c.args)
		assert.EqualError(t, err, c.err)
	}
}

func TestParseError(t *testing.T) {
	_, _, _, err := Parse("A=1 oops")
	require.Error(t, err)
	assert.Equal(t, ErrCmdlineNoEquals, err)
}

// FuzzCmdlineRoundTrip: whatever Compose accepts, Parse gives back
// unchanged; and the parser never panics on arbitrary input.
func FuzzCmdlineRoundTrip(f *testing.F) {
	f.Add("GOGC=50\nMSG=hi there", "unigo.argv0=x", "-v\ntwo words\n\n--")
	f.Add(`Q="x"`, "a.b=\\", `back\slash "quoted"`)
	f.Add("", "", "")
	f.Fuzz(func(t *testing.T, envs, kps, argv string) {
		// Arbitrary bytes through the guest-side parser: no panic.
		_, _, _, _ = Parse(envs + " " + kps + " -- " + argv)

		env := splitNonEmpty(envs)
		kp := splitNonEmpty(kps)
		var args []string
		if argv != "" {
			args = strings.Split(argv, "\n")
		}
		s, err := Compose(env, kp, args)
		if err != nil {
			return
		}
		e2, k2, a2, err := Parse(s)
		if err != nil {
			t.Fatalf("Compose(%q, %q, %q) = %q does not parse: %v", env, kp, args, s, err)
		}
		if fmt.Sprint(env) != fmt.Sprint(e2) || fmt.Sprint(kp) != fmt.Sprint(k2) || fmt.Sprintf("%q", args) != fmt.Sprintf("%q", a2) {
			t.Fatalf("round trip of %q: got %q %q %q, want %q %q %q", s, e2, k2, a2, env, kp, args)
		}
	})
}

func splitNonEmpty(s string) []string {
	var out []string
	for _, x := range strings.Split(s, "\n") {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}

func TestCmdlineLimits(t *testing.T) {
	assert.NoError(t, CheckLimits(strings.Repeat("x", CmdlineMaxBytes), CmdlineMaxEnv, CmdlineMaxArgs))
	for _, err := range []error{
		CheckLimits(strings.Repeat("x", CmdlineMaxBytes+1), 0, 0),
		CheckLimits("", 0, CmdlineMaxArgs+1),
		CheckLimits("", CmdlineMaxEnv+1, 0),
	} {
		require.Error(t, err)
		assert.Contains(t, err.Error(), "the guest keeps at most")
	}
}

// FuzzCmdlineParse: any line the guest may be given parses without a
// panic; a line that parses composes back to one that parses the same.
func FuzzCmdlineParse(f *testing.F) {
	for _, s := range []string{
		`GOGC=50 unigo.argv0=hello "MSG=hi there" -- -v "two words" ""`,
		`A=1 -- -- x`, `"A=\"q\"\\" B="x y"`, "unterminated=\"x", "=x", "noequals",
		"K=V\x00hidden=1", "a.b=c\td=e\r\nf=g", `"k.e y"=v`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		env, kp, args, err := Parse(s)
		if err != nil {
			return
		}
		line, err := Compose(env, kp, args)
		if err != nil {
			t.Fatalf("Parse(%q) = %q %q %q, which Compose rejects: %v", s, env, kp, args, err)
		}
		env2, kp2, args2, err := Parse(line)
		require.NoError(t, err)
		assert.Equal(t, env, env2)
		assert.Equal(t, kp, kp2)
		assert.Equal(t, args, args2)
	})
}
