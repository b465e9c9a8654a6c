package kvm

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DevicePath is where the KVM device node lives.
const DevicePath = "/dev/kvm"

// ErrNoKVM wraps failures to open /dev/kvm; the message says how to fix it.
var ErrNoKVM = errors.New("cannot use KVM")

// System is an open /dev/kvm.
type System struct {
	fd       int
	mmapSize int
}

// Open opens /dev/kvm and checks the API version. Errors carry a hint a user
// can act on (missing module, missing permission).
func Open() (*System, error) {
	fd, err := unix.Open(DevicePath, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		switch {
		case errors.Is(err, unix.ENOENT):
			return nil, fmt.Errorf("%w: %s does not exist (load the kvm_intel or kvm_amd module, or enable nested virtualization)", ErrNoKVM, DevicePath)
		case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
			return nil, fmt.Errorf("%w: permission denied opening %s (add yourself to the kvm group: sudo usermod -aG kvm $USER, then log in again)", ErrNoKVM, DevicePath)
		}
		return nil, fmt.Errorf("%w: open %s: %v", ErrNoKVM, DevicePath, err)
	}
	return check(fd)
}

// FromFile is Open for a /dev/kvm another process opened and passed down
// (the jailer); f is closed, its descriptor duplicated.
func FromFile(f *os.File) (*System, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%w: %s passed down: %v", ErrNoKVM, DevicePath, err)
	}
	return check(fd)
}

// check checks the API version of the open /dev/kvm fd, which the
// returned System owns (closed on error).
func check(fd int) (*System, error) {
	s := &System{fd: fd}
	v, err := ioctl(fd, kvmGetAPIVersion, 0)
	if err != nil {
		s.Close()
		return nil, wrap("KVM_GET_API_VERSION", err)
	}
	if v != 12 {
		s.Close()
		return nil, fmt.Errorf("%w: unsupported KVM API version %d (want 12)", ErrNoKVM, v)
	}
	sz, err := ioctl(fd, kvmGetVCPUMmapSize, 0)
	if err != nil {
		s.Close()
		return nil, wrap("KVM_GET_VCPU_MMAP_SIZE", err)
	}
	s.mmapSize = int(sz)
	return s, nil
}

// Close closes /dev/kvm. VMs created from it stay valid.
func (s *System) Close() error { return unix.Close(s.fd) }

// CheckExtension returns the KVM_CHECK_EXTENSION value for cap (0 = absent).
func (s *System) CheckExtension(cap uintptr) int {
	r, err := ioctl(s.fd, kvmCheckExtension, cap)
	if err != nil {
		return 0
	}
	return int(r)
}

// SupportedCPUID returns KVM_GET_SUPPORTED_CPUID: every leaf KVM can expose.
func (s *System) SupportedCPUID() ([]CPUIDEntry, error) {
	// 256 is Linux's KVM_MAX_CPUID_ENTRIES: one call. A smaller first
	// try costs a whole enumeration for its E2BIG (~0.7 ms on PVM hosts).
	for n := 256; n <= 4096; n *= 2 {
		buf := newCPUID2(n)
		_, err := ioctl(s.fd, kvmGetSupportedCPUID, uintptr(unsafe.Pointer(&buf[0])))
		if errors.Is(err, unix.E2BIG) {
			continue
		}
		if err != nil {
			return nil, wrap("KVM_GET_SUPPORTED_CPUID", err)
		}
		return cpuid2Entries(buf), nil
	}
	return nil, errors.New("KVM_GET_SUPPORTED_CPUID: too many entries")
}

// cpuid2 buffers are struct kvm_cpuid2 { u32 nent; u32 pad; entries[] },
// kept in a []uint64 so the entries are 8-byte aligned.
func newCPUID2(n int) []uint64 {
	words := 1 + n*int(unsafe.Sizeof(CPUIDEntry{}))/8
	buf := make([]uint64, words)
	*(*uint32)(unsafe.Pointer(&buf[0])) = uint32(n)
	return buf
}

func cpuid2Entries(buf []uint64) []CPUIDEntry {
	n := *(*uint32)(unsafe.Pointer(&buf[0]))
	ents := unsafe.Slice((*CPUIDEntry)(unsafe.Pointer(&buf[1])), n)
	return append([]CPUIDEntry(nil), ents...)
}

// CreateVM creates a VM.
func (s *System) CreateVM() (*VM, error) {
	fd, err := ioctl(s.fd, kvmCreateVM, 0)
	if err != nil {
		return nil, wrap("KVM_CREATE_VM", err)
	}
	return &VM{fd: int(fd), mmapSize: s.mmapSize}, nil
}

// VM is a KVM virtual machine.
type VM struct {
	fd       int
	mmapSize int
}

// Close closes the VM fd. The kernel frees the VM once every vCPU fd and
// mapping is gone too.
func (vm *VM) Close() error { return unix.Close(vm.fd) }

