package vmm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/u-root/u-root/pkg/boot/kexec"
	"golang.org/x/sys/unix"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/tools/vmm/arch"
	"github.com/unigo-os/unigo/tools/vmm/crash"
	"github.com/unigo-os/unigo/tools/vmm/devices"
	"github.com/unigo-os/unigo/tools/vmm/kvm"
	"github.com/unigo-os/unigo/tools/vmm/virtio"
)

// Config describes one VM.
type Config struct {
	// Image is the PVH ELF image (e.g. the output of `unigo build`). The VM
	// only reads it, until Close (crash reports parse its symbols), so it
	// may be a read-only mapping of the file (unigo run maps it).
	Image []byte
	// ImageFile, if set, is the file Image was read from: whole pages of
	// the image are then mapped from it into guest RAM, copy-on-write,
	// rather than copied (arch.Layout.LoadMapped), unless HugePages. It must stay open and
	// unmodified while the VM runs.
	ImageFile *os.File
	// KVMFile, if set, is /dev/kvm opened by another process (the
	// jailer); New takes it over. Nil: New opens /dev/kvm.
	KVMFile *os.File
	// MemSize is the guest RAM in bytes (a multiple of 4K, >= 2M).
	MemSize uint64
	// VCPUs is the number of vCPUs (default 1). vCPU 0 starts at the PVH
	// entry; the others wait for INIT-SIPI.
	VCPUs int
	// Env (KEY=VAL, no dots in KEY), Params (kernel parameters, KEY=VAL
	// with a dotted KEY) and Args (the program's arguments) make up the
	// guest command line (abi.Compose). New adds one virtio_mmio.device=
	// parameter per virtio device.
	Env, Params, Args []string
	// Virtio devices, placed at arch.MMIOBase + i*arch.MMIOSize, IRQ 5+i.
	Virtio []virtio.Device
	// NoBalloon leaves out the free-page-reporting virtio-balloon that New
	// otherwise places after the Virtio devices, through which the guest
	// hands the memory it frees back to the host.
	NoBalloon bool
	// PIODoorbell also takes each virtio queue's notification as a 16-bit
	// OUT of abi.VirtioDoorbellValue to abi.PortVirtioDoorbell, through a
	// KVM ioeventfd like QueueNotify's. It is a measurement aid: no driver
	// uses the port (on the PVM host it cost what the MMIO write costs;
	// docs/BENCHMARKS.md), tests/guests/trapcost times both. unigo run
	// sets it from UNIGO_VMM_PIO_DOORBELL.
	PIODoorbell bool
	// HugePages backs guest RAM with host transparent huge pages and
	// copies the image into it instead of mapping it from ImageFile: fewer
	// first-touch faults in the hypervisor (one per 2 MiB where the guest
	// maps 2 MiB pages; most on a shadow-paging host such as PVM), for
	// more host memory per guest and no sharing of the image's pages
	// between guests (mapGuestRAM; docs/BENCHMARKS.md, "Host huge pages
	// behind guest RAM").
	HugePages bool
	// Stdout receives the guest console (COM1); nil discards it.
	Stdout io.Writer
	// Stdin feeds COM1 input; nil means none.
	Stdin io.Reader
	// Trace, if set, is called once at the end of each boot phase: "open
	// kvm", "create vm", "load image", "first vCPU run", "guest entry",
	// "kernel entered" and "runtime start" (the guest's boot marks,
	// abi.BootMark*), "guest exit".
	Trace func(phase string)
	// VCPUThread, if set, runs first on each vCPU's thread, to which its
	// goroutine stays locked (e.g. jail.EnterVCPU); an error stops the VM.
	VCPUThread func() error
}

// Reason says why a VM stopped.
type Reason int

const (
	// GuestExit: the guest wrote its exit code to the exit port.
	GuestExit Reason = iota
	// Crash: the guest reported a crash, triple-faulted, or KVM could not
	// run it. Result.Report describes it.
	Crash
	// Stopped: Stop was called (timeout, signal).
	Stopped
	// Failed: the launcher itself failed while running.
	Failed
)

