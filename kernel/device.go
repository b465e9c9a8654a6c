package kernel

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/balloon"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/kmem"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/kernel/platform"
	"github.com/unigo-os/unigo/kernel/spinlock"
	"github.com/unigo-os/unigo/kernel/task"
	"github.com/unigo-os/unigo/kernel/vcon"
	"github.com/unigo-os/unigo/kernel/vfs"
	"github.com/unigo-os/unigo/rt"
)

// Device services for drivers.
//
// Drivers are ordinary Go code running at CPL 3 in the one address space
// (package drivers/hw). What they cannot do themselves is served here
// through the private system calls listed in abi/devices.go:
//
//   - the virtio-mmio device list, parsed from the command line;
//   - mapping device registers uncached (identity-mapped, like RAM);
//   - DMA memory: kmem blocks, physically contiguous, zeroed and never
//     moved or paged out; virtual address = physical address;
//   - interrupt lines: an IOAPIC input routed to vector vecIRQBase+gsi,
//     delivered to the driver as an eventfd (so a goroutine waits for it in
//     Go's netpoller). A level-triggered line is masked when it fires and
//     stays masked until the driver, having acknowledged its device, asks
//     for it to be unmasked; an edge-triggered line is never masked (an
//     edge arriving at a masked IOAPIC input is lost). On a host that
//     ends interrupts on delivery every line is edge (host.go).
//
// State is guarded by SchedLock (the interrupt handler runs under it),
// except the DMA block table (dmaLock); mm.VMLock is taken inside SchedLock
// for page-table changes.

const (
	maxVirtioMMIO = 32
	// maxIRQLines bounds the GSIs served: two IOAPICs' worth (QEMU microvm
	// has two). GSI g arrives on vector vecIRQBase+g, which must stay below
	// 96 (the shim's pending-interrupt mask); GSIs 16 and 17 are refused
	// because their vectors are the reschedule and TLB-shootdown IPIs.
	maxIRQLines  = 48
	maxDMABlocks = 4096
	maxIOAPICs   = 4
)

type irqLine struct {
	file   uintptr // ofile (fdEventfd) holding the kernel's reference, 0 if free
	level  bool
	masked bool
}

type dmaBlock struct {
	addr  uintptr
	order int32
}

type ioapic struct {
	base    uintptr
	gsiBase uint32
	pins    uint32
}

var (
	virtioDevs   [maxVirtioMMIO]abi.VirtioMMIODevice
	nVirtioDevs  int
	virtioParsed bool
	virtioProbed bool

	irqLines  [maxIRQLines]irqLine
	dmaLock   spinlock.Lock // guards dmaBlocks (a leaf lock)
	dmaBlocks [maxDMABlocks]dmaBlock

	ioapics     [maxIOAPICs]ioapic
	nIOAPICs    int
	ioapicReady bool
)

// Handlers: the private device calls (abi/devices.go).

func sysVirtioMMIODevices(f *rt.Frame) int64 {
	return doVirtioMMIODevices(uintptr(f.RDI), int(f.RSI))
}
func sysMapMMIO(f *rt.Frame) int64   { return doMapMMIO(uintptr(f.RDI), uintptr(f.RSI)) }
func sysDMAAlloc(f *rt.Frame) int64  { return doDMAAlloc(uintptr(f.RDI)) }
func sysDMAFree(f *rt.Frame) int64   { return doDMAFree(uintptr(f.RDI), uintptr(f.RSI)) }
func sysIRQAttach(f *rt.Frame) int64 { return doIRQAttach(int(f.RDI), uint32(f.RSI)) }
func sysIRQUnmask(f *rt.Frame) int64 { return doIRQUnmask(int(f.RDI)) }
func sysIRQDetach(f *rt.Frame) int64 { return doIRQDetach(int(f.RDI)) }

// parseVirtioParams fills virtioDevs from the command line once. A
// malformed entry is reported and skipped. Caller holds SchedLock.
func parseVirtioParams() {
	virtioParsed = true
	var tok [256]byte
	pos := 0
	for {
		n, ok, err := kctx.NextToken(kctx.Cmdline[:kctx.CmdlineLen], &pos, tok[:])
		if err != "" || !ok {
			return
		}
		s := tok[:n]
		if n == 2 && s[0] == '-' && s[1] == '-' {
			return
		}
		if !kctx.HasPrefix(s, abi.VirtioMMIOParam) {
			continue
		}
		d, ok := abi.ParseVirtioMMIO(s[len(abi.VirtioMMIOParam):])
		if !ok || d.GSI >= maxIRQLines {
			kctx.Print("unigo: ignoring bad kernel parameter ")
			kctx.ConsoleWrite(s)
			kctx.Print("\n")
			continue
		}
		if nVirtioDevs < maxVirtioMMIO {
			virtioDevs[nVirtioDevs] = d
			nVirtioDevs++
		}
	}
}

