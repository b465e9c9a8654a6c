package storage

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/hugelgupf/p9/p9"
	"github.com/unigo-os/unigo/drivers/fsserve"
	"github.com/unigo-os/unigo/drivers/hw"
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

// attachVolumes mounts the VM's virtio-9p volumes through the file
// channel; as a Linux process, where the device list fails, it does
// nothing.
func attachVolumes() {
	infos, err := virtio9p.Probe()
	if err != nil {
		return // not on unigo: see attachBlockDevices
	}
	if err := mountDevices(infos, fsserve.Mount); err != nil {
		report("virtio-9p", err)
	}
}

// mountDevices mounts each device in infos at its tag's path with mount.
// Read-only volumes are mounted writable: the host refuses their changes
// with EROFS, which reaches the program as is. A device that fails is
// reported in the error and skipped.
func mountDevices(infos []hw.VirtioMMIO, mount MountFunc) error {
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
