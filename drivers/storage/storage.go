package storage

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/drivers/fsserve"
	"github.com/unigo-os/unigo/drivers/virtio"
	"github.com/unigo-os/unigo/drivers/virtio/virtioblk"
)

// offParam on the kernel command line leaves the storage devices alone,
// for a program that drives them itself (unigo run -cmdline unigo.storage=0).
const offParam = "unigo.storage=0"

func init() {
	if off() {
		return
	}
	attachBlockDevices()
	attachVolumes()
}

// off reports whether the kernel command line has offParam.
func off() bool {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return false
	}
	_, kparams, _, err := abi.Parse(strings.TrimSpace(string(b)))
	return err == nil && slices.Contains(kparams, offParam)
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