// QEMU microvm's virtio-mmio transports: 512-byte windows from
// 0xfeb00000, on GSIs 24+i when it has its second IOAPIC (GSIs 24-47),
// else on GSIs 5+i (8 transports). QEMU describes them in the ACPI DSDT
// only, not on a PVH command line.
const (
	microvmVirtioBase = 0xfeb00000
	microvmVirtioSize = 512
)

// probeMicrovmVirtio lists the populated QEMU microvm transports. It runs
// only when the command line names no device and the machine has ACPI
// tables (QEMU; the unigo launcher and Firecracker always use the command
// line). Caller holds SchedLock.
func probeMicrovmVirtio() {
	if nVirtioDevs != 0 || platform.AcpiFindTable(platform.AcpiSigMADT) == 0 {
		return
	}
	gsiBase, n, ok := microvmWindows()
	for i := 0; ok && i < n && nVirtioDevs < maxVirtioMMIO; i++ {
		base, id := microvmDevice(i)
		if id == 0 {
			continue
		}
		if vcon.Dev.Active && gsiBase+uint32(i) == vcon.Dev.GSI {
			continue // the kernel's console input
		}
		if balloon.Dev.Active && gsiBase+uint32(i) == balloon.Dev.GSI {
			continue // the kernel's free page reporting
		}
		virtioDevs[nVirtioDevs] = abi.VirtioMMIODevice{Base: uint64(base), Size: microvmVirtioSize, GSI: gsiBase + uint32(i)}
		nVirtioDevs++
	}
}

// microvmWindows maps QEMU microvm's virtio-mmio windows and returns the
// GSI of the first and their number; ok is false when they cannot be
// mapped. Caller holds SchedLock.
func microvmWindows() (gsiBase uint32, n int, ok bool) {
	ioapicInit()
	gsiBase, n = 5, 8
	for i := 0; i < nIOAPICs; i++ {
		if ioapics[i].gsiBase == 24 {
			gsiBase, n = 24, 24
		}
	}
	mm.VMLock.Lock()
	ok = mapDeviceChecked(microvmVirtioBase)
	mm.VMLock.Unlock()
	return gsiBase, n, ok
}

// microvmDevice returns the address of QEMU microvm's transport window i
// (mapped by microvmWindows) and the virtio device ID there, 0 if the
// window holds none.
func microvmDevice(i int) (base uintptr, id uint32) {
	base = uintptr(microvmVirtioBase + i*microvmVirtioSize)
	if *kctx.At[uint32](base) != abi.VirtioMMIOMagic {
		return base, 0
	}
	return base, *kctx.At[uint32](base + abi.VirtioMMIODeviceID)
}

// consoleDeviceInit sets up QEMU microvm's virtio console, if it has
// one, as the console's input (kernel/vcon): on QEMU's 16550 the end of
// the host's stdin never shows. Its interrupt line is the kernel's and
// edge-triggered: the handler acknowledges the device (which lowers the
// line) before it takes what the queues hold, so input that comes later
// raises a new edge; a level line on a host that ends interrupts on
// delivery (host.go) would be delivered again and again while it is
// raised. The device is left out of the drivers' list.
func consoleDeviceInit() {
	if platform.AcpiFindTable(platform.AcpiSigMADT) == 0 {
		return
	}
	kctx.SchedLock.Lock()
	if !virtioParsed {
		parseVirtioParams()
	}
	gsiBase, n, ok := microvmWindows()
	for i := 0; ok && nVirtioDevs == 0 && i < n; i++ {
		base, id := microvmDevice(i)
		if id != abi.VirtioDeviceConsole {
			continue
		}
		gsi := gsiBase + uint32(i)
		if a, _ := ioapicFor(int(gsi)); a == nil || gsi >= maxIRQLines || irqLines[gsi].file != 0 {
			break
		}
		if why := vcon.Dev.Setup(base, gsi); why != "" {
			kctx.Print("unigo: virtio console not used: ")
			kctx.Print(why)
			kctx.Print("\n")
			break
		}
		gsiProgram(int(gsi), false, false)
		break
	}
	kctx.SchedLock.Unlock()
}