// Result is the outcome of Run.
type Result struct {
	Reason Reason
	// Code is the guest's exit code (GuestExit) or the value given to Stop.
	Code uint32
	// Report is the multi-line crash report (Crash).
	Report string
	// Err is a one-line description for Crash and Failed.
	Err error
}

// VM is a configured, ready-to-run virtual machine.
type VM struct {
	cfg     Config
	sys     *kvm.System
	vm      *kvm.VM
	mem     []byte // guest RAM: guest-physical address == offset
	mapping []byte // mem and, past its end, the boot module (createVM)
	// copyText: the image's read-only pages are copied for the boot;
	// textCopied: they were and are not yet given back (once, by the
	// first abi.PortPrefaultDone). prefault.go.
	copyText   bool
	textCopied atomic.Bool
	blocks     kexec.Ranges // the image's text blocks, copied (textBlocks)
	layout     *arch.Layout
	cmdline    string
	vcpus      []*vcpu

	io   devices.IOBus
	mmio devices.MMIOBus
	uart *devices.UART
	ring *devices.ConsoleRing

	virtio []*virtioSlot

	hostSig hostSignals // hostsignal.go

	once     sync.Once
	stopped  atomic.Bool
	result   Result
	done     chan struct{}
	wg       sync.WaitGroup
	firstRun sync.Once
	closed   bool

	symsOnce sync.Once
	syms     *crash.Symbols

	guestABI uint8      // the ABI version the guest announced (checkABIMark)
	dumpMu   sync.Mutex // Dump and the text release (prefault.go) against Close
	tscKHz   uint64     // the vCPUs' TSC frequency, for trace times
}

type vcpu struct {
	*kvm.VCPU
	mu      sync.Mutex
	tid     int
	running bool
	dump    atomic.Pointer[dumpRequest] // a Dump waiting for this vCPU
}

// MMIODeviceParam is the kernel parameter announcing a virtio-mmio device,
// in the syntax of Linux's virtio_mmio driver.
func MMIODeviceParam(i int) string {
	return fmt.Sprintf("virtio_mmio.device=4K@%#x:%d", arch.MMIOBase+uint64(i)*arch.MMIOSize, arch.MMIOFirstIRQ+i)
}

