package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/tools/vmm/netback/netproc"
)

const ociUsage = `usage: unigo oci [flags] PACKAGE|FILE.go|IMAGE [-- ARGS...]

Builds PACKAGE (or takes a built IMAGE) and writes an OCI image whose one
layer holds the unigo image (/app.img), the launcher (/unigo, a static
build of this command) and the user-mode network's process (/unigo-net). Its entrypoint boots the guest with unigo run and
the settings below; ARGS become the image's Cmd, the guest's arguments.
The same input gives the same digest.

flags:
  -o PATH          write an OCI image layout directory, or with a .tar
                   suffix a tarball for docker load / podman load
  -push REF        push to a registry (credentials from the Docker config)
  -t REF           the image reference (default unigo.local/NAME:latest)
  -m SIZE          guest memory (default 128M)
  -smp N           vCPUs (default 1)
  -e KEY=VAL       guest environment variable, in the image config (repeatable)
  -p PORT[/udp]    expose PORT: the container's PORT is forwarded to the
                   guest's PORT (repeatable)
  -v DIR[:ro]      declare a volume: the container's directory DIR (what
                   the runtime mounts there, docker run -v HOST:DIR) is
                   shared with the guest at DIR (unigo run -v; repeatable)
  -launcher PATH   the launcher to put in the image (a statically linked
                   unigo, with unigo-net next to it if the guest has the
                   user-mode network; default: built from the unigo
                   source tree)
  -unigo DIR       unigo source tree (default: found as for unigo build)
  -created RFC3339 the creation time recorded (default $SOURCE_DATE_EPOCH,
                   else 1970-01-01T00:00:00Z)
  -files HOSTDIR:GUESTDIR, -nocerts, -notz
                   as for unigo build, when PACKAGE is source
  -q               print only the digest

One of -o and -push is required. The image's entrypoint reads the
container's environment (docker run -e) into the guest's (unigo run
-hostenv), so the image config's Env and the runtime's both reach it.
`

// Paths inside the image.
const (
	ociLauncherPath = "/unigo"
	ociImagePath    = "/app.img"
)

// Annotation and label keys. urunc reads com.urunc.unikernel.*; the others
// are the OCI pre-defined ones and unigo's own.
const (
	uruncAnnotationPrefix = "com.urunc.unikernel."
	annURuncType          = "com.urunc.unikernel.unikernelType"
	annURuncHypervisor    = "com.urunc.unikernel.hypervisor"
	annURuncBinary        = "com.urunc.unikernel.binary"
	annURuncCmdline       = "com.urunc.unikernel.cmdline"
	annURuncMountRoot     = "com.urunc.unikernel.mountRootfs"
	annUnigoABI           = "dev.unigo.abi"
	annUnigoMem           = "dev.unigo.memory"
	annUnigoSMP           = "dev.unigo.vcpus"
	annUnigoKVM           = "dev.unigo.requires"
	annOCICreated         = "org.opencontainers.image.created"
	annOCITitle           = "org.opencontainers.image.title"
	annOCIRefName         = "org.opencontainers.image.ref.name"
)

// ociOptions is a parsed `unigo oci` command line.
type ociOptions struct {
	build          builder // -files, -nocerts, -notz when building from source
	out, push, tag string
	mem            uint64
	smp            int
	env            []string
	ports          []string // "8080" or "53/udp"
	volumes        []string // "/data" or "/data:ro"
	launcher       string
	root           string
	created        time.Time
	quiet          bool
	target         string
	guestArgs      []string
}

func parseOCIArgs(args []string) (*ociOptions, error) {
	o := &ociOptions{mem: 128 << 20, smp: 1}
	args, o.guestArgs = splitGuestArgs(args)
	fs := flag.NewFlagSet("unigo oci", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.out, "o", "", "")
	fs.StringVar(&o.push, "push", "", "")
	fs.StringVar(&o.tag, "t", "", "")
	fs.Func("m", "", func(s string) error {
		n, err := parseMemSize(s)
		o.mem = n
		return err
	})
	fs.IntVar(&o.smp, "smp", 1, "")
	fs.Func("e", "", func(s string) error {
		k, _, ok := strings.Cut(s, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t\n\"\\.") {
			return fmt.Errorf("want KEY=VAL, got %q", s)
		}
		o.env = append(o.env, s)
		return nil
	})
	fs.Func("p", "", func(s string) error {
		num, proto, _ := strings.Cut(s, "/")
		if n, err := strconv.Atoi(num); err != nil || n < 1 || n > 65535 || (proto != "" && proto != "tcp" && proto != "udp") {
			return fmt.Errorf("want PORT or PORT/udp, got %q", s)
		}
		o.ports = append(o.ports, s)
		return nil
	})
	fs.Func("v", "", func(s string) error {
		dir, mode, _ := strings.Cut(s, ":")
		if !path.IsAbs(dir) || path.Clean(dir) != dir || dir == "/" || (mode != "" && mode != "ro") {
			return fmt.Errorf("want an absolute directory other than / and an optional :ro, got %q", s)
		}
		o.volumes = append(o.volumes, s)
		return nil
	})
	fs.StringVar(&o.launcher, "launcher", "", "")
	fs.StringVar(&o.root, "unigo", "", "")
	fs.Func("created", "", func(s string) error {
		t, err := time.Parse(time.RFC3339, s)
		o.created = t
		return err
	})
	fs.BoolVar(&o.quiet, "q", false, "")
	o.build.addFileFlags(fs, nil)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	switch {
	case len(positional) != 1:
		return nil, errors.New("want exactly one PACKAGE, FILE.go or IMAGE")
	case o.out == "" && o.push == "":
		return nil, errors.New("nowhere to write the image: give -o PATH or -push REF")
	case o.smp < 1 || o.smp > 255:
		return nil, fmt.Errorf("-smp %d: want 1 to 255 vCPUs", o.smp)
	}
	o.target = positional[0]
	if o.created.IsZero() {
		o.created = time.Unix(0, 0).UTC()
		if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since 1970", s)
			}
			o.created = time.Unix(n, 0).UTC()
		}
	}
	if o.tag == "" {
		o.tag = o.push
	}
	if o.tag == "" {
		o.tag = "unigo.local/" + sanitizeRepo(ociName(o.target)) + ":latest"
	}
	if _, err := name.ParseReference(o.tag); err != nil {
		return nil, fmt.Errorf("-t %s: %v", o.tag, err)
	}
	return o, nil
}