func doVirtioMMIODevices(buf uintptr, n int) int64 {
	if n < 0 {
		return -abi.EINVAL
	}
	if n > maxVirtioMMIO {
		n = maxVirtioMMIO
	}
	size := uintptr(n) * task.UintptrSize(abi.VirtioMMIODevice{})
	if n > 0 && !mm.UserOK(buf, size, true) {
		return -abi.EFAULT
	}
	kctx.SchedLock.Lock()
	if !virtioParsed {
		parseVirtioParams()
	}
	if !virtioProbed {
		virtioProbed = true
		probeMicrovmVirtio()
	}
	for i := 0; i < n && i < nVirtioDevs; i++ {
		*kctx.At[abi.VirtioMMIODevice](buf + uintptr(i)*task.UintptrSize(abi.VirtioMMIODevice{})) = virtioDevs[i]
	}
	total := nVirtioDevs
	kctx.SchedLock.Unlock()
	return int64(total)
}

// maxMMIOWindow bounds one mapping request (device windows are small).
const maxMMIOWindow = 1 << 30

// mapDeviceChecked is mm.MapDevice with the page directory it may need
// allocated first, so that running out of memory fails cleanly. Caller
// holds mm.VMLock.
func mapDeviceChecked(pa uintptr) bool {
	pdpt := uintptr(*kctx.At[uint64](mm.PML4) & mm.PteAddr)
	e := kctx.At[uint64](pdpt + (pa>>30)*8)
	if *e&mm.PtePresent == 0 {
		pd := kmem.AllocPage()
		if pd == 0 {
			return false
		}
		*e = uint64(pd) | mm.PteTable
	}
	mm.MapDevice(pa)
	return true
}

// doMapMMIO maps [pa, pa+size) uncached, with 2 MiB pages. The window
// must lie in the identity-mapped half of the address space (below
// userBase), and the 2 MiB pages holding it must contain no RAM (which
// also keeps it out of the first 2 MiB, mapped with 4 KiB pages).
func doMapMMIO(pa, size uintptr) int64 {
	if size == 0 || size > maxMMIOWindow || pa+size < pa || pa+size > mm.UserBase ||
		overlapsRAM(pa&^(mm.HugeSize-1), (pa+size+mm.HugeSize-1)&^(mm.HugeSize-1)) {
		return -abi.EINVAL
	}
	mm.VMLock.Lock()
	for p := pa &^ (mm.HugeSize - 1); p < pa+size; p += mm.HugeSize {
		if !mapDeviceChecked(p) {
			mm.VMLock.Unlock()
			return -abi.ENOMEM
		}
	}
	mm.VMLock.Unlock()
	// Another CPU may have walked the old (absent) entry: nothing cached;
	// but a present mapping changed to uncached must be flushed there.
	task.TLBShootdown()
	return int64(pa)
}

func doDMAAlloc(size uintptr) int64 {
	if size == 0 || size > abi.DMAMaxSize {
		return -abi.EINVAL
	}
	order := int32(0)
	for uintptr(kmem.PageSize)<<uint(order) < size {
		order++
	}
	dmaLock.Lock()
	slot := -1
	for i := range dmaBlocks {
		if dmaBlocks[i].addr == 0 {
			slot = i
			break
		}
	}
	if slot < 0 {
		dmaLock.Unlock()
		return -abi.ENOMEM
	}
	p := kmem.AllocPages(int(order))
	if p == 0 {
		dmaLock.Unlock()
		return -abi.ENOMEM
	}
	dmaBlocks[slot] = dmaBlock{addr: p, order: order}
	dmaLock.Unlock()
	return int64(p)
}

// doDMAFree frees a block named exactly by its address and the size it
// was asked for (rounded the same way); anything else is EINVAL.
func doDMAFree(addr, size uintptr) int64 {
	dmaLock.Lock()
	defer dmaLock.Unlock()
	for i := range dmaBlocks {
		b := &dmaBlocks[i]
		if b.addr == addr && addr != 0 {
			if size == 0 || size > uintptr(kmem.PageSize)<<uint(b.order) {
				return -abi.EINVAL
			}
			kmem.FreePages(addr, int(b.order))
			b.addr = 0
			return 0
		}
	}
	return -abi.EINVAL
}

