package kernel

import (
	"unsafe"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/kmem"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/kernel/platform"
	"github.com/unigo-os/unigo/kernel/task"
	"github.com/unigo-os/unigo/rt"
)

// Symmetric multiprocessing. The boot CPU starts the others one at a time
// with INIT-SIPI-SIPI through the real-mode trampoline (rt/trampoline.S).
// Each CPU has its own rt.CPU block (GS), GDT copy with its own TSS and
// IST stack, crash stack, LAPIC timer and run queue; they share the IDT
// and the page table. A CPU with nothing to run steals from the others'
// queues, else halts; making a thread runnable sends an idle CPU a
// reschedule IPI (kernel/task/runq.go).
//
// How many CPUs: the kernel parameter unigo.cpus=N (the unigo launcher
// passes it), else the enabled local APICs in the ACPI MADT (QEMU), else 1.
const (
	crashOrder = 3
	istOrder   = 2
)

// smpInit counts the CPUs and starts the application processors.
func smpInit(info *abi.HVMStartInfo) {
	bsp := task.CPUInfoAt(0)
	bsp.Block = rt.BootCPU().Self
	bsp.APICID = task.APICRead(task.APICID)
	if task.X2APIC == false {
		bsp.APICID >>= 24
	}
	bsp.Online.Store(true)
	task.Online.Store(1)
	if bsp.Idle = task.NewIdleThread(); bsp.Idle == 0 {
		kctx.Panic("out of memory creating the idle thread")
	}
	var ids [task.MaxCPUs]uint32
	n := cpuCountParam()
	if n > 0 {
		for i := 0; i < n && i < task.MaxCPUs; i++ {
			ids[i] = uint32(i)
		}
	} else {
		n = madtAPICs(&ids)
	}
	if n <= 1 {
		return
	}
	if n > task.MaxCPUs {
		kctx.Print("unigo: ")
		kctx.PrintDec(uint64(n))
		kctx.Print(" CPUs, starting the first ")
		kctx.PrintDec(task.MaxCPUs)
		kctx.Print("\n")
		n = task.MaxCPUs
	}
	rt.InstallTrampoline(uint64(mm.PML4), mm.NXOK)
	idx := 1
	for i := 0; i < n; i++ {
		if ids[i] == bsp.APICID {
			continue
		}
		if startAP(idx, ids[i]) {
			idx++
		} else {
			kctx.Print("unigo: CPU with APIC id ")
			kctx.PrintDec(uint64(ids[i]))
			kctx.Print(" did not start\n")
		}
	}
	task.NCPU = idx
}

// cpuCountParam returns N from unigo.cpus=N on the command line, or 0.
func cpuCountParam() int {
	var val [32]byte
	n, ok := kctx.KernelParam("unigo.cpus", val[:])
	if !ok {
		return 0
	}
	v, ok := kctx.ParseUint(val[:n])
	if !ok || v > 1<<16 {
		return 0
	}
	return int(v)
}

// madtAPICs lists the enabled local APIC ids of the ACPI MADT.
func madtAPICs(ids *[task.MaxCPUs]uint32) int {
	t := platform.AcpiFindTable(platform.AcpiSigMADT)
	if t == 0 {
		return 0
	}
	n := 0
	tlen := uintptr(*kctx.At[uint32](t + 4))
	for e := t + 44; e+2 <= t+tlen && n < task.MaxCPUs; {
		typ, l := *kctx.At[uint8](e), uintptr(*kctx.At[uint8](e + 1))
		if l < 2 {
			break
		}
		switch {
		case typ == 0 && *kctx.At[uint32](e + 4)&1 != 0: // local APIC, enabled
			ids[n] = uint32(*kctx.At[uint8](e + 3))
			n++
		case typ == 9 && *kctx.At[uint32](e + 8)&1 != 0: // local x2APIC, enabled
			ids[n] = *kctx.At[uint32](e + 4)
			n++
		}
		e += l
	}
	return n
}

