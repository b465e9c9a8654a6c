package tests

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const volumePkg = "./tests/guests/volume"

// TestVolumeMount is TestVolume9P through the program's file system: the
// volume guest uses os.ReadFile, os.Create, fsync, rename and readdir on
// /data and /ro, mounted by drivers/storage through the kernel's file
// channel.
func TestVolumeMount(t *testing.T) {
	for _, name := range []string{"launcher", "qemu"} {
		t.Run(name, func(t *testing.T) {
			r := runnerNamed(name)
			r.check(t)
			rw, ro, outside := volumeTrees(t)
			res, err := r.run(t, volumeSpec(images[volumePkg], rw, ro))
			require.NoError(t, err)
			require.Equal(t, 0, res.code, "output:\n%s%s", res.out, res.diag)
			for _, want := range []string{
				"volume: /data/hello.txt: hello from the host\n",
				"volume: wrote /data/guest.txt, fsync ok\n",
				"volume: /data/../outside.txt: no such file or directory\n",
				"volume: /data/up/outside.txt: no such file or directory\n",
				"volume: /data/rel: no such file or directory\n",
				"volume: /data/abs/passwd: no such file or directory\n",
				"volume: /ro/hello.txt: read-only hello\n",
				"volume: create /ro/nope.txt: read-only file system\n",
				"volume: remove /ro/hello.txt: read-only file system\n",
				"volume: ok\n",
			} {
				assert.Contains(t, res.out, want)
			}
			b, err := os.ReadFile(filepath.Join(rw, "guest.txt"))
			require.NoError(t, err)
			assert.Equal(t, "written in the guest\n", string(b))
			assert.DirExists(t, filepath.Join(rw, "dir", "sub"))
			assert.NoFileExists(t, filepath.Join(ro, "nope.txt"))
			b, _ = os.ReadFile(outside)
			assert.Equal(t, "outside the volume", string(b))
		})
	}
}
