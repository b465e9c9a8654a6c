package launch

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/unigo-os/unigo/tools/vmm/testguest"
	"golang.org/x/sys/unix"
)

func TestParseVolume(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want volume
	}{
		{"/srv/data:/data", volume{"/srv/data", "/data", false}},
		{"rel/dir:/mnt/x:ro", volume{"rel/dir", "/mnt/x", true}},
		{"/a:b:/c:rw", volume{"/a:b", "/c", false}},
	} {
		v, err := parseVolume(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, v, tc.in)
	}
	for _, tc := range []struct{ in, msg string }{
		{"/srv", "want HOSTDIR:GUESTDIR[:ro]"},
		{"/srv:data", `GUESTDIR "data" is not absolute`},
		{"/srv:data:ro", `GUESTDIR "data" is not absolute`},
		{":/data", "empty HOSTDIR"},
		{"/srv:/", "GUESTDIR / would hide the whole image"},
		{"/srv:/a/../b", "not a clean path"},
		{"/srv:/" + strings.Repeat("x", 255), "longer than 255 bytes"},
	} {
		_, err := parseVolume(tc.in)
		assert.ErrorContains(t, err, tc.msg, tc.in)
	}
}

func TestVolumeFlag(t *testing.T) {
	o, err := parseRunArgs([]string{"-v", "/h:/data", "img", "-v", "-v=/i:/ro:ro", "--", "-v", "x:/y"})
	require.NoError(t, err)
	assert.True(t, o.verbose, "-v alone is still verbose")
	assert.Equal(t, []volume{{"/h", "/data", false}, {"/i", "/ro", true}}, o.volumes)
	assert.Equal(t, []string{"-v", "x:/y"}, o.guestArgs)

	o, err = parseRunArgs([]string{"-v", "img"})
	require.NoError(t, err)
	assert.True(t, o.verbose)
	assert.Empty(t, o.volumes)

	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"-v", "/h:data", "img"}, `invalid value "/h:data" for flag -volume: GUESTDIR "data" is not absolute`},
		{[]string{"-v", "/h:/d", "-volume", "/i:/d", "img"}, "-v: two volumes at /d"},
	} {
		_, err := parseRunArgs(tc.args)
		assert.ErrorContains(t, err, tc.msg, tc.args)
	}
}

func TestCheckHostDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	assert.NoError(t, checkHostDir(volume{host: dir, guest: "/d"}))
	assert.ErrorContains(t, checkHostDir(volume{host: filepath.Join(dir, "missing"), guest: "/d"}), "HOSTDIR "+dir+"/missing does not exist")
	assert.ErrorContains(t, checkHostDir(volume{host: file, guest: "/d"}), "HOSTDIR "+file+" is not a directory")

	// A read-only host directory (a read-only mount; as root a 0555
	// directory is still writable, so the check is stubbed to the error
	// access(2) gives on one).
	old := writable
	t.Cleanup(func() { writable = old })
	writable = func(string) error { return unix.EROFS }
	assert.ErrorContains(t, checkHostDir(volume{host: dir, guest: "/d"}), "HOSTDIR "+dir+" is read-only (read-only file system); add :ro to share it read-only")
	assert.NoError(t, checkHostDir(volume{host: dir, guest: "/d", readOnly: true}))
}

func TestQEMUVolumeArgs(t *testing.T) {
	dir := t.TempDir()
	comma := filepath.Join(dir, "a,b")
	require.NoError(t, os.Mkdir(comma, 0o755))
	o := &runOptions{volumes: []volume{{dir, "/data", false}, {comma, "/ro", true}}}
	extra, params, err := qemuDeviceArgs(o, nil, []string{"unigo.x=1"})
	require.NoError(t, err)
	assert.Equal(t, []string{"unigo.x=1"}, params)
	assert.Equal(t, []string{
		"-fsdev", "local,id=vol0,path=" + dir + ",security_model=none",
		"-device", "virtio-9p-device,fsdev=vol0,mount_tag=/data",
		"-fsdev", "local,id=vol1,path=" + dir + "/a,,b,security_model=none,readonly=on",
		"-device", "virtio-9p-device,fsdev=vol1,mount_tag=/ro",
		"-global", "virtio-mmio.force-legacy=false",
	}, extra)

	o = &runOptions{volumes: []volume{{dir, "/" + strings.Repeat("x", 31), false}}}
	_, _, err = qemuDeviceArgs(o, nil, nil)
	assert.ErrorContains(t, err, "-runner qemu takes a GUESTDIR of at most 31 bytes")
	o = &runOptions{volumes: []volume{{filepath.Join(dir, "missing"), "/d", false}}}
	_, _, err = qemuDeviceArgs(o, nil, nil)
	assert.ErrorContains(t, err, "does not exist")
}

// TestRunVolumeErrors: a bad volume ends unigo run with one line before
// the guest boots.
func TestRunVolumeErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	img := writeImage(t, testguest.Hello())
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"-v", filepath.Join(dir, "missing") + ":/data", img}, "does not exist"},
		{[]string{"-v", file + ":/data", img}, "is not a directory"},
		{[]string{"-v", dir + ":data", img}, "is not absolute"},
		{[]string{"-runner", "qemu", "-v", file + ":/data", img}, "is not a directory"},
	} {
		code, out, errs := runInProcess(tc.args...)
		if strings.Contains(errs, "-runner qemu: ") && !strings.Contains(errs, tc.msg) {
			continue // no QEMU here: that line instead
		}
		assert.Equal(t, exitLauncher, code, tc.args)
		assert.Empty(t, out)
		assert.Contains(t, errs, tc.msg, tc.args)
		assert.True(t, strings.HasPrefix(errs, "unigo run: "), errs)
		assert.Equal(t, 1, strings.Count(errs, "\n"), "one line: %q", errs)
	}
}