// New checks the configuration and image, creates the VM, loads the image
// and creates the vCPUs. Bad input (image, sizes) is reported before
// /dev/kvm is touched.
func New(cfg Config) (_ *VM, err error) {
	if cfg.VCPUs == 0 {
		cfg.VCPUs = 1
	}
	if cfg.VCPUs < 1 || cfg.VCPUs > abi.MaxCPUs {
		return nil, fmt.Errorf("-smp %d: want 1 to %d vCPUs (the guest kernel starts at most %d)", cfg.VCPUs, abi.MaxCPUs, abi.MaxCPUs)
	}
	if !cfg.NoBalloon {
		if len(cfg.Virtio) >= arch.MMIOMaxDevices {
			return nil, fmt.Errorf("too many virtio devices (%d and the balloon, max %d in all)", len(cfg.Virtio), arch.MMIOMaxDevices)
		}
		cfg.Virtio = append(cfg.Virtio[:len(cfg.Virtio):len(cfg.Virtio)], virtio.NewBalloon())
	}
	if len(cfg.Virtio) > arch.MMIOMaxDevices {
		return nil, fmt.Errorf("too many virtio devices (%d, max %d)", len(cfg.Virtio), arch.MMIOMaxDevices)
	}
	if cfg.Stdout == nil {
		cfg.Stdout = io.Discard
	}
	trace := cfg.Trace
	if trace == nil {
		trace = func(string) {}
	}
	if err := arch.CheckMemSize(cfg.MemSize); err != nil {
		return nil, err
	}
	img, err := arch.ParseImage(cfg.Image)
	if err != nil {
		return nil, err
	}
	params := append([]string(nil), cfg.Params...)
	// The guest has no ACPI tables from us: tell it how many CPUs to start.
	params = append(params, fmt.Sprintf("unigo.cpus=%d", cfg.VCPUs))
	for i := range cfg.Virtio {
		params = append(params, MMIODeviceParam(i))
	}
	params = append(params, abi.HostSignalParam+"=1",
		fmt.Sprintf("%s=%d", abi.UARTFIFOParam, devices.UARTFIFO), abi.UARTReadyParam+"=1", abi.ConsoleStringParam+"=1", abi.ConsoleInputParam+"=1",
		abi.ConsoleRingParam+"=1")
	if !isTerminal(cfg.Stdout) {
		params = append(params, abi.TTYParam+"=0")
	}
	// On a shadow-paging host the image's read-only pages are copied for
	// the boot, its 2 MiB text blocks into host huge pages (prefault.go).
	copyText := cfg.ImageFile != nil && !cfg.HugePages && shadowPaging()
	if cfg.HugePages || copyText {
		params = append(params, abi.HugeImageParam+"=1")
	}
	if !cfg.HugePages {
		params = append(params, fmt.Sprintf("%s=%d", abi.PrefaultParam, arch.Prefault.End()))
	}
	cmdline, err := abi.Compose(cfg.Env, params, cfg.Args)
	if err != nil {
		return nil, fmt.Errorf("guest command line: %w", err)
	}
	// Checked with the launcher's own parameters in: none is pushed out.
	if err := abi.CheckLimits(cmdline, len(cfg.Env), len(cfg.Args)); err != nil {
		return nil, err
	}
	layout, err := arch.PlanModule(img, cfg.MemSize, cmdline, cfg.Image)
	if err != nil {
		return nil, err
	}

	v := &VM{cfg: cfg, layout: layout, cmdline: cmdline, copyText: copyText, done: make(chan struct{})}
	defer func() {
		if err != nil {
			v.Close()
		}
	}()
	if cfg.KVMFile != nil {
		v.sys, err = kvm.FromFile(cfg.KVMFile)
	} else {
		v.sys, err = kvm.Open()
	}
	if err != nil {
		return nil, err
	}
	trace("open kvm")
	if err := v.createVM(); err != nil {
		return nil, err
	}
	trace("create vm")
	// The image is loaded on another thread while this one creates the
	// vCPUs: neither needs the other, and both take a millisecond or more
	// (copies and populated pages; KVM's CPUID query).
	loaded := make(chan error, 1)
	go func() { loaded <- v.load() }()
	err = v.createVCPUs()
	if lerr := <-loaded; err == nil {
		err = lerr
	}
	if err != nil {
		return nil, err
	}
	trace("load image")
	if err := v.attachDevices(); err != nil {
		return nil, err
	}
	trace("devices")
	return v, nil
}

// load writes the image and its boot data into guest memory (mapping the
// image's pages from its file when it has one), maps the boot module and
// prefaults what the boot touches first.
func (v *VM) load() error {
	// The RAM below the image is populated on a thread of its own
	// meanwhile: it is the largest part of the work, and none of the rest
	// touches it.
	low := make(chan struct{})
	go func() {
		defer close(low)
		v.prefaultLow()
	}()
	defer func() { <-low }()
	var err error
	if f := v.cfg.ImageFile; f != nil && !v.cfg.HugePages {
		err = v.layout.LoadMapped(v.mem, v.cfg.Image, f, v.textBlocks())
	} else {
		err = v.layout.LoadZeroed(v.mem) // v.mem is freshly mapped
	}
	if err != nil {
		return err
	}
	if err := v.mapModule(); err != nil {
		return err
	}
	v.prefault()
	return nil
}

// Cmdline is the command line the guest receives.
func (v *VM) Cmdline() string { return v.cmdline }

// Memory is guest RAM; the guest-physical address is the offset.
func (v *VM) Memory() []byte { return v.mem }

// GuestMemory is all the host memory the guest addresses as memory: guest
// RAM and, past its end, the boot module (the image file mapped
// copy-on-write), which RAM's last memory slot or one of its own covers.
func (v *VM) GuestMemory() []byte { return v.mapping }

