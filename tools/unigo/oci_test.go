package main

import (
	"github.com/unigo-os/unigo/tools/launch"

	"archive/tar"
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/tools/vmm/testguest"
)

// ociInputs writes a tiny guest image and a stand-in launcher (any static
// ELF will do for packaging).
func ociInputs(t *testing.T) (app, launcher string) {
	t.Helper()
	dir := t.TempDir()
	app = filepath.Join(dir, "hello.img")
	launcher = filepath.Join(dir, "unigo")
	require.NoError(t, os.WriteFile(app, testguest.Image(testguest.Hello()), 0o644))
	require.NoError(t, os.WriteFile(launcher, testguest.Image(testguest.Hang()), 0o755))
	return app, launcher
}

func mustOCIOptions(t *testing.T, args ...string) *ociOptions {
	t.Helper()
	o, err := parseOCIArgs(args)
	require.NoError(t, err)
	return o
}

func TestParseOCIArgs(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	o := mustOCIOptions(t, "-o", "out", "-m", "512M", "-smp", "2", "-e", "A=b c", "-p", "8080", "-p", "53/udp",
		"-v", "/data", "-v", "/etc/app:ro", "./cmd/my_app", "--", "-v", "x")
	assert.Equal(t, uint64(512<<20), o.mem)
	assert.Equal(t, 2, o.smp)
	assert.Equal(t, []string{"A=b c"}, o.env)
	assert.Equal(t, []string{"8080", "53/udp"}, o.ports)
	assert.Equal(t, []string{"-v", "x"}, o.guestArgs)
	assert.Equal(t, "unigo.local/my-app:latest", o.tag)
	assert.Equal(t, time.Unix(0, 0).UTC(), o.created)
	assert.Equal(t, []string{"/unigo", "run", "-hostenv", "-status", "-m", "512M", "-smp", "2",
		"-p", "0.0.0.0:8080:8080", "-p", "0.0.0.0:53:53/udp", "-v", "/data:/data", "-v", "/etc/app:/etc/app:ro",
		"/app.img", "--"}, ociEntrypoint(o))

	assert.Equal(t, "r.example/a:v1", mustOCIOptions(t, "-push", "r.example/a:v1", "x.img").tag)
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	assert.Equal(t, time.Unix(1700000000, 0).UTC(), mustOCIOptions(t, "-o", "d", "x.img").created)

	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"x.img"}, "give -o PATH or -push REF"},
		{[]string{"-o", "d"}, "want exactly one"},
		{[]string{"-o", "d", "-p", "http", "x.img"}, "want PORT"},
		{[]string{"-o", "d", "-e", "unigo.x=1", "x.img"}, "want KEY=VAL"},
		{[]string{"-o", "d", "-smp", "0", "x.img"}, "-smp 0"},
		{[]string{"-o", "d", "-v", "data", "x.img"}, "want an absolute directory"},
		{[]string{"-o", "d", "-v", "/", "x.img"}, "want an absolute directory"},
		{[]string{"-o", "d", "-v", "/data:rw", "x.img"}, "want an absolute directory"},
		{[]string{"-o", "d", "-t", "UPPER/Case", "x.img"}, "-t UPPER/Case"},
	} {
		_, err := parseOCIArgs(tc.args)
		require.Error(t, err, tc.args)
		assert.Contains(t, err.Error(), tc.msg)
	}
}

// The same inputs give the same digest, in memory and on disk; the
// creation time is an input.
func TestOCIReproducible(t *testing.T) {
	app, launcher := ociInputs(t)
	o := mustOCIOptions(t, "-o", "x", "-created", "2026-01-02T03:04:05Z", "-p", "80", "-e", "K=V", app, "--", "a")
	digest := func(o *ociOptions) v1.Hash {
		img, err := ociImage(o, app, launcher)
		require.NoError(t, err)
		d, err := img.Digest()
		require.NoError(t, err)
		return d
	}
	d1 := digest(o)
	assert.Equal(t, d1, digest(o))

	dir := t.TempDir()
	var trees [2]map[string][]byte
	for i := range trees {
		img, err := ociImage(o, app, launcher)
		require.NoError(t, err)
		out := filepath.Join(dir, "layout")
		require.NoError(t, writeOCI(img, out, o.tag))
		trees[i] = readTree(t, out)
	}
	assert.Equal(t, trees[0], trees[1])
	assert.Contains(t, trees[0], "blobs/sha256/"+d1.Hex)

	o2 := *o
	o2.created = o.created.Add(time.Second)
	assert.NotEqual(t, d1, digest(&o2))
}

