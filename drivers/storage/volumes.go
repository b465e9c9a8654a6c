package storage

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/hugelgupf/p9/p9"
	"github.com/unigo-os/unigo/drivers/fsserve"
	"github.com/unigo-os/unigo/drivers/virtio/virtio9p"
	"github.com/unigo-os/unigo/drivers/volume"
)

// MountFunc mounts a file system at a guest path: fsserve.Mount.
type MountFunc func(guestPath string, fs fsserve.FS, readOnly bool) error

// volumePath is where a volume with mount tag tag is mounted: the tag
// itself when it is an absolute path (unigo run -v HOSTDIR:GUESTDIR
// tags the device GUESTDIR; so does -runner qemu), else /mnt/TAG (a
// QEMU share with a plain tag, mount_tag=share0).
func volumePath(tag string) (string, error) {
	switch {
	case tag == "":
		return "", errors.New("no mount tag")
	case strings.HasPrefix(tag, "/"):
		if path.Clean(tag) != tag || tag == "/" {
			return "", fmt.Errorf("mount tag %q is not a clean directory path", tag)
		}
		return tag, nil
	case strings.ContainsRune(tag, '/') || tag == "." || tag == "..":
		return "", fmt.Errorf("mount tag %q is neither an absolute path nor a name", tag)
	}
	return "/mnt/" + tag, nil
}

// mountVolumes finds the virtio-9p devices and mounts each at its tag's
// path with mount; the package's init calls it with fsserve.Mount. Read-only volumes are mounted writable: the host
// refuses their changes with EROFS, which reaches the program as is. A
// device that fails is reported in the error and skipped.
func mountVolumes(mount MountFunc) error {
	infos, err := virtio9p.Probe()
	if err != nil {
		return fmt.Errorf("virtio-9p: %w", err)
	}
	var errs []error
	for _, info := range infos {
		if err := mountVolume(info.String(), func() (*virtio9p.Device, error) { return virtio9p.Open(info, false) }, mount); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// mountVolume opens one device, attaches to its tree and mounts it.
func mountVolume(name string, open func() (*virtio9p.Device, error), mount MountFunc) error {
	d, err := open()
	if err != nil {
		return fmt.Errorf("virtio-9p %s: %w", name, err)
	}
	where, err := volumePath(d.Tag)
	if err != nil {
		d.Close()
		return fmt.Errorf("virtio-9p %s: %w", name, err)
	}
	c, err := p9.NewClient(d, p9.WithMessageSize(virtio9p.MessageSize))
	if err != nil {
		d.Close()
		return fmt.Errorf("virtio-9p %s (%s): %w", name, where, err)
	}
	fs, err := volume.New(c)
	if err != nil {
		c.Close()
		return fmt.Errorf("virtio-9p %s (%s): attach: %w", name, where, err)
	}
	if err := mount(where, fs, false); err != nil {
		fs.Close()
		c.Close()
		return fmt.Errorf("virtio-9p %s: mount at %s: %w", name, where, err)
	}
	return nil
}