func (v *VM) createVM() error {
	var err error
	if v.vm, err = v.sys.CreateVM(); err != nil {
		return err
	}
	if max := v.sys.CheckExtension(kvm.CapMaxVCPUs); max > 0 && v.cfg.VCPUs > max {
		return fmt.Errorf("-smp %d: this host's KVM supports at most %d vCPUs", v.cfg.VCPUs, max)
	}
	size := arch.MappingSize(v.cfg.MemSize)
	l := v.layout
	if l.Module() {
		// The module's bytes live in the same mapping, at their
		// guest-physical address (mapModule).
		size = max(size, l.ModuleAddr+l.ModuleSize)
	}
	v.mapping, err = mapGuestRAM(size, v.cfg.HugePages)
	if err != nil {
		return fmt.Errorf("cannot map %s of guest memory: %w", arch.FormatSize(v.cfg.MemSize), err)
	}
	ramLen := arch.MappingSize(v.cfg.MemSize)
	v.mem = v.mapping[:ramLen:ramLen]
	// Not copied into a child (as QEMU does), and so a mapping of its own
	// that the kernel never merges with a neighbour (glibc's arenas are
	// MAP_NORESERVE too, in a cgo build): the bench reads guest RAM's Rss
	// from smaps by its range (mark.Memory). Advice only.
	unix.Madvise(v.mem, unix.MADV_DONTFORK)
	// The memory slots come first, before anything registers a device on
	// one of the VM's I/O buses: each slot set waits for an SRCU grace
	// period of the VM's, which takes tens of microseconds in a VM with no
	// device yet and milliseconds once the irqchip exists (docs/BENCHMARKS.md,
	// "The memory slots before the irqchip"). KVM resolves a slot's host
	// addresses at fault time, so the image mapped over the module's range
	// later (mapModule) needs no slot update.
	if err := v.setSlots(); err != nil {
		return err
	}
	if err := v.vm.SetTSSAddr(arch.TSSAddr); err != nil {
		return err
	}
	if err := v.vm.SetIdentityMapAddr(arch.IdentityMapAddr); err != nil {
		return err
	}
	return v.vm.CreateIRQChip()
}

// setSlots gives KVM the guest's memory slots: one per RAM range, the
// last stretched over the boot module when it lies just above
// (moduleJoinsRAM), else one more for the module.
func (v *VM) setSlots() error {
	l := v.layout
	ram := arch.RAM(v.cfg.MemSize)
	for i, r := range ram {
		end := uint64(r.End())
		if i == len(ram)-1 && v.moduleJoinsRAM() {
			end = l.ModuleAddr + l.ModuleSize
		}
		if err := v.vm.SetUserMemoryRegion(uint32(i), uint64(r.Start), v.mapping[r.Start:end]); err != nil {
			return err
		}
	}
	if l.Module() && !v.moduleJoinsRAM() {
		mod := v.mapping[l.ModuleAddr : l.ModuleAddr+l.ModuleSize]
		return v.vm.SetUserMemoryRegion(uint32(len(ram)), l.ModuleAddr, mod)
	}
	return nil
}

// moduleJoinsRAM reports whether the boot module lies just above the last
// RAM range (within the ModuleAlign padding), so that RAM's last memory
// slot is stretched over it rather than the module getting a slot of its
// own: every slot set costs the host an SRCU grace period, milliseconds on
// PVM hosts (docs/BENCHMARKS.md). The padding, at most 2 MiB, is then
// guest-writable memory the memory map does not offer the guest.
func (v *VM) moduleJoinsRAM() bool {
	l := v.layout
	if !l.Module() {
		return false
	}
	ram := arch.RAM(v.cfg.MemSize)
	end := uint64(ram[len(ram)-1].End())
	return l.ModuleAddr >= end && l.ModuleAddr-end < arch.ModuleAlign
}

// mapModule maps the image file as the boot module at the layout's range
// above RAM, copy-on-write into the guest mapping, within the memory slot
// setSlots gave it.
func (v *VM) mapModule() error {
	l := v.layout
	if !l.Module() {
		return nil
	}
	mod := v.mapping[l.ModuleAddr : l.ModuleAddr+l.ModuleSize]
	if f := v.cfg.ImageFile; f != nil {
		// Private and writable like RAM: a guest write (the kernel makes
		// none) changes its own copy, never the file.
		_, err := unix.MmapPtr(int(f.Fd()), 0, unsafe.Pointer(&mod[0]), uintptr(len(mod)),
			unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED)
		if err != nil {
			return fmt.Errorf("mapping the image as the boot module: %w", err)
		}
	} else {
		copy(mod, v.cfg.Image)
	}
	return nil
}