// ioapicInit finds the IOAPICs (ACPI MADT, else the standard one at
// 0xfec00000 with GSIs 0-23) and maps their registers. Caller holds
// SchedLock.
func ioapicInit() {
	if ioapicReady {
		return
	}
	ioapicReady = true
	madtIOAPICs()
	if nIOAPICs == 0 {
		ioapics[0] = ioapic{base: task.IOAPICBase, gsiBase: 0}
		nIOAPICs = 1
	}
	for i := 0; i < nIOAPICs; i++ {
		a := &ioapics[i]
		mm.VMLock.Lock()
		ok := mapDeviceChecked(a.base)
		mm.VMLock.Unlock()
		if ok {
			a.pins = (ioapicRead(a.base, 1)>>16)&0xff + 1
		}
	}
}

// madtIOAPICs records the IOAPICs of the ACPI MADT, if there is one.
func madtIOAPICs() {
	t := platform.AcpiFindTable(platform.AcpiSigMADT)
	if t == 0 {
		return
	}
	tlen := uintptr(*kctx.At[uint32](t + 4))
	for e := t + 44; e+2 <= t+tlen; {
		typ, l := *kctx.At[uint8](e), uintptr(*kctx.At[uint8](e + 1))
		if l < 2 {
			break
		}
		if typ == 1 && l >= 12 && nIOAPICs < maxIOAPICs {
			ioapics[nIOAPICs] = ioapic{base: uintptr(*kctx.At[uint32](e + 4)), gsiBase: *kctx.At[uint32](e + 8)}
			nIOAPICs++
		}
		e += l
	}
}

func ioapicRead(base uintptr, reg uint32) uint32 {
	*kctx.At[uint32](base) = reg
	return *kctx.At[uint32](base + 0x10)
}

func ioapicWrite(base uintptr, reg, v uint32) {
	*kctx.At[uint32](base) = reg
	*kctx.At[uint32](base + 0x10) = v
}

// ioapicFor returns the IOAPIC serving gsi and the pin on it, or nil.
func ioapicFor(gsi int) (*ioapic, uint32) {
	for i := 0; i < nIOAPICs; i++ {
		a := &ioapics[i]
		if uint32(gsi) >= a.gsiBase && uint32(gsi) < a.gsiBase+a.pins {
			return a, uint32(gsi) - a.gsiBase
		}
	}
	return nil, 0
}

// Redirection entry bits.
const (
	redirLevel = 1 << 15
	redirMask  = 1 << 16
)

// gsiProgram writes gsi's redirection entry: vector vecIRQBase+gsi, fixed
// delivery to CPU 0, active high. Caller holds SchedLock.
func gsiProgram(gsi int, level, masked bool) {
	a, pin := ioapicFor(gsi)
	if a == nil {
		return
	}
	lo := uint32(task.VecIRQBase + gsi)
	if level {
		lo |= redirLevel
	}
	if masked {
		lo |= redirMask
	}
	ioapicWrite(a.base, 0x10+2*pin+1, 0)
	ioapicWrite(a.base, 0x10+2*pin, lo)
}

func doIRQAttach(gsi int, flags uint32) int64 {
	if gsi < 0 || gsi >= maxIRQLines || gsi == abi.IRQCOM1 || vcon.Dev.Active && uint32(gsi) == vcon.Dev.GSI ||
		balloon.Dev.Active && uint32(gsi) == balloon.Dev.GSI ||
		task.VecIRQBase+gsi == task.VecResched || task.VecIRQBase+gsi == task.VecTLB ||
		flags&^(abi.IRQLevel|abi.IRQNonblock|abi.IRQCloexec) != 0 {
		return -abi.EINVAL
	}
	p := kmem.Alloc(task.UintptrSize(vfs.Eventfd{}))
	if p == 0 {
		return -abi.ENOMEM
	}
	f := vfs.NewOFile(vfs.FdEventfd, vfs.ORdwr|flags&vfs.ONonblock, p)
	if f == 0 {
		kmem.Free(p, task.UintptrSize(vfs.Eventfd{}))
		return -abi.ENOMEM
	}
	kctx.SchedLock.Lock()
	ioapicInit()
	r := int64(0)
	if a, _ := ioapicFor(gsi); a == nil {
		r = -abi.EINVAL // no IOAPIC input with that number
	} else if irqLines[gsi].file != 0 {
		r = -abi.EEXIST
	}
	if r != 0 {
		kctx.SchedLock.Unlock()
		vfs.Fput(f)
		return r
	}
	vfs.Of(f).Refs++ // the line's reference
	l := &irqLines[gsi]
	l.file, l.level, l.masked = f, flags&abi.IRQLevel != 0 && levelLinesWork(), false
	gsiProgram(gsi, l.level, false)
	kctx.SchedLock.Unlock()
	return vfs.FdInstall(f, flags&abi.IRQCloexec != 0)
}