// SetUserMemoryRegion maps host memory mem at guest-physical gpa in slot.
func (vm *VM) SetUserMemoryRegion(slot uint32, gpa uint64, mem []byte) error {
	r := UserspaceMemoryRegion{
		Slot:          slot,
		GuestPhysAddr: gpa,
		MemorySize:    uint64(len(mem)),
		UserspaceAddr: uint64(uintptr(unsafe.Pointer(&mem[0]))),
	}
	_, err := ioctl(vm.fd, kvmSetUserMemoryRegion, uintptr(unsafe.Pointer(&r)))
	return wrap("KVM_SET_USER_MEMORY_REGION", err)
}

// SetTSSAddr places the three pages Intel VMX needs for real-mode emulation.
func (vm *VM) SetTSSAddr(addr uint64) error {
	_, err := ioctl(vm.fd, kvmSetTSSAddr, uintptr(addr))
	return wrap("KVM_SET_TSS_ADDR", err)
}

// SetIdentityMapAddr places the one-page identity map Intel VMX uses for
// unpaged protected mode.
func (vm *VM) SetIdentityMapAddr(addr uint64) error {
	_, err := ioctl(vm.fd, kvmSetIdentityMapAddr, uintptr(unsafe.Pointer(&addr)))
	return wrap("KVM_SET_IDENTITY_MAP_ADDR", err)
}

// CreateIRQChip creates the in-kernel PIC, IOAPIC and per-vCPU LAPICs.
func (vm *VM) CreateIRQChip() error {
	_, err := ioctl(vm.fd, kvmCreateIRQChip, 0)
	return wrap("KVM_CREATE_IRQCHIP", err)
}

// IRQLine sets the level of an interrupt line (GSI) of the in-kernel irqchip.
func (vm *VM) IRQLine(irq uint32, level bool) error {
	l := irqLevel{IRQ: irq}
	if level {
		l.Level = 1
	}
	_, err := ioctl(vm.fd, kvmIRQLine, uintptr(unsafe.Pointer(&l)))
	return wrap("KVM_IRQ_LINE", err)
}

// IRQFD makes every write to eventfd efd inject an edge on gsi.
func (vm *VM) IRQFD(efd int, gsi uint32) error {
	r := irqfd{FD: uint32(efd), GSI: gsi}
	_, err := ioctl(vm.fd, kvmIRQFD, uintptr(unsafe.Pointer(&r)))
	return wrap("KVM_IRQFD", err)
}

// IOEventFDMMIO makes a guest write of length size and value datamatch to
// guest-physical addr signal eventfd efd instead of exiting to userspace.
func (vm *VM) IOEventFDMMIO(efd int, addr uint64, size uint32, datamatch uint64) error {
	return vm.ioEventFD(efd, addr, size, datamatch, 0)
}

// IOEventFDPIO makes a guest OUT of length size and value datamatch to
// port signal eventfd efd instead of exiting to userspace.
func (vm *VM) IOEventFDPIO(efd int, port uint16, size uint32, datamatch uint64) error {
	return vm.ioEventFD(efd, uint64(port), size, datamatch, ioeventfdFlagPIO)
}

// ioEventFD registers a datamatch ioeventfd at addr (a port with
// ioeventfdFlagPIO in flags, else guest-physical memory).
func (vm *VM) ioEventFD(efd int, addr uint64, size uint32, datamatch uint64, flags uint32) error {
	r := ioeventfd{
		Datamatch: datamatch,
		Addr:      addr,
		Len:       size,
		FD:        int32(efd),
		Flags:     ioeventfdFlagDatamatch | flags,
	}
	_, err := ioctl(vm.fd, kvmIOEventFD, uintptr(unsafe.Pointer(&r)))
	return wrap("KVM_IOEVENTFD", err)
}

// CreateVCPU creates vCPU id and maps its kvm_run page.
func (vm *VM) CreateVCPU(id int) (*VCPU, error) {
	fd, err := ioctl(vm.fd, kvmCreateVCPU, uintptr(id))
	if err != nil {
		return nil, wrap("KVM_CREATE_VCPU", err)
	}
	run, err := unix.Mmap(int(fd), 0, vm.mmapSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(int(fd))
		return nil, fmt.Errorf("mmap kvm_run: %w", err)
	}
	return &VCPU{ID: id, fd: int(fd), run: run}, nil
}

// VCPU is one virtual CPU. Run must be called from a single, locked OS
// thread; the other methods are safe from any thread while it is not running.
type VCPU struct {
	ID  int
	fd  int
	run []byte
}

// Close unmaps the run page and closes the vCPU fd.
func (c *VCPU) Close() error {
	unix.Munmap(c.run)
	return unix.Close(c.fd)
}

// Run enters the guest until the next exit. An EINTR (signal, immediate
// exit) is returned as the error unix.EINTR.
func (c *VCPU) Run() error {
	_, err := ioctl(c.fd, kvmRun, 0)
	if err != nil {
		if errors.Is(err, unix.EINTR) {
			return unix.EINTR
		}
		return wrap("KVM_RUN", err)
	}
	return nil
}