func (v *VM) attachDevices() error {
	v.uart = devices.NewUART(v.cfg.Stdout, func(level bool) {
		v.vm.IRQLine(abi.IRQCOM1, level)
	})
	if err := v.io.Register(abi.PortCOM1, 8, v.uart); err != nil {
		return err
	}
	mapLen := uint64(len(v.mem))
	v.ring = devices.NewConsoleRing(v.mem, func(addr, n uint64) bool { return arch.InRAM(mapLen, addr, n) }, v.uart.Transmit)
	if err := v.io.Register(abi.PortConsoleRing, 1, v.ring); err != nil {
		return err
	}
	exit := &devices.ExitPort{OnExit: func(code uint32) {
		v.Stop(Result{Reason: GuestExit, Code: code})
	}}
	// Two ports: QEMU's device is 4 wide, but the crash port follows at 0xf6.
	if err := v.io.Register(abi.PortExit, 2, exit); err != nil {
		return err
	}
	marks := &devices.BootMarkPort{OnMark: v.bootMark}
	if err := v.io.Register(abi.PortBootMark, 1, marks); err != nil {
		return err
	}
	if err := v.attachHostSignals(); err != nil {
		return err
	}
	for i, d := range v.cfg.Virtio {
		if err := v.attachVirtio(i, d); err != nil {
			return err
		}
	}
	if v.cfg.Stdin != nil {
		go v.uart.ReadFrom(v.cfg.Stdin)
	}
	return nil
}

func (v *VM) createVCPUs() error {
	supported, err := v.sys.SupportedCPUID()
	if err != nil {
		return err
	}
	brand := arch.HostBrand()
	for i := 0; i < v.cfg.VCPUs; i++ {
		c, err := v.vm.CreateVCPU(i)
		if err != nil {
			return err
		}
		v.vcpus = append(v.vcpus, &vcpu{VCPU: c})
		khz, err := c.TSCKHz()
		if err != nil {
			return err
		}
		v.tscKHz = uint64(khz)
		ents := arch.FilterCPUID(supported, arch.CPUIDParams{VCPU: i, NumVCPUs: v.cfg.VCPUs, TSCKHz: khz, Brand: brand})
		if err := c.SetCPUID(ents); err != nil {
			return err
		}
		if i != 0 {
			// Application processors keep KVM's reset state: with the
			// in-kernel LAPIC they wait for INIT-SIPI.
			continue
		}
		sregs, err := c.Sregs()
		if err != nil {
			return err
		}
		if err := c.SetSregs(arch.PVHSregs(sregs, v.layout.GDT)); err != nil {
			return err
		}
		if err := c.SetRegs(arch.PVHRegs(v.layout.Entry, v.layout.StartInfo)); err != nil {
			return err
		}
	}
	return nil
}

// Run runs the guest until it exits, crashes or Stop is called, and returns
// why. It may be called once.
func (v *VM) Run() Result {
	for _, c := range v.vcpus {
		v.wg.Add(1)
		go v.runVCPU(c)
	}
	<-v.done
	v.uart.Release()
	v.kickAll()
	v.wg.Wait()
	v.ring.Close() // the guest's last words, after the UART's release
	v.uart.Flush()
	return v.result
}

// Stop ends the VM with r unless it already ended; Run then returns r. It
// is safe from any goroutine, including signal handlers' goroutines.
func (v *VM) Stop(r Result) {
	v.once.Do(func() {
		v.result = r
		v.stopped.Store(true)
		if v.cfg.Trace != nil {
			v.cfg.Trace("guest exit")
		}
		close(v.done)
	})
}

