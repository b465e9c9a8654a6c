// Package storage attaches the VM's storage devices to the file system
// when a program starts: each virtio-blk disk becomes a block device file,
// /dev/vda, /dev/vdb, ... in the order the devices are listed. unigo build
// links it into every program that uses package os. As a Linux process
// (no unigo kernel) it does nothing. Errors are reported on stderr, one
// line each; the program starts regardless.
package storage

import (
	"fmt"
	"os"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/drivers/fsserve"
	"github.com/unigo-os/unigo/drivers/virtio"
	"github.com/unigo-os/unigo/drivers/virtio/virtioblk"
)

func init() {
	attachBlockDevices()
}

// attachBlockDevices serves each virtio-blk device at /dev/vdX.
func attachBlockDevices() {
	infos, err := virtio.Devices(abi.VirtioDeviceBlock)
	if err != nil {
		// Not on unigo (ENOSYS, or EPERM under a seccomp filter that
		// refuses unknown calls): a Linux process has no such devices.
		// The unigo kernel always answers the list.
		return
	}
	for i, info := range infos {
		if i >= 26 {
			report("virtio-blk", fmt.Errorf("%d disks: only /dev/vda to /dev/vdz are served", len(infos)))
			return
		}
		name := fmt.Sprintf("/dev/vd%c", 'a'+i)
		d, err := virtioblk.Open(info, false) // edge: see virtio.Open
		if err != nil {
			report(name, err)
			continue
		}
		if err := fsserve.ServeDevice(name, d, d.ReadOnly()); err != nil {
			report(name, err)
			d.Close()
		}
	}
}

func report(what string, err error) {
	fmt.Fprintf(os.Stderr, "unigo storage: %s: %v\n", what, err)
}
