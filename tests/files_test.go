package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// filesPkg is built with -files (buildFlags): its testdata directory is
// /data in the booted guest.
const filesPkg = "./tests/guests/files"

// buildFlags are extra unigo build flags for some guests (buildAll).
var buildFlags = map[string][]string{
	filesPkg: {"-files", "tests/guests/files/testdata:/data"},
}

// TestFiles boots the files guest: the directory packed with -files is at
// /data (contents, a subdirectory, symbolic links, writable), the
// time-zone database and the CA roots (ISRG Root X1) are in the image.
// Natively the time zones and roots are there (the host's roots) and
// nothing is unpacked.
func TestFiles(t *testing.T) {
	spec := runSpec{image: images[filesPkg], memory: "128M", cpus: 1, timeout: 60 * time.Second}
	t.Run("native", func(t *testing.T) {
		res, err := runners[0].run(t, spec)
		require.NoError(t, err)
		require.Equal(t, 0, res.code, "output:\n%s", res.out)
		assert.Contains(t, res.out, "files: native, nothing unpacked\n")
		assert.Contains(t, res.out, "files: ok\n")
	})
	forBootRunners(t, func(t *testing.T, r runner) {
		res, err := r.run(t, spec)
		require.NoError(t, err)
		require.Equal(t, 0, res.code, "output:\n%s%s", res.out, res.diag)
		for _, w := range []string{"files: /data ok\n", "files: tz ok\n", "files: certs ok (ISRG Root X1", "files: ok\n"} {
			assert.Contains(t, res.out, w)
		}
	})
}

// TestFilesBadInput checks unigo build's refusals of -files: one line,
// a non-zero exit status, no image.
func TestFilesBadInput(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	outside := filepath.Join(dir, "outside")
	require.NoError(t, os.Mkdir(outside, 0o755))
	require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(outside, "abs")))
	for _, c := range []struct{ flag, want string }{
		{filepath.Join(dir, "missing") + ":/data", "does not exist"},
		{file + ":/data", "is not a directory"},
		{dir + ":data", "is not an absolute path"},
		{dir, "want HOSTDIR:GUESTDIR"},
		{outside + ":/data", "abs: symbolic link to /etc/passwd leads outside the directory"},
	} {
		img := filepath.Join(dir, "x.img")
		cmd := exec.Command(unigoBin, "build", "-o", img, "-files", c.flag, "./examples/hello")
		cmd.Dir = moduleRoot
		out, err := cmd.CombinedOutput()
		require.Error(t, err, "-files %s: output:\n%s", c.flag, out)
		assert.Contains(t, string(out), c.want, "-files %s", c.flag)
		assert.Equal(t, 1, strings.Count(strings.TrimSpace(string(out)), "\n")+1, "one line: %s", out)
		assert.NoFileExists(t, img)
	}
}