// startAP brings up CPU index idx with the given APIC id.
func startAP(idx int, apicid uint32) bool {
	ci := task.CPUInfoAt(idx)
	block := kmem.Alloc(unsafe.Sizeof(rt.CPU{}))
	gdt := kmem.AllocPage()
	ist := kmem.AllocPages(istOrder)
	crash := kmem.AllocPages(crashOrder)
	idle := task.NewIdleThread()
	if block == 0 || gdt == 0 || ist == 0 || crash == 0 || idle == 0 {
		return false
	}
	rt.InitCPU(block, uint64(idx), crash+(kmem.PageSize<<crashOrder)-64, gdt+128)
	traceCPU(kctx.At[rt.CPU](block), idx)
	for i := uintptr(0); i < 80; i += 8 {
		*kctx.At[uint64](gdt + i) = *kctx.At[uint64](rt.GDTAddr() + i)
	}
	ci.Block = block
	ci.APICID = apicid
	ci.Gdt = gdt
	ci.Ist = ist
	ci.Idle = idle

	prepareCPUTables(ci)
	rt.SetAPBoot(task.Th(idle).KStack+task.KStackSize, block, task.KTLSOf(idle), ci.Gdt+256)
	task.SendIPI(apicid, 0x4500) // INIT, level assert
	spinFor(10_000_000)
	task.SendIPI(apicid, 0x4600|rt.TrampolineAddr>>12) // STARTUP
	spinFor(200_000)
	if !rt.APStarted() {
		task.SendIPI(apicid, 0x4600|rt.TrampolineAddr>>12)
	}
	for t0 := platform.Nanotime(); !ci.Online.Load(); {
		if platform.Nanotime()-t0 > 500_000_000 {
			return false
		}
		rt.Pause()
	}
	return true
}

func spinFor(ns int64) {
	for t0 := platform.Nanotime(); platform.Nanotime()-t0 < ns; {
		rt.Pause()
	}
}

// prepareCPUTables fills CPU ci's GDT copy with its own TSS (and a GDTR
// for it at gdt+256); apEntry64 loads them with the shared IDT.
func prepareCPUTables(ci *task.CPUInfo) {
	tss := ci.Gdt + 128 // rt.InitCPU points the CPU's IST1P at it
	ist := uint64(ci.Ist+kmem.PageSize<<istOrder) &^ 15
	*kctx.At[uint32](tss + 4), *kctx.At[uint32](tss + 8) = uint32(ist), uint32(ist>>32)   // RSP0
	*kctx.At[uint32](tss + 36), *kctx.At[uint32](tss + 40) = uint32(ist), uint32(ist>>32) // IST1
	*kctx.At[uint32](tss + 100) = 104 << 16
	// The boot CPU's I/O permission bitmap (ring 3 may use COM1 and the
	// exit ports), copied.
	for i := uintptr(0); i < 129; i++ {
		*kctx.At[byte](tss + 104 + i) = *kctx.At[byte](rt.BootTSS() + 104 + i)
	}
	d := kctx.At[[2]uint64](ci.Gdt + rt.SelTSS)
	base := uint64(tss)
	d[0] = (104 + 128) | (base&0xffffff)<<16 | 0x89<<40 | (base>>24&0xff)<<56
	d[1] = base >> 32
	gdtr := ci.Gdt + 256
	*kctx.At[uint16](gdtr) = 79
	*kctx.At[uint64](gdtr + 2) = uint64(ci.Gdt)
}

// apMain is rt's kernelAPMain: an application processor arrives here at
// CPL 3 on its idle thread's kernel stack.
//
//go:linkname apMain github.com/unigo-os/unigo/rt.kernelAPMain
func apMain(block uintptr) {
	c := kctx.At[rt.CPU](block)
	ci := task.CPUInfoAt(int(c.ID))
	task.LAPICInit()
	c.Current = ci.Idle
	task.Th(ci.Idle).LastCPU = int32(c.ID)
	c.KStack = task.Th(ci.Idle).KStack + task.KStackSize
	c.KTLS = task.KTLSOf(ci.Idle)
	c.XSave = task.Th(ci.Idle).Xsave
	task.Th(ci.Idle).OnCPU = platform.Nanotime()
	ci.Online.Store(true)
	task.Online.Add(1)
	task.IdleLoop()
}
