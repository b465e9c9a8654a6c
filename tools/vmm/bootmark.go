package vmm

import (
	"fmt"

	"github.com/unigo-os/unigo/abi"
)

// bootMark handles a guest boot mark (a write to abi.PortBootMark): the
// kernel's ABI version, checked against the launcher's, and the points of
// the boot that become Trace phases, so `unigo run -v` and `unigo bench`
// can split the guest's boot into phases.
func (v *VM) bootMark(mark uint8) {
	if err := checkABIMark(mark, &v.guestABI); err != nil {
		v.Stop(Result{Reason: Failed, Err: err})
		return
	}
	if v.cfg.Trace == nil {
		return
	}
	switch mark {
	case abi.BootMarkEntry:
		v.cfg.Trace("guest entry")
	case abi.BootMarkRuntime:
		v.cfg.Trace("runtime start")
	case abi.BootMarkABI | abi.Version:
		v.cfg.Trace("kernel entered") // kernelMain's first statement, at CPL 3
	}
}

// checkABIMark records the ABI version announced by mark in *seen (0: none
// yet) and returns an error when the guest's kernel speaks another version
// than this launcher, or enters the runtime without having said which.
// Raw guests without a kernel never write BootMarkRuntime and are not
// checked.
func checkABIMark(mark uint8, seen *uint8) error {
	switch {
	case mark&abi.BootMarkABI != 0:
		*seen = mark &^ abi.BootMarkABI
		if *seen != abi.Version {
			return fmt.Errorf("the image's kernel speaks unigo ABI version %d, this launcher version %d: rebuild the image with this unigo, or run it with the unigo that built it", *seen, abi.Version)
		}
	case mark == abi.BootMarkRuntime && *seen == 0:
		return fmt.Errorf("the image's kernel announced no unigo ABI version (built by an older unigo): rebuild the image with this unigo")
	}
	return nil
}
