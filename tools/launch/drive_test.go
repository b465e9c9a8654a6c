package launch

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseDrive(t *testing.T) {
	d, err := parseDrive("disk.img")
	require.NoError(t, err)
	assert.Equal(t, drive{path: "disk.img"}, d)
	d, err = parseDrive("/x/disk.img:ro")
	require.NoError(t, err)
	assert.Equal(t, drive{path: "/x/disk.img", ro: true}, d)
	_, err = parseDrive(":ro")
	assert.Error(t, err)
	o, err := parseRunArgs([]string{"-drive", "a.img", "-drive", "b.img:ro", "x.img"})
	require.NoError(t, err)
	assert.Equal(t, []drive{{path: "a.img"}, {path: "b.img", ro: true}}, o.drives)
}

func TestDriveErrors(t *testing.T) {
	dir := t.TempDir()
	ro := filepath.Join(dir, "ro.img")
	require.NoError(t, os.WriteFile(ro, make([]byte, 4096), 0o444))
	for _, c := range []struct{ arg, want string }{
		{filepath.Join(dir, "missing.img"), "no such file or directory"},
		{dir, "is a directory"},
		{ro, "read-only; add :ro"},
	} {
		d, _ := parseDrive(c.arg)
		err := d.check()
		require.Error(t, err, c.arg)
		assert.Contains(t, err.Error(), c.want)
		assert.NotContains(t, err.Error(), "\n")
	}
	d, _ := parseDrive(ro + ":ro")
	assert.NoError(t, d.check())
}

func TestQEMUDriveArgs(t *testing.T) {
	assert.Equal(t, []string{
		"-drive", "file=a,,b.img,format=raw,if=none,id=d0", "-device", "virtio-blk-device,drive=d0",
		"-drive", "file=c.img,format=raw,if=none,id=d1,readonly=on", "-device", "virtio-blk-device,drive=d1",
	}, qemuDriveArgs([]drive{{path: "a,b.img"}, {path: "c.img", ro: true}}))
}
