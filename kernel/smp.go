package kernel

import (
	"sync/atomic"
	"unsafe"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/kmem"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/kernel/platform"
	"github.com/unigo-os/unigo/rt"
)

// Symmetric multiprocessing. The boot CPU starts the others one at a time
// with INIT-SIPI-SIPI through the real-mode trampoline (rt/trampoline.S).
// Each CPU has its own rt.CPU block (GS), GDT copy with its own TSS and
// IST stack, crash stack, LAPIC timer and run queue; they share the IDT
// and the page table. A CPU with nothing to run steals from the others'
// queues, else halts; making a thread runnable sends an idle CPU a
// reschedule IPI (kernel/runq.go).
//
// How many CPUs: the kernel parameter unigo.cpus=N (the unigo launcher
// passes it), else the enabled local APICs in the ACPI MADT (QEMU), else 1.
const (
	maxCPUs    = 64
	vecResched = 64 // reschedule IPI (below 96: see intrCommon's pending mask)
	vecTLB     = 65 // TLB shootdown IPI
	crashOrder = 3
	istOrder   = 2
)

type cpuInfo struct {
	tlbReq atomic.Uint64 // CPUs (by index) waiting for this one to flush its TLB
	tlbAck atomic.Int32  // flushes done for this CPU's current shootdown
	block  uintptr       // rt.CPU
	apicID uint32
	gdt    uintptr // 80-byte GDT copy; TSS at gdt+128, GDTR at gdt+256
	ist    uintptr
	idle   uintptr // idle thread
	online atomic.Bool
	rq     runQueue // this CPU's run queue (kernel/runq.go)
	stats  cpuStats // event counters (kernel/stats.go)
	// armed is the deadline this CPU's LAPIC timer was last armed for
	// (0: disarmed, or fired and handled), so that re-arming for the same
	// or a later deadline, or while a fire is pending — most context
	// switches do one of these — skips the MSR write, which a
	// paravirtualised host traps (lapicEarlyEnough). The timer handler
	// clears it: the timer is one-shot.
	armed int64
}

var (
	cpus     [maxCPUs]cpuInfo
	ncpu     int = 1
	online   atomic.Int32
	idleMask atomic.Uint64 // CPUs idle (about to halt or halted), by index
)

// cpuIndex is the index of the running CPU.
func cpuIndex() int { return int(cpu().ID) }

