package tests

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const volfillPkg = "./tests/guests/volfill"

var volfillRE = regexp.MustCompile(`volfill: acknowledged (\d+) bytes, then errno (\d+)`)

// TestVolumeFull gives the guest a volume on a 2 MiB tmpfs and lets it
// fill it: the guest's write or fsync fails with ENOSPC, and every byte it
// had acknowledged is in the host's file.
func TestVolumeFull(t *testing.T) {
	needLauncher(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs for the volume")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "unigo-volfill", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	defer exec.Command("umount", dir).Run()
	r := runnerNamed("launcher")
	res, err := r.run(t, runSpec{image: images[volfillPkg], memory: "128M", cpus: 1, timeout: time.Minute,
		launcherArgs: []string{"-v", dir + ":/data"}, args: []string{"/data"}})
	require.NoError(t, err)
	require.Equal(t, 0, res.code, "output:\n%s%s", res.out, res.diag)
	m := volfillRE.FindStringSubmatch(res.out)
	require.NotNil(t, m, "output:\n%s", res.out)
	acked, _ := strconv.Atoi(m[1])
	errno, _ := strconv.Atoi(m[2])
	assert.Equal(t, int(syscall.ENOSPC), errno, "the guest's error: %s", m[0])
	assert.Greater(t, acked, 0)
	got, err := os.ReadFile(filepath.Join(dir, "fill"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(got), acked, "acknowledged bytes lost")
	for i := 0; i < acked/(64<<10); i++ {
		want := bytes.Repeat([]byte{byte('a' + i%26)}, 64<<10)
		require.True(t, bytes.Equal(want, got[i*64<<10:(i+1)*64<<10]), fmt.Sprintf("chunk %d", i))
	}
	assert.Contains(t, res.out, "volfill: done\n")
}