// kickAll forces every vCPU out of KVM_RUN: immediate_exit covers a vCPU
// about to enter, the signal one already inside (KVM_RUN returns EINTR when
// a signal is pending). SIGURG is what the Go runtime itself uses to preempt
// threads, so its handler tolerates any number of spurious ones.
func (v *VM) kickAll() {
	pid := unix.Getpid()
	for _, c := range v.vcpus {
		c.mu.Lock()
		c.SetImmediateExit(true)
		if c.running {
			unix.Tgkill(pid, c.tid, unix.SIGURG)
		}
		c.mu.Unlock()
	}
}

func (v *VM) runVCPU(c *vcpu) {
	// The thread stays locked until the goroutine exits, which retires it:
	// KVM ties a vCPU to the thread that first ran it.
	runtime.LockOSThread()
	c.mu.Lock()
	c.tid, c.running = unix.Gettid(), true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.running = false
		c.mu.Unlock()
		v.wg.Done()
	}()
	if v.cfg.VCPUThread != nil {
		if err := v.cfg.VCPUThread(); err != nil {
			v.Stop(Result{Reason: Failed, Err: fmt.Errorf("vCPU %d: %w", c.ID, err)})
			return
		}
	}
	// exitPending: the last KVM_RUN returned an exit handled here, which
	// KVM completes (an IN's data into RAX, RIP past the instruction) only
	// on the next KVM_RUN.
	exitPending := false
	for !v.stopped.Load() {
		if r := c.dump.Swap(nil); r != nil {
			v.answerDump(c, r, exitPending)
			exitPending = false
			continue
		}
		if c.ID == 0 && v.cfg.Trace != nil {
			v.firstRun.Do(func() { v.cfg.Trace("first vCPU run") })
		}
		err := c.Run()
		exitPending = false
		if err == unix.EINTR {
			// A stop kick, or the Go runtime preempting this thread.
			continue
		}
		if errors.Is(err, unix.EAGAIN) {
			// An AP still waiting for its start-up IPI (PVM returns
			// EAGAIN rather than blocking in KVM_RUN): try again shortly.
			time.Sleep(100 * time.Microsecond)
			continue
		}
		if err != nil {
			v.Stop(Result{Reason: Failed, Err: fmt.Errorf("vCPU %d: %w", c.ID, err)})
			return
		}
		if err := v.handleExit(c); err != nil {
			v.Stop(Result{Reason: Failed, Err: fmt.Errorf("vCPU %d: %w", c.ID, err)})
			return
		}
		exitPending = true
	}
}

// consoleString transmits the string the abi.ConsoleString at paddr
// describes (abi.PortConsoleString). A descriptor or string outside guest
// RAM, or a string longer than the FIFO, is ignored, like a write to a
// port with no device.
func (v *VM) consoleString(paddr uint64) {
	mapLen := uint64(len(v.mem))
	if !arch.InRAM(mapLen, paddr, abi.ConsoleStringSize) {
		return
	}
	d := v.mem[paddr : paddr+abi.ConsoleStringSize]
	addr, n := binary.LittleEndian.Uint64(d), binary.LittleEndian.Uint64(d[8:])
	if n > devices.UARTFIFO || !arch.InRAM(mapLen, addr, n) {
		return
	}
	v.uart.Transmit(v.mem[addr : addr+n])
}

// consoleInput fills the receive buffer the abi.ConsoleInput at paddr
// describes with received bytes and reports their number and the end of
// input in it (abi.PortConsoleInput). A descriptor or buffer outside guest
// RAM is ignored, like a write to a port with no device: nothing is read
// from the UART and nothing is written to guest memory.
func (v *VM) consoleInput(paddr uint64) {
	mapLen := uint64(len(v.mem))
	if !arch.InRAM(mapLen, paddr, abi.ConsoleInputSize) {
		return
	}
	d := v.mem[paddr : paddr+abi.ConsoleInputSize]
	addr, n := binary.LittleEndian.Uint64(d), binary.LittleEndian.Uint64(d[8:])
	if !arch.InRAM(mapLen, addr, n) {
		return
	}
	got, eof := v.uart.Receive(v.mem[addr : addr+n])
	var flags uint64
	if eof {
		flags = abi.ConsoleInputEOF
	}
	binary.LittleEndian.PutUint64(d[16:], uint64(got))
	binary.LittleEndian.PutUint64(d[24:], flags)
}

