package tests

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const volume9pPkg = "./tests/guests/volume9p"

// volumeTrees makes the host side of the volume9p guest: a writable tree
// and a read-only one, each holding hello.txt and symlinks out of it
// (absolute, "..", relative to a file beside the tree).
func volumeTrees(t *testing.T) (rw, ro, outside string) {
	base := t.TempDir()
	outside = filepath.Join(base, "outside.txt")
	require.NoError(t, os.WriteFile(outside, []byte("outside the volume"), 0o644))
	for _, d := range []struct{ dir, hello string }{{"data", "hello from the host"}, {"ro", "read-only hello"}} {
		dir := filepath.Join(base, d.dir)
		require.NoError(t, os.Mkdir(dir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "hello.txt"), []byte(d.hello), 0o644))
		require.NoError(t, os.Symlink("/etc", filepath.Join(dir, "abs")))
		require.NoError(t, os.Symlink("..", filepath.Join(dir, "up")))
		require.NoError(t, os.Symlink("../outside.txt", filepath.Join(dir, "rel")))
	}
	return filepath.Join(base, "data"), filepath.Join(base, "ro"), outside
}

// volumeSpec runs image with the host trees rw at /data and ro at /ro
// (read-only): unigo run -v under the launcher, -fsdev and
// virtio-9p-device under QEMU.
func volumeSpec(image, rw, ro string) runSpec {
	return runSpec{image: image, memory: "128M", cpus: 1, timeout: time.Minute,
		launcherArgs: []string{"-v", rw + ":/data", "-v", ro + ":/ro:ro"},
		qemuArgs: qemuVirtio(
			"-fsdev", "local,id=f0,path="+rw+",security_model=none",
			"-device", "virtio-9p-device,fsdev=f0,mount_tag=/data",
			"-fsdev", "local,id=f1,path="+ro+",security_model=none,readonly=on",
			"-device", "virtio-9p-device,fsdev=f1,mount_tag=/ro"),
	}
}

// TestVolume9P shares two host directories with the volume9p guest, with
// unigo run -v under the launcher and -fsdev/virtio-9p-device under QEMU:
// what the guest writes (fsync'd, concurrently, large) is on the host, the
// read-only tree refuses changes with EROFS, and no path leads out.
func TestVolume9P(t *testing.T) {
	for _, name := range []string{"launcher", "qemu"} {
		t.Run(name, func(t *testing.T) {
			r := runnerNamed(name)
			r.check(t)
			rw, ro, outside := volumeTrees(t)
			// The guest drives the devices itself: drivers/storage, which
			// unigo build links into it, must leave them alone.
			s := volumeSpec(images[volume9pPkg], rw, ro)
			s.memory, s.cpus, s.kparams = "256M", 2, []string{"unigo.storage=0"}
			res, err := r.run(t, s)
			require.NoError(t, err)
			require.Equal(t, 0, res.code, "output:\n%s%s", res.out, res.diag)
			for _, want := range []string{
				"volume9p: /data hello.txt: hello from the host\n",
				"volume9p: /data wrote guest.txt, fsync ok\n",
				"volume9p: /data big.bin 1048576 bytes round trip\n",
				"volume9p: /data 16 concurrent writers ok\n",
				"volume9p: /data abs -> /etc",
				"volume9p: /ro hello.txt: read-only hello\n",
				"volume9p: /ro create: read-only file system\n",
				"volume9p: /ro open for writing: read-only file system\n",
				"volume9p: ok\n",
			} {
				assert.Contains(t, res.out, want)
			}
			for _, line := range strings.Split(res.out, "\n") {
				if strings.Contains(line, "1 MiB written") {
					t.Log(line)
				}
			}
			b, err := os.ReadFile(filepath.Join(rw, "guest.txt"))
			require.NoError(t, err)
			assert.Equal(t, "written in the guest\n", string(b))
			b, err = os.ReadFile(filepath.Join(rw, "big.bin"))
			require.NoError(t, err)
			assert.Equal(t, bytes.Repeat([]byte("0123456789abcdef"), 64<<10), b)
			for i := range 16 {
				b, err := os.ReadFile(filepath.Join(rw, "many", fmt.Sprintf("f%02d", i)))
				require.NoError(t, err)
				assert.Equal(t, bytes.Repeat([]byte{byte('a' + i)}, 100000), b)
			}
			ents, err := os.ReadDir(ro)
			require.NoError(t, err)
			assert.Len(t, ents, 4, "the read-only tree is unchanged")
			b, _ = os.ReadFile(outside)
			assert.Equal(t, "outside the volume", string(b))
			assert.NotContains(t, res.out, "outside the volume")
			assert.False(t, strings.Contains(res.out, "root:x:0:0"), "read /etc/passwd")
		})
	}
}