func readTree(t *testing.T, root string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	require.NoError(t, filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		m[rel] = b
		return err
	}))
	return m
}

// layerFiles lists the image's one layer: name -> header and contents.
func layerFiles(t *testing.T, img v1.Image) ([]*tar.Header, map[string][]byte) {
	t.Helper()
	layers, err := img.Layers()
	require.NoError(t, err)
	require.Len(t, layers, 1)
	mt, err := layers[0].MediaType()
	require.NoError(t, err)
	assert.Equal(t, types.OCILayer, mt)
	rc, err := layers[0].Uncompressed()
	require.NoError(t, err)
	defer rc.Close()
	var hdrs []*tar.Header
	files := map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		hdrs = append(hdrs, h)
		files[h.Name] = b
	}
	return hdrs, files
}

func TestOCILayout(t *testing.T) {
	app, launcher := ociInputs(t)
	out := filepath.Join(t.TempDir(), "hello")
	o := mustOCIOptions(t, "-o", out, "-t", "example.com/hello:v1", app)
	img, err := ociImage(o, app, launcher)
	require.NoError(t, err)
	require.NoError(t, writeOCI(img, out, o.tag))

	idx, err := layout.ImageIndexFromPath(out)
	require.NoError(t, err)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	require.Len(t, im.Manifests, 1)
	assert.Equal(t, "example.com/hello:v1", im.Manifests[0].Annotations[annOCIRefName])
	got, err := idx.Image(im.Manifests[0].Digest)
	require.NoError(t, err)

	hdrs, files := layerFiles(t, got)
	require.Len(t, hdrs, 3)
	assert.Equal(t, "app.img", hdrs[0].Name)
	assert.Equal(t, "unigo", hdrs[1].Name)
	assert.Equal(t, "urunc.json", hdrs[2].Name)
	for _, h := range hdrs {
		assert.Equal(t, map[bool]int64{false: 0o755, true: 0o644}[h.Name == "urunc.json"], h.Mode, h.Name)
		assert.Equal(t, 0, h.Uid)
		assert.True(t, h.ModTime.Equal(time.Unix(0, 0)), h.ModTime)
	}
	wantApp, _ := os.ReadFile(app)
	wantLauncher, _ := os.ReadFile(launcher)
	assert.Equal(t, wantApp, files["app.img"])
	assert.Equal(t, wantLauncher, files["unigo"])

	// A .tar output is a docker load tarball with the tag.
	tarPath := filepath.Join(t.TempDir(), "hello.tar")
	require.NoError(t, writeOCI(img, tarPath, o.tag))
	tag, err := name.NewTag("example.com/hello:v1")
	require.NoError(t, err)
	fromTar, err := tarball.ImageFromPath(tarPath, &tag)
	require.NoError(t, err)
	d1, _ := img.ConfigName()
	d2, _ := fromTar.ConfigName()
	assert.Equal(t, d1, d2)
}

func TestOCIConfig(t *testing.T) {
	app, launcher := ociInputs(t)
	o := mustOCIOptions(t, "-o", "x", "-m", "256M", "-smp", "2", "-e", "GREETING=hi there", "-p", "8080", "-v", "/data", "./examples/httpd", "--", "-v")
	img, err := ociImage(o, app, launcher)
	require.NoError(t, err)

	cf, err := img.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, "amd64", cf.Architecture)
	assert.Equal(t, "linux", cf.OS)
	assert.True(t, cf.Created.Equal(time.Unix(0, 0)))
	c := cf.Config
	assert.Equal(t, []string{"/unigo", "run", "-hostenv", "-status", "-m", "256M", "-smp", "2", "-p", "0.0.0.0:8080:8080",
		"-v", "/data:/data", "/app.img", "--"}, c.Entrypoint)
	assert.Equal(t, map[string]struct{}{"/data": {}}, c.Volumes)
	assert.Equal(t, []string{"-v"}, c.Cmd)
	assert.Equal(t, []string{"GREETING=hi there"}, c.Env)
	assert.Equal(t, map[string]struct{}{"8080/tcp": {}}, c.ExposedPorts)
	assert.Equal(t, "SIGTERM", c.StopSignal)

	m, err := img.Manifest()
	require.NoError(t, err)
	assert.Equal(t, types.OCIManifestSchema1, m.MediaType)
	assert.Equal(t, types.OCIConfigJSON, m.Config.MediaType)
	want := map[string]string{
		"com.urunc.unikernel.unikernelType": "unigo",
		"com.urunc.unikernel.hypervisor":    "qemu",
		"com.urunc.unikernel.binary":        "/app.img",
		"com.urunc.unikernel.cmdline":       "-v",
		"com.urunc.unikernel.mountRootfs":   "false",
		"dev.unigo.memory":                  "256M",
		"dev.unigo.vcpus":                   "2",
		"dev.unigo.requires":                "/dev/kvm",
		"org.opencontainers.image.title":    "httpd",
		"org.opencontainers.image.created":  "1970-01-01T00:00:00Z",
	}
	for k, v := range want {
		assert.Equal(t, v, m.Annotations[k], k)
		assert.Equal(t, v, c.Labels[k], k)
	}
	assert.NotEmpty(t, m.Annotations["dev.unigo.abi"])

	// /urunc.json repeats urunc's keys, base64-encoded, for runtimes that
	// drop annotations.
	_, files := layerFiles(t, img)
	var urunc map[string]string
	require.NoError(t, json.Unmarshal(files["urunc.json"], &urunc))
	assert.Len(t, urunc, 5)
	for k, v := range urunc {
		require.True(t, strings.HasPrefix(k, "com.urunc.unikernel."), k)
		dec, err := base64.StdEncoding.DecodeString(v)
		require.NoError(t, err)
		assert.Equal(t, want[k], string(dec), k)
	}

	// A dynamically linked launcher cannot run in a one-layer image.
	_, err = ociImage(o, app, "/bin/sh")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "CGO_ENABLED=0")
	_, err = ociImage(o, launcher+".missing", launcher)
	assert.Error(t, err)
}