func (v *VM) handleExit(c *vcpu) error {
	switch reason := c.ExitReason(); reason {
	case kvm.ExitIO:
		io, data, err := c.IO()
		if err != nil {
			return err
		}
		size := int(io.Size)
		if size == 0 {
			return nil
		}
		if io.Port == abi.PortCrash && io.Direction == kvm.IOOut {
			// Handled here rather than on the bus: the report needs this
			// vCPU's paging state to follow the guest's stack.
			var paddr uint64
			for i := len(data) - 1; i >= 0; i-- {
				paddr = paddr<<8 | uint64(data[i])
			}
			v.guestCrash(c, paddr)
			return nil
		}
		if io.Port == abi.PortConsoleString && io.Direction == kvm.IOOut && len(data) == 4 {
			v.consoleString(uint64(binary.LittleEndian.Uint32(data)))
			return nil
		}
		if io.Port == abi.PortConsoleInput && io.Direction == kvm.IOOut && len(data) == 4 {
			v.consoleInput(uint64(binary.LittleEndian.Uint32(data)))
			return nil
		}
		if io.Port == abi.PortPrefaultDone && io.Direction == kvm.IOOut && len(data) == 4 {
			v.prefaultDone(uint64(binary.LittleEndian.Uint32(data)) << 12)
			return nil
		}
		// String I/O (REP INS/OUTS) arrives as Count accesses in a row.
		for i := 0; i+size <= len(data); i += size {
			if io.Direction == kvm.IOOut {
				v.io.Out(io.Port, data[i:i+size])
			} else {
				v.io.In(io.Port, data[i:i+size])
			}
		}
	case kvm.ExitMMIO:
		m := c.MMIO()
		n := min(int(m.Len), len(m.Data))
		if m.IsWrite != 0 {
			v.mmio.Write(m.PhysAddr, m.Data[:n])
		} else {
			v.mmio.Read(m.PhysAddr, m.Data[:n])
		}
	case kvm.ExitIntr, kvm.ExitIRQWindowOpen:
	case kvm.ExitShutdown:
		v.vcpuCrash(c, "triple fault (KVM_EXIT_SHUTDOWN)", "")
	case kvm.ExitHLT:
		v.vcpuCrash(c, "vCPU halted with no way to wake up (KVM_EXIT_HLT)", "")
	case kvm.ExitFailEntry:
		f := c.FailEntry()
		v.vcpuCrash(c, "VM entry failed (KVM_EXIT_FAIL_ENTRY)",
			fmt.Sprintf("hardware entry failure reason %#x on host CPU %d", f.HardwareEntryFailureReason, f.CPU))
	case kvm.ExitInternalError:
		ie := c.Internal()
		detail := fmt.Sprintf("suberror %d", ie.Suberror)
		for i := 0; i < int(min(ie.NData, 16)); i++ {
			detail += fmt.Sprintf(" %#x", ie.Data[i])
		}
		v.vcpuCrash(c, "KVM internal error (KVM_EXIT_INTERNAL_ERROR)", detail)
	default:
		v.vcpuCrash(c, "unexpected exit "+kvm.ExitName(reason), "")
	}
	return nil
}

// Close releases the VM. It may be called after Run or instead of it.
func (v *VM) Close() error {
	v.dumpMu.Lock()
	defer v.dumpMu.Unlock()
	if v.closed {
		return nil
	}
	v.closed = true
	for _, s := range v.virtio {
		s.close()
	}
	for _, c := range v.vcpus {
		c.Close()
	}
	if v.vm != nil {
		v.vm.Close()
	}
	if v.sys != nil {
		v.sys.Close()
	}
	if v.mapping != nil {
		unmapGuestRAM(v.mapping)
		v.mapping, v.mem = nil, nil
	}
	return nil
}

// IsNoKVM reports whether err means /dev/kvm is unusable on this host.
func IsNoKVM(err error) bool { return errors.Is(err, kvm.ErrNoKVM) }

// IsBadImage reports whether err is a problem with the image itself.
func IsBadImage(err error) bool { return errors.Is(err, arch.ErrBadImage) }
