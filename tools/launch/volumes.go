package launch

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/tools/vmm/hostfs"
	"github.com/unigo-os/unigo/tools/vmm/virtio"
	"golang.org/x/sys/unix"
)

// volume is one -v HOSTDIR:GUESTDIR[:ro]: a host directory shared with the
// guest over virtio-9p. The device's mount tag is GUESTDIR, which is how
// the guest learns where to mount it.
type volume struct {
	host, guest string
	readOnly    bool
}

// qemuMaxTag is the longest mount tag QEMU 7.2 accepts.
const qemuMaxTag = 31

// parseVolume parses the value of -v.
func parseVolume(s string) (volume, error) {
	var v volume
	rest := s
	if r, ok := strings.CutSuffix(rest, ":ro"); ok {
		rest, v.readOnly = r, true
	} else if r, ok := strings.CutSuffix(rest, ":rw"); ok {
		rest = r
	}
	// GUESTDIR is absolute, so it starts at the last ":/".
	i := strings.LastIndex(rest, ":/")
	if i < 0 {
		if j := strings.LastIndexByte(rest, ':'); j >= 0 {
			return v, fmt.Errorf("-v %s: GUESTDIR %q is not absolute", s, rest[j+1:])
		}
		return v, fmt.Errorf("-v %s: want HOSTDIR:GUESTDIR[:ro]", s)
	}
	v.host, v.guest = rest[:i], rest[i+1:]
	switch {
	case v.host == "":
		return v, fmt.Errorf("-v %s: empty HOSTDIR", s)
	case path.Clean(v.guest) != v.guest:
		return v, fmt.Errorf("-v %s: GUESTDIR %q is not a clean path (want %s)", s, v.guest, path.Clean(v.guest))
	case v.guest == "/":
		return v, fmt.Errorf("-v %s: GUESTDIR / would hide the whole image; pick a directory", s)
	case len(v.guest) > abi.Virtio9PMaxTagLen:
		return v, fmt.Errorf("-v %s: GUESTDIR longer than %d bytes", s, abi.Virtio9PMaxTagLen)
	case strings.ContainsAny(v.guest, "\x00\n"):
		return v, fmt.Errorf("-v %q: GUESTDIR holds a NUL or newline", s)
	}
	return v, nil
}

// volumeFlagArgs rewrites "-v HOSTDIR:GUESTDIR" into -volume: -v alone
// stays the verbose flag, -v followed by a value with a ":" (not a flag)
// is a volume.
func volumeFlagArgs(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case (a == "-v" || a == "--v") && i+1 < len(args) && strings.Contains(args[i+1], ":") && !strings.HasPrefix(args[i+1], "-"):
			out = append(out, "-volume", args[i+1])
			i++
		case strings.HasPrefix(a, "-v=") && strings.Contains(a, ":"):
			out = append(out, "-volume="+a[len("-v="):])
		case strings.HasPrefix(a, "--v=") && strings.Contains(a, ":"):
			out = append(out, "-volume="+a[len("--v="):])
		default:
			out = append(out, a)
		}
	}
	return out
}

// checkVolumes refuses two volumes at one GUESTDIR.
func checkVolumes(vols []volume) error {
	seen := map[string]bool{}
	for _, v := range vols {
		if seen[v.guest] {
			return fmt.Errorf("-v: two volumes at %s", v.guest)
		}
		seen[v.guest] = true
	}
	return nil
}

// checkHostDir checks a volume's host side before the guest boots: the
// directory exists, is one, and is writable unless :ro.
func checkHostDir(v volume) error {
	spec, host := show(v.host+":"+v.guest), show(v.host)
	st, err := os.Stat(v.host)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("-v %s: HOSTDIR %s does not exist", spec, host)
	case err != nil:
		return fmt.Errorf("-v %s: %s", spec, show(unwrapPathError(err).Error()))
	case !st.IsDir():
		return fmt.Errorf("-v %s: HOSTDIR %s is not a directory", spec, host)
	}
	if !v.readOnly {
		if err := writable(v.host); err != nil {
			return fmt.Errorf("-v %s: HOSTDIR %s is read-only (%v); add :ro to share it read-only", spec, host, err)
		}
	}
	return nil
}

// show quotes s if it holds line breaks, to keep an error on one line.
func show(s string) string {
	if strings.ContainsAny(s, "\n\r") {
		return strconv.Quote(s)
	}
	return s
}

// writable reports why dir cannot be written to (EROFS, EACCES), if so.
var writable = func(dir string) error { return unix.Access(dir, unix.W_OK) }

// volumeDevices makes the launcher's virtio-9p devices; close releases
// their directories once the VM is gone.
func volumeDevices(vols []volume, opened func(i int) *os.File) (devs []virtio.Device, close func(), err error) {
	var trees []*hostfs.Tree
	close = func() {
		for _, t := range trees {
			t.Close()
		}
	}
	for i, v := range vols {
		if err := checkHostDir(v); err != nil {
			close()
			return nil, nil, err
		}
		var t *hostfs.Tree
		if f := opened(i); f != nil {
			t, err = hostfs.FromFile(f, v.readOnly)
		} else {
			t, err = hostfs.New(v.host, v.readOnly)
		}
		if err != nil {
			close()
			return nil, nil, fmt.Errorf("-v %s: %s", show(v.host+":"+v.guest), show(err.Error()))
		}
		trees = append(trees, t)
		d, err := virtio.NewP9(v.guest, t)
		if err != nil {
			close()
			return nil, nil, err
		}
		devs = append(devs, d)
	}
	return devs, close, nil
}

// qemuVolumeArgs maps volumes onto QEMU's -fsdev and virtio-9p-device.
func qemuVolumeArgs(vols []volume) ([]string, error) {
	var args []string
	for i, v := range vols {
		if err := checkHostDir(v); err != nil {
			return nil, err
		}
		if len(v.guest) > qemuMaxTag {
			return nil, fmt.Errorf("-v %s: -runner qemu takes a GUESTDIR of at most %d bytes (QEMU's mount tag limit)", show(v.host+":"+v.guest), qemuMaxTag)
		}
		if strings.Contains(v.guest, ",") {
			return nil, fmt.Errorf("-v %s: -runner qemu takes no ',' in GUESTDIR", show(v.host+":"+v.guest))
		}
		fsdev := fmt.Sprintf("local,id=vol%d,path=%s,security_model=none", i, strings.ReplaceAll(v.host, ",", ",,"))
		if v.readOnly {
			fsdev += ",readonly=on"
		}
		args = append(args, "-fsdev", fsdev, "-device", fmt.Sprintf("virtio-9p-device,fsdev=vol%d,mount_tag=%s", i, v.guest))
	}
	return args, nil
}
