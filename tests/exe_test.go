package tests

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestExeForeignModule boots the exe guest under QEMU with another file as
// its PVH module (-initrd, the last one given wins): the kernel refuses it
// with one line, the program runs on, and its executable cannot be read.
// Only QEMU can pass a module of the caller's choosing.
func TestExeForeignModule(t *testing.T) {
	r := runnerNamed("qemu")
	r.check(t)
	other := filepath.Join(t.TempDir(), "not-the-image")
	require.NoError(t, os.WriteFile(other, []byte("\x7fELF, but not this one\n"), 0o644))
	res, err := r.run(t, runSpec{image: images[exePkg], memory: "128M", cpus: 1, timeout: 60 * time.Second,
		qemuArgs: []string{"-initrd", other}})
	require.NoError(t, err)
	assert.Equal(t, 1, res.code, "output:\n%s%s", res.out, res.diag)
	assert.Contains(t, res.out, "unigo: boot module ignored (not this image): /init and /proc/self/exe are absent\n")
	assert.Contains(t, res.out, "exe: open: open /init: no such file or directory\n")
}

// TestExeModuleAboveRAM boots the exe guest under the launcher with RAM
// ending at the device hole (-m 3G), so the launcher places the module
// above 4 GiB, outside RAM: the kernel maps it there and the guest reads
// its executable whole.
func TestExeModuleAboveRAM(t *testing.T) {
	r := runnerNamed("launcher")
	r.check(t)
	res, err := r.run(t, runSpec{image: images[exePkg], memory: "3G", cpus: 1, timeout: 60 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, 0, res.code, "output:\n%s%s", res.out, res.diag)
	b, err := os.ReadFile(images[exePkg])
	require.NoError(t, err)
	assert.Contains(t, res.out, fmt.Sprintf("exe: size %d sha256 %x\n", len(b), sha256.Sum256(b)))
	assert.Contains(t, res.out, "exe: ok\n")
}