// ociName is the application's name: the package's or file's base name.
func ociName(target string) string {
	base := filepath.Base(strings.TrimSuffix(strings.TrimSuffix(target, "/"), ".go"))
	return strings.TrimSuffix(base, ".img")
}

// sanitizeRepo makes s a valid repository path component.
func sanitizeRepo(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	if out := strings.Trim(b.String(), "-"); out != "" {
		return out
	}
	return "app"
}

// ociCmd implements `unigo oci`.
func ociCmd(args []string) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "unigo oci: "+format+"\n", a...)
		return 1
	}
	o, err := parseOCIArgs(args)
	if errors.Is(err, errHelp) {
		fmt.Print(ociUsage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "unigo oci: %v\n", err)
		return 2
	}
	tmp, err := os.MkdirTemp("", "unigo-oci-")
	if err != nil {
		return fail("%v", err)
	}
	defer os.RemoveAll(tmp)

	appImage := o.target
	if needsBuild(o.target) {
		appImage = filepath.Join(tmp, "app.img")
		b := o.build
		b.out, b.trimpath, b.root = appImage, true, o.root
		if _, err := b.build(o.target); err != nil {
			return fail("build %s: %v", o.target, err)
		}
	}
	launcher := o.launcher
	if launcher == "" {
		launcher = filepath.Join(tmp, "unigo")
		if err := buildLauncher(o.root, launcher); err != nil {
			return fail("build the launcher: %v", err)
		}
	}
	img, err := ociImage(o, appImage, launcher)
	if err != nil {
		return fail("%v", err)
	}
	digest, err := img.Digest()
	if err != nil {
		return fail("%v", err)
	}
	if o.out != "" {
		if err := writeOCI(img, o.out, o.tag); err != nil {
			return fail("%v", err)
		}
	}
	if o.push != "" {
		ref, err := name.ParseReference(o.push)
		if err != nil {
			return fail("-push %s: %v", o.push, err)
		}
		if err := remote.Write(ref, img, remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
			return fail("push %s: %v", o.push, err)
		}
	}
	if o.quiet {
		fmt.Println(digest)
	} else {
		where := o.out
		if o.push != "" {
			where = strings.TrimPrefix(strings.Join([]string{o.out, o.push}, ", "), ", ")
		}
		fmt.Printf("%s@%s -> %s\n", o.tag, digest, where)
	}
	return 0
}

// buildLauncher builds this command, statically linked and reproducibly,
// from the unigo source tree.
func buildLauncher(root, out string) error {
	b := builder{root: root}
	dir, err := b.unigoRoot()
	if err != nil {
		return err
	}
	// unigo-net next to it: the user-mode network's process (netproc).
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-o", filepath.Dir(out)+"/", "./unigo", "./unigo-net")
	cmd.Dir = filepath.Join(dir, "tools")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, firstLineOf(string(msg)))
	}
	return nil
}

// checkStatic refuses a launcher that needs a dynamic loader: the image
// has nothing but the launcher and the guest.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; build it with CGO_ENABLED=0", path)
		}
	}
	return nil
}

// ociEntrypoint is the container's command: unigo run with the image's
// settings, the guest's arguments (the image's Cmd) following the "--".
func ociEntrypoint(o *ociOptions) []string {
	ep := []string{ociLauncherPath, "run", "-hostenv", "-status", "-m", strconv.FormatUint(o.mem>>20, 10) + "M", "-smp", strconv.Itoa(o.smp)}
	for _, p := range o.ports {
		num, proto, _ := strings.Cut(p, "/")
		f := "0.0.0.0:" + num + ":" + num
		if proto == "udp" {
			f += "/udp"
		}
		ep = append(ep, "-p", f)
	}
	for _, v := range o.volumes {
		dir, mode, _ := strings.Cut(v, ":")
		if mode != "" {
			mode = ":" + mode
		}
		ep = append(ep, "-v", dir+":"+dir+mode)
	}
	return append(ep, ociImagePath, "--")
}

