package kctx_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

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