func (c *VCPU) header() *runHeader { return (*runHeader)(unsafe.Pointer(&c.run[0])) }

// ExitReason is the reason of the last exit.
func (c *VCPU) ExitReason() uint32 { return c.header().ExitReason }

// SetImmediateExit makes the next (or the current, once kicked) KVM_RUN
// return EINTR at once. It is a plain byte store the kernel reads at entry.
func (c *VCPU) SetImmediateExit(on bool) {
	var v uint8
	if on {
		v = 1
	}
	c.header().ImmediateExit = v
}

// IO returns the io exit description and the data bytes (Size*Count bytes
// inside the run page; the caller fills them for IN).
func (c *VCPU) IO() (*IOExit, []byte, error) {
	io := (*IOExit)(unsafe.Pointer(&c.run[runUnionOffset]))
	n := uint64(io.Size) * uint64(io.Count)
	if io.DataOffset > uint64(len(c.run)) || n > uint64(len(c.run))-io.DataOffset {
		return nil, nil, fmt.Errorf("KVM_EXIT_IO data outside run page (offset %#x, %d bytes)", io.DataOffset, n)
	}
	return io, c.run[io.DataOffset : io.DataOffset+n], nil
}

// MMIO returns the mmio exit description.
func (c *VCPU) MMIO() *MMIOExit { return (*MMIOExit)(unsafe.Pointer(&c.run[runUnionOffset])) }

// FailEntry returns the fail_entry exit description.
func (c *VCPU) FailEntry() *FailEntryExit {
	return (*FailEntryExit)(unsafe.Pointer(&c.run[runUnionOffset]))
}

// Internal returns the internal-error exit description.
func (c *VCPU) Internal() *InternalExit {
	return (*InternalExit)(unsafe.Pointer(&c.run[runUnionOffset]))
}

// Regs reads the general registers.
func (c *VCPU) Regs() (Regs, error) {
	var r Regs
	_, err := ioctl(c.fd, kvmGetRegs, uintptr(unsafe.Pointer(&r)))
	return r, wrap("KVM_GET_REGS", err)
}

// SetRegs writes the general registers.
func (c *VCPU) SetRegs(r Regs) error {
	_, err := ioctl(c.fd, kvmSetRegs, uintptr(unsafe.Pointer(&r)))
	return wrap("KVM_SET_REGS", err)
}

// Sregs reads the special registers.
func (c *VCPU) Sregs() (Sregs, error) {
	var r Sregs
	_, err := ioctl(c.fd, kvmGetSregs, uintptr(unsafe.Pointer(&r)))
	return r, wrap("KVM_GET_SREGS", err)
}

// SetSregs writes the special registers.
func (c *VCPU) SetSregs(r Sregs) error {
	_, err := ioctl(c.fd, kvmSetSregs, uintptr(unsafe.Pointer(&r)))
	return wrap("KVM_SET_SREGS", err)
}

// SetCPUID sets what CPUID returns on this vCPU.
func (c *VCPU) SetCPUID(ents []CPUIDEntry) error {
	buf := newCPUID2(len(ents))
	if len(ents) > 0 {
		copy(unsafe.Slice((*CPUIDEntry)(unsafe.Pointer(&buf[1])), len(ents)), ents)
	}
	_, err := ioctl(c.fd, kvmSetCPUID2, uintptr(unsafe.Pointer(&buf[0])))
	return wrap("KVM_SET_CPUID2", err)
}

// MSR reads one of the vCPU's MSRs (KVM_GET_MSRS); ok is false when KVM
// does not implement that MSR.
func (c *VCPU) MSR(index uint32) (v uint64, ok bool, err error) {
	// struct kvm_msrs with one struct kvm_msr_entry: nmsrs, pad; index,
	// reserved, data.
	var buf [3]uint64
	buf[0] = 1
	buf[1] = uint64(index)
	n, err := ioctl(c.fd, kvmGetMSRs, uintptr(unsafe.Pointer(&buf[0])))
	if err != nil {
		return 0, false, wrap("KVM_GET_MSRS", err)
	}
	return buf[2], n == 1, nil
}

// TSCKHz returns the guest TSC frequency in kHz.
func (c *VCPU) TSCKHz() (uint32, error) {
	r, err := ioctl(c.fd, kvmGetTSCKHz, 0)
	return uint32(r), wrap("KVM_GET_TSC_KHZ", err)
}

// MPState returns the multiprocessing state (MPState* constants).
func (c *VCPU) MPState() (uint32, error) {
	var st uint32
	_, err := ioctl(c.fd, kvmGetMPState, uintptr(unsafe.Pointer(&st)))
	return st, wrap("KVM_GET_MP_STATE", err)
}

// Eventfd creates a non-blocking, close-on-exec eventfd wrapped in an
// *os.File so reads park in the Go poller and Close wakes them.
func Eventfd(name string) (*os.File, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	return os.NewFile(uintptr(fd), name), nil
}