// ociImage assembles the image: one layer, a config whose entrypoint boots
// the guest, labels and manifest annotations describing it.
func ociImage(o *ociOptions, appImage, launcher string) (v1.Image, error) {
	if err := checkStatic(launcher); err != nil {
		return nil, err
	}
	app, err := os.ReadFile(appImage)
	if err != nil {
		return nil, err
	}
	if _, err := elf.NewFile(bytes.NewReader(app)); err != nil {
		return nil, fmt.Errorf("%s: not a unigo image: %v", appImage, err)
	}
	lb, err := os.ReadFile(launcher)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{strings.TrimPrefix(ociLauncherPath, "/"): lb}
	// The user-mode network's process, when there is one next to the
	// launcher: the launcher looks for it next to itself.
	if np := filepath.Join(filepath.Dir(launcher), netproc.Binary); fileExists(np) {
		if err := checkStatic(np); err != nil {
			return nil, err
		}
		nb, err := os.ReadFile(np)
		if err != nil {
			return nil, err
		}
		files[netproc.Binary] = nb
	}
	urunc, err := uruncJSON(ociAnnotations(o))
	if err != nil {
		return nil, err
	}
	files[strings.TrimPrefix(ociImagePath, "/")] = app
	files["urunc.json"] = urunc
	layerTar, err := ociLayerTar(files, o.created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: o.created}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: created, CreatedBy: "unigo oci", Comment: "unigo image and launcher"},
	})
	if err != nil {
		return nil, err
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)

	anns := ociAnnotations(o)
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.Created = created
	cfg.Architecture, cfg.OS = "amd64", "linux"
	cfg.Config = v1.Config{
		Entrypoint: ociEntrypoint(o),
		Cmd:        o.guestArgs,
		Env:        o.env,
		WorkingDir: "/",
		Labels:     anns,
		StopSignal: "SIGTERM",
	}
	if len(o.ports) > 0 {
		cfg.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range o.ports {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			cfg.Config.ExposedPorts[p] = struct{}{}
		}
	}
	if len(o.volumes) > 0 {
		cfg.Config.Volumes = map[string]struct{}{}
		for _, v := range o.volumes {
			dir, _, _ := strings.Cut(v, ":")
			cfg.Config.Volumes[dir] = struct{}{}
		}
	}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return nil, err
	}
	return mutate.Annotations(img, anns).(v1.Image), nil
}

// ociAnnotations describes the image, both as config labels (which Docker
// and Podman show and keep) and as manifest annotations (which urunc reads
// through containerd).
func ociAnnotations(o *ociOptions) map[string]string {
	return map[string]string{
		annURuncType:       "unigo",
		annURuncHypervisor: "qemu",
		annURuncBinary:     ociImagePath,
		annURuncCmdline:    strings.Join(o.guestArgs, " "),
		annURuncMountRoot:  "false",
		annUnigoABI:        strconv.Itoa(abi.Version),
		annUnigoMem:        strconv.FormatUint(o.mem>>20, 10) + "M",
		annUnigoSMP:        strconv.Itoa(o.smp),
		annUnigoKVM:        "/dev/kvm",
		annOCICreated:      o.created.UTC().Format(time.RFC3339),
		annOCITitle:        ociName(o.target),
	}
}

// uruncJSON is /urunc.json, where urunc looks for its annotations when the
// runtime above it (Docker) dropped the manifest's: the com.urunc.unikernel.*
// keys, each value base64-encoded.
func uruncJSON(anns map[string]string) ([]byte, error) {
	m := map[string]string{}
	for k, v := range anns {
		if strings.HasPrefix(k, uruncAnnotationPrefix) {
			m[k] = base64.StdEncoding.EncodeToString([]byte(v))
		}
	}
	return json.Marshal(m) // map keys sorted: reproducible
}

// ociLayerTar writes files (path -> contents, root-owned; mode 0755 but
// for .json files, 0644) as a tar with sorted names and fixed times, so
// that the same files give the same bytes.
func ociLayerTar(files map[string][]byte, mtime time.Time) ([]byte, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		mode := int64(0o755)
		if strings.HasSuffix(n, ".json") {
			mode = 0o644
		}
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     n,
			Mode:     mode,
			Size:     int64(len(files[n])),
			ModTime:  mtime,
			Format:   tar.FormatPAX,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(files[n]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeOCI writes img as an OCI layout directory at out, or for a .tar
// path as a docker-load tarball tagged tag.
func writeOCI(img v1.Image, out, tag string) error {
	if strings.HasSuffix(out, ".tar") {
		ref, err := name.ParseReference(tag)
		if err != nil {
			return err
		}
		return tarball.WriteToFile(out, ref, img)
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	p, err := layout.Write(out, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendImage(img, layout.WithAnnotations(map[string]string{annOCIRefName: tag}))
}

// fileExists reports whether path is a regular file.
func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}
