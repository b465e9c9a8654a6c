package abi

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSyscallSite(t *testing.T) {
	for _, c := range []struct {
		name string
		code []byte
		want int
	}{
		{"movl imm", []byte{0xb8, 0x27, 0, 0, 0, 0x0f, 0x05}, 5},
		{"movq imm", []byte{0x48, 0xc7, 0xc0, 0xe4, 0, 0, 0, 0x0f, 0x05, 0xcc}, 7},
		{"movq bx, di", []byte{0x48, 0x89, 0xdf, 0x0f, 0x05}, 3},
		{"movq r8, r10", []byte{0x4d, 0x89, 0xc2, 0x0f, 0x05}, 3},
		{"movq sp, di", []byte{0x48, 0x89, 0xe7, 0x0f, 0x05}, 0},
		{"movq di, sp", []byte{0x48, 0x89, 0xfc, 0x0f, 0x05}, 0},
		{"movq r12, di: not RSP", []byte{0x4c, 0x89, 0xe7, 0x0f, 0x05}, 3},
		{"movq mem", []byte{0x48, 0x8b, 0x44, 0x0f, 0x05}, 0},
		{"exit: the stack is given away", []byte{0xb8, 60, 0, 0, 0, 0x0f, 0x05}, 0},
		{"exit, movq", []byte{0x48, 0xc7, 0xc0, 60, 0, 0, 0, 0x0f, 0x05}, 0},
		{"exit_group", []byte{0xb8, 0xe7, 0, 0, 0, 0x0f, 0x05}, 5},
		{"service number", []byte{0x48, 0xc7, 0xc0, 0x01, 0, 0xff, 0x7f, 0x0f, 0x05}, 0},
		{"no syscall", []byte{0xb8, 0x27, 0, 0, 0, 0x0f, 0x0b}, 0},
		{"truncated", []byte{0xb8, 0x27, 0, 0, 0, 0x0f}, 0},
		{"empty", nil, 0},
	} {
		assert.Equal(t, c.want, SyscallSite(c.code), c.name)
	}
}

func TestSyscallSitesCount(t *testing.T) {
	desc := []byte{1, 0, 0, 0, 2, 0, 0, 0, 0x10, 0x20, 0x40, 0, 0x20, 0x20, 0x40, 0}
	n, ok := SyscallSitesCount(desc)
	require.True(t, ok)
	require.Equal(t, 2, n)
	assert.Equal(t, uint32(0x402010), SyscallSiteAddr(desc, 0))
	assert.Equal(t, uint32(0x402020), SyscallSiteAddr(desc, 1))
	for _, bad := range [][]byte{nil, desc[:7], desc[:12], append([]byte{2}, desc[1:]...), {1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}} {
		_, ok := SyscallSitesCount(bad)
		assert.False(t, ok, "%x", bad)
	}
}

func FuzzSyscallSites(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 1, 0, 0, 0, 0xb8, 0x27, 0, 0})
	f.Add([]byte{0x48, 0xc7, 0xc0, 0xe4, 0, 0, 0, 0x0f, 0x05})
	f.Fuzz(func(t *testing.T, b []byte) {
		if p := SyscallSite(b); p != 0 {
			require.LessOrEqual(t, p+2, len(b))
			require.GreaterOrEqual(t, p+2, SyscallSiteMin)
			require.LessOrEqual(t, p+2, SyscallSiteMax)
			require.Equal(t, []byte{0x0f, 0x05}, b[p:p+2])
		}
		if n, ok := SyscallSitesCount(b); ok {
			for i := 0; i < n; i++ {
				SyscallSiteAddr(b, i)
			}
		}
	})
}