// smpInit counts the CPUs and starts the application processors.
func smpInit(info *abi.HVMStartInfo) {
	cpus[0].block = rt.BootCPU().Self
	cpus[0].apicID = apicRead(apicID)
	if x2apic == false {
		cpus[0].apicID >>= 24
	}
	cpus[0].online.Store(true)
	online.Store(1)
	if cpus[0].idle = newIdleThread(); cpus[0].idle == 0 {
		kctx.Panic("out of memory creating the idle thread")
	}
	var ids [maxCPUs]uint32
	n := cpuCountParam()
	if n > 0 {
		for i := 0; i < n && i < maxCPUs; i++ {
			ids[i] = uint32(i)
		}
	} else {
		n = madtAPICs(&ids)
	}
	if n <= 1 {
		return
	}
	if n > maxCPUs {
		kctx.Print("unigo: ")
		kctx.PrintDec(uint64(n))
		kctx.Print(" CPUs, starting the first ")
		kctx.PrintDec(maxCPUs)
		kctx.Print("\n")
		n = maxCPUs
	}
	rt.InstallTrampoline(uint64(mm.PML4), mm.NXOK)
	idx := 1
	for i := 0; i < n; i++ {
		if ids[i] == cpus[0].apicID {
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
	ncpu = idx
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
func madtAPICs(ids *[maxCPUs]uint32) int {
	t := platform.AcpiFindTable(platform.AcpiSigMADT)
	if t == 0 {
		return 0
	}
	n := 0
	tlen := uintptr(*kctx.At[uint32](t + 4))
	for e := t + 44; e+2 <= t+tlen && n < maxCPUs; {
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
	ci := &cpus[idx]
	block := kmem.Alloc(unsafe.Sizeof(rt.CPU{}))
	gdt := kmem.AllocPage()
	ist := kmem.AllocPages(istOrder)
	crash := kmem.AllocPages(crashOrder)
	idle := newIdleThread()
	if block == 0 || gdt == 0 || ist == 0 || crash == 0 || idle == 0 {
		return false
	}
	rt.InitCPU(block, uint64(idx), crash+(kmem.PageSize<<crashOrder)-64)
	traceCPU(kctx.At[rt.CPU](block), idx)
	for i := uintptr(0); i < 80; i += 8 {
		*kctx.At[uint64](gdt + i) = *kctx.At[uint64](rt.GDTAddr() + i)
	}
	ci.block = block
	ci.apicID = apicid
	ci.gdt = gdt
	ci.ist = ist
	ci.idle = idle

	prepareCPUTables(ci)
	rt.SetAPBoot(th(idle).kstack+kstackSize, block, ktlsOf(idle), ci.gdt+256)
	sendIPI(apicid, 0x4500) // INIT, level assert
	spinFor(10_000_000)
	sendIPI(apicid, 0x4600|rt.TrampolineAddr>>12) // STARTUP
	spinFor(200_000)
	if !rt.APStarted() {
		sendIPI(apicid, 0x4600|rt.TrampolineAddr>>12)
	}
	for t0 := platform.Nanotime(); !ci.online.Load(); {
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

// sendIPI writes the interrupt command register: command (delivery mode,
// level, vector) to the CPU with apicid.
func sendIPI(apicid uint32, command uint32) {
	thisCPU().stats[statIPIsSent]++
	if x2apic {
		rt.Wrmsr(0x830, uint64(apicid)<<32|uint64(command))
		return
	}
	apicWrite(0x31, apicid<<24)
	apicWrite(0x30, command)
}

// prepareCPUTables fills CPU ci's GDT copy with its own TSS (and a GDTR
// for it at gdt+256); apEntry64 loads them with the shared IDT.
func prepareCPUTables(ci *cpuInfo) {
	tss := ci.gdt + 128
	ist := uint64(ci.ist+kmem.PageSize<<istOrder) &^ 15
	*kctx.At[uint32](tss + 4), *kctx.At[uint32](tss + 8) = uint32(ist), uint32(ist>>32)   // RSP0
	*kctx.At[uint32](tss + 36), *kctx.At[uint32](tss + 40) = uint32(ist), uint32(ist>>32) // IST1
	*kctx.At[uint32](tss + 100) = 104 << 16
	// The boot CPU's I/O permission bitmap (ring 3 may use COM1 and the
	// exit ports), copied.
	for i := uintptr(0); i < 129; i++ {
		*kctx.At[byte](tss + 104 + i) = *kctx.At[byte](rt.BootTSS() + 104 + i)
	}
	d := kctx.At[[2]uint64](ci.gdt + rt.SelTSS)
	base := uint64(tss)
	d[0] = (104 + 128) | (base&0xffffff)<<16 | 0x89<<40 | (base>>24&0xff)<<56
	d[1] = base >> 32
	gdtr := ci.gdt + 256
	*kctx.At[uint16](gdtr) = 79
	*kctx.At[uint64](gdtr + 2) = uint64(ci.gdt)
}

// apMain is rt's kernelAPMain: an application processor arrives here at
// CPL 3 on its idle thread's kernel stack.
//
//go:linkname apMain github.com/unigo-os/unigo/rt.kernelAPMain
func apMain(block uintptr) {
	c := kctx.At[rt.CPU](block)
	ci := &cpus[c.ID]
	lapicInit()
	c.Current = ci.idle
	th(ci.idle).oncpu = int32(c.ID)
	c.KStack = th(ci.idle).kstack + kstackSize
	c.KTLS = ktlsOf(ci.idle)
	c.XSave = th(ci.idle).xsave
	th(ci.idle).onCPU = platform.Nanotime()
	ci.online.Store(true)
	online.Add(1)
	idleLoop()
}

// tlbShootdown makes every other online CPU flush its TLB and waits until
// all have. Requests are per CPU pair, so shootdowns from several CPUs
// proceed at once; a CPU waiting (here or on a spinlock) answers the
// requests addressed to it, so waits cannot deadlock.
func tlbShootdown() {
	if online.Load() <= 1 {
		return
	}
	me := cpuIndex()
	self := &cpus[me]
	self.tlbAck.Store(0)
	want := int32(0)
	for i := 0; i < ncpu; i++ {
		if i != me && cpus[i].online.Load() {
			cpus[i].tlbReq.Or(1 << uint(me))
			sendIPI(cpus[i].apicID, vecTLB)
			want++
		}
	}
	for self.tlbAck.Load() < want {
		serviceTLB()
		rt.Pause()
	}
}

// serviceTLB flushes this CPU's TLB if another CPU asked, and acknowledges.
func serviceTLB() {
	if online.Load() <= 1 {
		return
	}
	c := &cpus[cpuIndex()]
	req := c.tlbReq.Swap(0)
	if req == 0 {
		return
	}
	rt.WriteCR3(uint64(mm.PML4))
	for j := 0; req != 0; j++ {
		if req&1 != 0 {
			cpus[j].tlbAck.Add(1)
		}
		req >>= 1
	}
}
