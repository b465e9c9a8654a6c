package tests

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestOCIRunc packages guests with `unigo oci`, unpacks each image into an
// OCI bundle (rootfs from the layers, config.json from `runc spec` with the
// image's entrypoint, Cmd and Env and /dev/kvm passed in) and runs it under
// runc: the guest's output, its exit code, and SIGTERM from `runc kill`
// delivered to the guest program.
// Needs root, runc (.ci/run installs it) and /dev/kvm.
func TestOCIRunc(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: runc creates the container's namespaces and /dev/kvm node")
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("runc not on PATH (apt-get install runc)")
	}
	var kvm unix.Stat_t
	if err := unix.Stat("/dev/kvm", &kvm); err != nil {
		t.Skipf("no /dev/kvm: %v", err)
	}
	state := t.TempDir() // runc's state, apart from the host's /run/runc

	bundleWith := func(t *testing.T, binds []runcBind, args ...string) string {
		dir := t.TempDir()
		out := filepath.Join(dir, "image")
		cmd := exec.Command(unigoBin, append([]string{"oci", "-o", out}, args...)...)
		cmd.Dir = moduleRoot
		msg, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", msg)
		b := filepath.Join(dir, "bundle")
		cfg := unpackOCI(t, out, filepath.Join(b, "rootfs"))
		writeRuncConfig(t, runc, b, cfg, unix.Major(uint64(kvm.Rdev)), unix.Minor(uint64(kvm.Rdev)), binds...)
		return b
	}
	bundle := func(t *testing.T, args ...string) string { return bundleWith(t, nil, args...) }
	run := func(t *testing.T, b, id string) *exec.Cmd {
		return exec.Command(runc, "--root", state, "run", "--bundle", b, id)
	}

	t.Run("output", func(t *testing.T) {
		b := bundle(t, "-e", "UNIGO_A=from image", images["./tests/guests/argsenv"], "--", "x", "y z")
		cmd := run(t, b, "unigo-oci-output")
		cmd.Env = append(os.Environ(), "UNIGO_B=not passed: runc takes the env from config.json")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Contains(t, string(out), `args=["x" "y z"]`)
		assert.Contains(t, string(out), `env UNIGO_A="from image"`)
		assert.Contains(t, string(out), "env UNIGO_B unset")
	})

	// Volumes declared with unigo oci -v reach the guest: what the runtime
	// mounts at the container's /data and /ro is the guest's /data and /ro.
	t.Run("volumes", func(t *testing.T) {
		rw, ro, outside := volumeTrees(t)
		b := bundleWith(t, []runcBind{{rw, "/data", false}, {ro, "/ro", true}}, "-v", "/data", "-v", "/ro:ro", images[volumePkg])
		out, err := run(t, b, "unigo-oci-volumes").CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Contains(t, string(out), "volume: wrote /data/guest.txt, fsync ok\n")
		assert.Contains(t, string(out), "volume: create /ro/nope.txt: read-only file system\n")
		assert.Contains(t, string(out), "volume: ok\n")
		got, err := os.ReadFile(filepath.Join(rw, "guest.txt"))
		require.NoError(t, err)
		assert.Equal(t, "written in the guest\n", string(got))
		got, _ = os.ReadFile(outside)
		assert.Equal(t, "outside the volume", string(got))
	})

	t.Run("exit code", func(t *testing.T) {
		b := bundle(t, images["./tests/guests/exit7"])
		out, err := run(t, b, "unigo-oci-exit7").CombinedOutput()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "%s", out)
		assert.Equal(t, 7, ee.ExitCode(), "%s", out)
		assert.Contains(t, string(out), "exit7: exiting with 7")
	})

	// runc kill TERM reaches the guest program, which exits 0 by itself.
	t.Run("SIGTERM", func(t *testing.T) {
		b := bundle(t, images[sigtermPkg])
		cmd := run(t, b, "unigo-oci-sigterm")
		var out syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Start())
		defer cmd.Process.Kill()
		require.Eventually(t, func() bool { return strings.Contains(out.String(), "sigterm: waiting") },
			30*time.Second, 10*time.Millisecond, "%s", &out)
		kill, err := exec.Command(runc, "--root", state, "kill", "unigo-oci-sigterm", "TERM").CombinedOutput()
		require.NoError(t, err, "%s", kill)
		require.NoError(t, cmd.Wait(), "%s", &out)
		assert.Contains(t, out.String(), "sigterm: got terminated, exiting\n")
	})
}