// unigo oci -push to a registry (go-containerregistry's, in process) and
// -o in one run: the pushed image is the one in the layout.
func TestOCIPush(t *testing.T) {
	app, launcher := ociInputs(t)
	srv := httptest.NewServer(registry.New(registry.Logger(nilLogger())))
	defer srv.Close()
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	ref := u.Host + "/unigo/hello:v1"
	out := filepath.Join(t.TempDir(), "layout")

	stdout := captureStdout(t, func() {
		assert.Equal(t, 0, ociCmd([]string{"-launcher", launcher, "-o", out, "-push", ref, "-q", app}))
	})
	pulled, err := remote.Image(mustRef(t, ref))
	require.NoError(t, err)
	d, err := pulled.Digest()
	require.NoError(t, err)
	assert.Equal(t, d.String()+"\n", stdout)
	_, err = os.Stat(filepath.Join(out, "blobs", "sha256", d.Hex))
	assert.NoError(t, err)
	_, files := layerFiles(t, pulled)
	assert.Len(t, files, 3)
}

func mustRef(t *testing.T, s string) name.Reference {
	r, err := name.ParseReference(s)
	require.NoError(t, err)
	return r
}

func nilLogger() *log.Logger { return log.New(io.Discard, "", 0) }

func captureStdout(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	old := os.Stdout
	os.Stdout = w
	done := make(chan []byte)
	go func() { b, _ := io.ReadAll(r); done <- b }()
	defer func() { os.Stdout = old }()
	f()
	w.Close()
	return string(<-done)
}

func TestHostEnviron(t *testing.T) {
	t.Setenv("UNIGO_OCI_TEST", "a b")
	t.Setenv("HOSTNAME", "box")
	t.Setenv("bad.key", "1")
	env := launch.HostEnviron()
	assert.Contains(t, env, "UNIGO_OCI_TEST=a b")
	for _, kv := range env {
		assert.False(t, strings.HasPrefix(kv, "PATH=") || strings.HasPrefix(kv, "HOSTNAME=") || strings.HasPrefix(kv, "bad.key="), kv)
	}
}

// TestOCINetProcess: a unigo-net next to the launcher goes into the layer
// beside it, where the launcher looks for it.
func TestOCINetProcess(t *testing.T) {
	app, launcher := ociInputs(t)
	np := filepath.Join(filepath.Dir(launcher), "unigo-net")
	require.NoError(t, os.WriteFile(np, testguest.Image(testguest.Hello()), 0o755))
	o := mustOCIOptions(t, "-o", "x", "-p", "8080", app)
	img, err := ociImage(o, app, launcher)
	require.NoError(t, err)
	hdrs, files := layerFiles(t, img)
	var names []string
	for _, h := range hdrs {
		names = append(names, h.Name)
	}
	assert.Equal(t, []string{"app.img", "unigo", "unigo-net", "urunc.json"}, names)
	want, _ := os.ReadFile(np)
	assert.Equal(t, want, files["unigo-net"])
	assert.Equal(t, int64(0o755), hdrs[2].Mode)
}
