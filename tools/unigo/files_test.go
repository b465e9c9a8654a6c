package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseFilesFlag(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	f, err := parseFilesFlag(dir + ":/srv/data/")
	require.NoError(t, err)
	assert.Equal(t, fileSpec{host: dir, guest: "/srv/data"}, f)
	chdir(t, dir)
	require.NoError(t, os.Mkdir("rel", 0o755))
	f, err = parseFilesFlag("rel:/x")
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "rel"), f.host, "HOSTDIR made absolute")
	for v, want := range map[string]string{
		"nocolon":           "want HOSTDIR:GUESTDIR",
		":/x":               "empty HOSTDIR",
		dir + ":x":          `GUESTDIR "x" is not an absolute path`,
		dir + ":":           `GUESTDIR "" is not an absolute path`,
		dir + "/missing:/x": "does not exist",
		file + ":/x":        "is not a directory",
	} {
		_, err := parseFilesFlag(v)
		assert.ErrorContains(t, err, want, v)
	}
}

// tarHeaders reads the headers of the tar archive at path.
func tarHeaders(t *testing.T, path string) []*tar.Header {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var hs []*tar.Header
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hs
		}
		require.NoError(t, err)
		hs = append(hs, h)
	}
}

// TestWriteDirTarFiles checks -files packing: everything, hidden files and
// subpackages too, relative links inside kept, others refused, no times
// or owners recorded.
func TestWriteDirTarFiles(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{"a.txt": "a", ".hidden": "h", "sub/x.go": "package x", "sub/b.txt": "b"} {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(data), 0o644))
	}
	require.NoError(t, os.Symlink("../a.txt", filepath.Join(dir, "sub", "up")))
	out := filepath.Join(t.TempDir(), "x.tar")
	require.NoError(t, writeDirTar(dir, out, false))
	var names []string
	for _, h := range tarHeaders(t, out) {
		names = append(names, h.Name)
		assert.True(t, h.ModTime.IsZero() || h.ModTime.Unix() <= 0, "%s: mtime %v", h.Name, h.ModTime)
		assert.Zero(t, h.Uid)
	}
	sort.Strings(names)
	assert.Equal(t, []string{".hidden", "a.txt", "sub", "sub/b.txt", "sub/up", "sub/x.go"}, names)

	for _, link := range []string{"/etc/passwd", "../../x", "../.."} {
		l := filepath.Join(dir, "sub", "bad")
		os.Remove(l)
		require.NoError(t, os.Symlink(link, l))
		err := writeDirTar(dir, out, false)
		assert.ErrorContains(t, err, "sub/bad: symbolic link to "+link+" leads outside the directory", link)
	}
}

// TestBuildFiles builds a program with -files against the fake unigo,
// whose rt.Booted is true with FAKE_BOOTED=1: then the files appear at
// GUESTDIR (here a host directory), else nothing is unpacked.
func TestBuildFiles(t *testing.T) {
	root := fakeUnigo(t)
	src := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(src, "sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "sub", "f.txt"), []byte("packed\n"), 0o600))
	require.NoError(t, os.Symlink("sub/f.txt", filepath.Join(src, "link")))
	guest := filepath.Join(t.TempDir(), "guest")
	prog := filepath.Join(root, "examples", "hello")
	require.NoError(t, os.WriteFile(filepath.Join(prog, "main.go"), []byte(`package main

import (
	"fmt"
	"os"
)

func main() {
	b, err := os.ReadFile(os.Args[1])
	fmt.Printf("%q %v\n", b, err)
}
`), 0o644))
	spec, err := parseFilesFlag(src + ":" + guest)
	require.NoError(t, err)
	img := filepath.Join(t.TempDir(), "f.img")
	b := builder{out: img, files: []fileSpec{spec}, noCerts: true}
	_, err = b.build(prog)
	require.NoError(t, err)

	out, err := exec.Command(img, filepath.Join(guest, "link")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "no such file or directory", "not booted: nothing unpacked")

	cmd := exec.Command(img, filepath.Join(guest, "link"))
	cmd.Env = append(os.Environ(), "FAKE_BOOTED=1")
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "\"packed\\n\" <nil>\n", string(out))
	l, err := os.Readlink(filepath.Join(guest, "link"))
	require.NoError(t, err)
	assert.Equal(t, "sub/f.txt", l)
	_, err = os.Stat(filepath.Join(prog, filesInitFile))
	assert.True(t, os.IsNotExist(err), "the generated file is only in the overlay")
}

// TestBuildNoCerts: a program that does not link crypto/x509 gets no CA
// roots and no warning; one that does, in a module that cannot provide
// the roots (the fake unigo requires no golang.org/x/crypto), builds with
// one line of warning; -nocerts silences it.
func TestBuildNoCerts(t *testing.T) {
	root := fakeUnigo(t)
	var stderr bytes.Buffer
	b := builder{out: filepath.Join(t.TempDir(), "h.img"), stderr: &stderr}
	_, err := b.build(filepath.Join(root, "examples", "hello"))
	require.NoError(t, err)
	assert.Empty(t, stderr.String(), "no crypto/x509, no roots wanted")

	tlsProg := filepath.Join(root, "examples", "verifier")
	require.NoError(t, os.MkdirAll(tlsProg, 0o755))
	// crypto/x509 imports net, for which unigo build links the netstack.
	require.NoError(t, os.MkdirAll(filepath.Join(root, "netstack"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "netstack", "netstack.go"), []byte("package netstack\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(tlsProg, "main.go"), []byte(`package main

import (
	"crypto/x509"
	"fmt"
)

func main() {
	_ = x509.NewCertPool()
	fmt.Println("hello from a package")
}
`), 0o644))
	_, err = b.build(tlsProg)
	require.NoError(t, err, "%s", stderr.String())
	assert.Equal(t, 1, strings.Count(stderr.String(), "\n"), stderr.String())
	assert.Contains(t, stderr.String(), "unigo build: warning: no CA roots in the image (go get "+certsPackage+"@latest in the program's module, or -nocerts): ")
	checkImage(t, b.out, "hello from a package\n")
	stderr.Reset()
	b.noCerts = true
	_, err = b.build(tlsProg)
	require.NoError(t, err)
	assert.Empty(t, stderr.String())
}