// ociImageConfig is the part of an OCI image config a bundle needs.
type ociImageConfig struct {
	Config struct {
		Entrypoint, Cmd, Env []string
		WorkingDir           string
	} `json:"config"`
}

// unpackOCI extracts the one image of an OCI layout directory into rootfs
// and returns its config. Only what unigo oci writes: regular files.
func unpackOCI(t *testing.T, layout, rootfs string) ociImageConfig {
	t.Helper()
	blob := func(digest string) []byte {
		b, err := os.ReadFile(filepath.Join(layout, "blobs", strings.Replace(digest, ":", "/", 1)))
		require.NoError(t, err)
		return b
	}
	var index struct {
		Manifests []struct{ Digest string } `json:"manifests"`
	}
	b, err := os.ReadFile(filepath.Join(layout, "index.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &index))
	require.Len(t, index.Manifests, 1)
	var manifest struct {
		Config struct{ Digest string } `json:"config"`
		Layers []struct {
			MediaType, Digest string
		} `json:"layers"`
	}
	require.NoError(t, json.Unmarshal(blob(index.Manifests[0].Digest), &manifest))
	var cfg ociImageConfig
	require.NoError(t, json.Unmarshal(blob(manifest.Config.Digest), &cfg))
	require.NoError(t, os.MkdirAll(rootfs, 0o755))
	for _, l := range manifest.Layers {
		require.Equal(t, "application/vnd.oci.image.layer.v1.tar+gzip", l.MediaType)
		zr, err := gzip.NewReader(bytes.NewReader(blob(l.Digest)))
		require.NoError(t, err)
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			require.Equal(t, byte(tar.TypeReg), h.Typeflag, h.Name)
			require.False(t, strings.Contains(h.Name, ".."), h.Name)
			p := filepath.Join(rootfs, h.Name)
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode))
			require.NoError(t, err)
			_, err = io.Copy(f, tr)
			require.NoError(t, err)
			require.NoError(t, f.Close())
		}
	}
	return cfg
}

// writeRuncConfig writes the bundle's config.json: runc spec's default,
// with the image's process, a read-only rootfs and the KVM device node
// (created in the container and allowed by its device cgroup).
// runcBind is a bind mount of a host directory into the container.
type runcBind struct {
	source, dest string
	ro           bool
}

func writeRuncConfig(t *testing.T, runc, bundle string, img ociImageConfig, major, minor uint32, binds ...runcBind) {
	t.Helper()
	cmd := exec.Command(runc, "spec")
	cmd.Dir = bundle
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	path := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var spec map[string]any
	require.NoError(t, json.Unmarshal(b, &spec))

	proc := spec["process"].(map[string]any)
	proc["terminal"] = false
	proc["args"] = append(append([]string{}, img.Config.Entrypoint...), img.Config.Cmd...)
	proc["env"] = append([]string{"PATH=/"}, img.Config.Env...)
	proc["cwd"] = "/"
	spec["root"] = map[string]any{"path": "rootfs", "readonly": true}
	linux := spec["linux"].(map[string]any)
	linux["devices"] = []any{map[string]any{
		"path": "/dev/kvm", "type": "c", "major": major, "minor": minor, "fileMode": 0o666, "uid": 0, "gid": 0,
	}}
	res, _ := linux["resources"].(map[string]any)
	if res == nil {
		res = map[string]any{}
		linux["resources"] = res
	}
	devs, _ := res["devices"].([]any)
	res["devices"] = append(devs, map[string]any{
		"allow": true, "type": "c", "major": major, "minor": minor, "access": "rwm",
	})
	mounts, _ := spec["mounts"].([]any)
	for _, m := range binds {
		opts := []string{"rbind", "rw"}
		if m.ro {
			opts = []string{"rbind", "ro"}
		}
		mounts = append(mounts, map[string]any{"destination": m.dest, "type": "bind", "source": m.source, "options": opts})
	}
	spec["mounts"] = mounts
	b, err = json.MarshalIndent(spec, "", "\t")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o644))
}
