package vmm

import "github.com/unigo-os/unigo/abi"

// bootMark turns a guest boot mark (a write to abi.PortBootMark) into a
// Trace phase, so `unigo run -v` and `unigo bench` can split the guest's
// boot into phases.
func (v *VM) bootMark(mark uint8) {
	if v.cfg.Trace == nil {
		return
	}
	switch mark {
	case abi.BootMarkEntry:
		v.cfg.Trace("guest entry")
	case abi.BootMarkRuntime:
		v.cfg.Trace("runtime start")
	}
}
