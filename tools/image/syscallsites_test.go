package image

import (
	"bytes"
	"debug/elf"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/abi"
)

// The image records the runtime's `MOVL $n, AX; SYSCALL` sites and
// internal/runtime/syscall.Syscall6's register form, each one a site
// abi.SyscallSite accepts in the loaded bytes, and no site of unigo's own
// rt (the shim's services).
func TestSyscallSitesNote(t *testing.T) {
	exe, err := os.ReadFile(testProgram(t))
	require.NoError(t, err)
	img, err := Write(exe, testOpts)
	require.NoError(t, err)

	sites, found := SyscallSitesNote(img)
	require.True(t, found)
	assert.Equal(t, SyscallSites(exe), sites)
	require.Greater(t, len(sites), 20)

	f, err := elf.NewFile(bytes.NewReader(img))
	require.NoError(t, err)
	syms, err := f.Symbols()
	require.NoError(t, err)
	owner := func(a uint32) string {
		for _, s := range syms {
			if elf.ST_TYPE(s.Info) == elf.STT_FUNC && uint64(a) >= s.Value && uint64(a) < s.Value+s.Size {
				return s.Name
			}
		}
		return ""
	}
	text := f.Section(".text")
	code, err := text.Data()
	require.NoError(t, err)
	names := map[string]bool{}
	for i, a := range sites {
		if i > 0 {
			require.Greater(t, a, sites[i-1])
		}
		off := uint64(a) - text.Addr
		p := abi.SyscallSite(code[off:])
		assert.NotZero(t, p, "site %#x", a)
		names[owner(a)] = true
	}
	assert.True(t, names["runtime.getpid.abi0"], "%v", names)
	assert.True(t, names["runtime.futex.abi0"], "%v", names)
	assert.True(t, names["internal/runtime/syscall/linux.Syscall6"] || names["internal/runtime/syscall.Syscall6"], "%v", names)
	assert.False(t, names["runtime.exitThread.abi0"], "exitThread's exit runs on a stack it gave away")
	for n := range names {
		assert.NotContains(t, n, "unigo-os/unigo/rt", "site in %s", n)
	}
	// The loaded bytes are unchanged: the kernel rewrites them at boot.
	out, err := Write(img, testOpts)
	require.NoError(t, err)
	assert.Equal(t, img, out, "Write is idempotent")
}

// A branch into the middle of a site makes it unpatchable.
func TestFuncSitesBranchTarget(t *testing.T) {
	site := []byte{0xb8, 0x27, 0, 0, 0, 0x0f, 0x05}
	assert.Equal(t, []uint32{0x1000}, funcSites(append(bytes.Clone(site), 0xc3), 0x1000))
	// JMP +0 lands on the SYSCALL: EB 05 over the MOVL.
	jumpIn := append([]byte{0xeb, 0x05}, site...)
	assert.Empty(t, funcSites(jumpIn, 0x1000))
	// A register MOV that reads RSP is not a site.
	assert.Empty(t, funcSites([]byte{0x48, 0x89, 0xe7, 0x0f, 0x05}, 0x1000))
}
