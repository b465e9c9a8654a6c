package kvm

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Ioctl numbers from linux/kvm.h. The encoding is the generic Linux one:
// dir<<30 | size<<16 | type<<8 | nr, with type KVMIO = 0xAE.
const (
	kvmio = 0xAE

	iocNone  = 0
	iocWrite = 1
	iocRead  = 2
)

func ioc(dir, nr, size uintptr) uintptr { return dir<<30 | size<<16 | kvmio<<8 | nr }

var (
	kvmGetAPIVersion       = ioc(iocNone, 0x00, 0)
	kvmCreateVM            = ioc(iocNone, 0x01, 0)
	kvmCheckExtension      = ioc(iocNone, 0x03, 0)
	kvmGetVCPUMmapSize     = ioc(iocNone, 0x04, 0)
	kvmGetSupportedCPUID   = ioc(iocRead|iocWrite, 0x05, 8)
	kvmCreateVCPU          = ioc(iocNone, 0x41, 0)
	kvmSetUserMemoryRegion = ioc(iocWrite, 0x46, unsafe.Sizeof(UserspaceMemoryRegion{}))
	kvmSetTSSAddr          = ioc(iocNone, 0x47, 0)
	kvmSetIdentityMapAddr  = ioc(iocWrite, 0x48, 8)
	kvmCreateIRQChip       = ioc(iocNone, 0x60, 0)
	kvmIRQLine             = ioc(iocWrite, 0x61, 8)
	kvmIRQFD               = ioc(iocWrite, 0x76, unsafe.Sizeof(irqfd{}))
	kvmIOEventFD           = ioc(iocWrite, 0x79, unsafe.Sizeof(ioeventfd{}))
	kvmRun                 = ioc(iocNone, 0x80, 0)
	kvmGetRegs             = ioc(iocRead, 0x81, unsafe.Sizeof(Regs{}))
	kvmSetRegs             = ioc(iocWrite, 0x82, unsafe.Sizeof(Regs{}))
	kvmGetSregs            = ioc(iocRead, 0x83, unsafe.Sizeof(Sregs{}))
	kvmSetSregs            = ioc(iocWrite, 0x84, unsafe.Sizeof(Sregs{}))
	kvmGetMSRs             = ioc(iocRead|iocWrite, 0x88, 8)
	kvmSetCPUID2           = ioc(iocWrite, 0x90, 8)
	kvmGetMPState          = ioc(iocRead, 0x98, 4)
	kvmGetTSCKHz           = ioc(iocNone, 0xa3, 0)
)

// Extensions queried with CheckExtension.
const (
	CapIRQChip     = 0
	CapNRVCPUs     = 9
	CapMaxVCPUs    = 66
	CapIOEventFD   = 36
	CapIRQFD       = 32
	CapImmediateEx = 136
)

// ioctl issues one ioctl. It goes through the scheduler-aware Syscall (not
// RawSyscall) because KVM_RUN and friends can block for a long time.
func ioctl(fd int, req, arg uintptr) (uintptr, error) {
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, arg)
	if errno != 0 {
		return r, errno
	}
	return r, nil
}

// ioctlName gives the error prefix for a failed ioctl.
func wrap(name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", name, err)
}