func doIRQUnmask(gsi int) int64 {
	if gsi < 0 || gsi >= maxIRQLines {
		return -abi.EINVAL
	}
	kctx.SchedLock.Lock()
	defer kctx.SchedLock.Unlock()
	l := &irqLines[gsi]
	if l.file == 0 {
		return -abi.EINVAL
	}
	if l.masked {
		l.masked = false
		gsiProgram(gsi, l.level, false)
	}
	return 0
}

func doIRQDetach(gsi int) int64 {
	if gsi < 0 || gsi >= maxIRQLines {
		return -abi.EINVAL
	}
	kctx.SchedLock.Lock()
	l := &irqLines[gsi]
	f := l.file
	if f == 0 {
		kctx.SchedLock.Unlock()
		return -abi.EINVAL
	}
	gsiProgram(gsi, l.level, true)
	l.file = 0
	kctx.SchedLock.Unlock()
	vfs.Fput(f)
	return 0
}

// deviceIRQ handles an interrupt on gsi: a level-triggered line is masked
// (the device keeps it asserted until the driver acknowledges it), and the
// line's eventfd counts the interrupt and wakes its readers and pollers.
// It reports whether a driver owns gsi. Caller holds SchedLock.
func deviceIRQ(gsi int) bool {
	if gsi < 0 || gsi >= maxIRQLines || irqLines[gsi].file == 0 {
		return false
	}
	l := &irqLines[gsi]
	if l.level && noteEOIAtDelivery(task.VecIRQBase+gsi) {
		levelToEdge() // the host ended this interrupt already (host.go)
	}
	if l.level && !l.masked {
		l.masked = true
		gsiProgram(gsi, true, true)
	}
	p := vfs.Of(l.file).Obj
	e := vfs.Ef(p)
	if e.Count < vfs.EfdMax {
		e.Count++
	}
	e.Rq.WakeAll()
	vfs.PollNotify(p)
	return true
}

// Boot information the device services keep: the RAM ranges of the PVH
// memory map, which device windows must not overlap (the identity map
// covers RAM with cached 2 MiB pages, holes included, up to the top of RAM),
// and the reserved ranges, where a boot module may lie (exe.go).
var (
	ramRanges      [64][2]uintptr
	nRAM           int
	reservedRanges [8][2]uintptr
	nReserved      int
)

// deviceBootInfo records them; kernelMain calls it with start_info.
func deviceBootInfo(info *abi.HVMStartInfo) {
	platform.RSDPAddr = uintptr(info.RSDPPaddr)
	mmap := uintptr(info.MemmapPaddr)
	for i := uintptr(0); mmap != 0 && i < uintptr(info.MemmapEntries) && nRAM < len(ramRanges); i++ {
		e := kctx.At[abi.HVMMemmapEntry](mmap + i*abi.HVMMemmapEntrySize)
		r := [2]uintptr{uintptr(e.Addr), uintptr(e.Addr + e.Size)}
		switch {
		case r[1] < r[0]:
		case e.Type == abi.MemRAM:
			ramRanges[nRAM] = r
			nRAM++
		case e.Type == abi.MemReserved && nReserved < len(reservedRanges):
			reservedRanges[nReserved] = r
			nReserved++
		}
	}
}

// overlapsRAM reports whether [start, end) meets RAM.
func overlapsRAM(start, end uintptr) bool {
	for i := 0; i < nRAM; i++ {
		if start < ramRanges[i][1] && end > ramRanges[i][0] {
			return true
		}
	}
	return false
}

// ioapicRoute sends IOAPIC pin to vector vecIRQBase+pin on CPU 0.
func ioapicRoute(pin uint32) {
	ioapicInit() // maps the registers
	reg := kctx.At[uint32](task.IOAPICBase)
	win := kctx.At[uint32](task.IOAPICBase + 0x10)
	*reg = 0x10 + 2*pin
	*win = task.VecIRQBase + pin
	*reg = 0x10 + 2*pin + 1
	*win = 0
}
