package vfs

import (
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/kmem"
	"github.com/unigo-os/unigo/kernel/memfs"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/kernel/platform"
	"github.com/unigo-os/unigo/kernel/task"
	"github.com/unigo-os/unigo/rt"
)

// Generated /proc and /sys files: the CPU lists of
// /sys/devices/system/cpu, written once at boot (the CPUs never change);
// /proc/cpuinfo, written once, when first opened (a dozen CPUID
// instructions, each an exit under a hypervisor, that most programs never
// need; its size reads 0 until then, as all of Linux's /proc does); and
// /proc/meminfo and /proc/self/maps, rewritten in place whenever they are
// opened; /proc/self/fd, a directory of symlinks rebuilt whenever a
// path under it is used (refreshFdDir). All are memfs static files over the buffers below;
// meminfo's numbers have a fixed width, so its length never changes under
// a reader; maps changes length (memfs.SetStaticSize), so a reader that
// keeps it open across another open may see the newer content.

// procBuf is a kernel-context text builder over a static buffer; what
// does not fit is dropped.
type procBuf struct {
	b []byte
	n int
}

func (p *procBuf) str(s string) {
	p.n += copy(p.b[p.n:], s)
}

func (p *procBuf) bytes(s []byte) {
	p.n += copy(p.b[p.n:], s)
}

// num writes v in decimal, right-aligned in width columns (0: as is).
func (p *procBuf) num(v uint64, width int) {
	var d kctx.Digits
	s := kctx.FormatUint(&d, v, 10)
	for i := len(s); i < width; i++ {
		p.str(" ")
	}
	p.bytes(s)
}

// numField writes the /proc/cpuinfo line "name\t: v".
func (p *procBuf) numField(name string, v uint64) {
	p.field(name)
	p.num(v, 0)
	p.str("\n")
}

// field writes "name\t: " as /proc/cpuinfo aligns its names.
func (p *procBuf) field(name string) {
	p.str(name)
	if len(name) < 8 {
		p.str("\t")
	}
	p.str("\t: ")
}

var (
	cpuinfoBuf [64 * 1024]byte
	cpuinfoIno memfs.Inode
	cpuinfoLen int // 0: not written yet
	cpuListBuf [16]byte
	meminfoBuf [meminfoLines * 28]byte
	meminfoIno memfs.Inode
	mapsBuf    [128 << 10]byte
	mapsIno    memfs.Inode
	fdDirIno   memfs.Inode
	fdLinked   [MaxFDs / 64]uint64 // the names /proc/self/fd holds
)

// meminfoLines are /proc/meminfo's lines, each "Name:" padded to 16
// columns, the value in 8, then " kB\n" (28 bytes).
const meminfoLines = 8

// procFilesInit adds the generated files. Caller holds FSLock, after
// smpInit (ncpu is final).
func procFilesInit(now int64) {
	cpuinfoIno = addGenerated("/proc/cpuinfo", cpuinfoBuf[:], now)
	memfs.SetStaticSize(cpuinfoIno, 0)

	p := procBuf{b: cpuListBuf[:]}
	p.str("0")
	if task.NCPU > 1 {
		p.str("-")
		p.num(uint64(task.NCPU-1), 0)
	}
	p.str("\n")
	for _, f := range [...]string{"/sys/devices/system/cpu/online", "/sys/devices/system/cpu/possible", "/sys/devices/system/cpu/present"} {
		memfs.AddStatic(kctx.StringBytes(f), cpuListBuf[:p.n], 0o444, now)
	}

	refreshMeminfo()
	meminfoIno = addGenerated("/proc/meminfo", meminfoBuf[:], now)
	mapsIno = addGenerated("/proc/self/maps", mapsBuf[:], now)
	refreshMaps()
	fdDir := kctx.StringBytes("/proc/self/fd")
	if memfs.MkdirAll(fdDir, 0o500, now) == 0 {
		if ino, err := memfs.Lookup(memfs.Root(), fdDir, false); err == 0 {
			fdDirIno = ino
			memfs.Unref(ino)
		}
	}
}

// addGenerated adds a static file over buf and returns its inode, or 0.
func addGenerated(path string, buf []byte, now int64) memfs.Inode {
	p := kctx.StringBytes(path)
	if memfs.AddStatic(p, buf, 0o444, now) != 0 {
		return 0
	}
	ino, err := memfs.Lookup(memfs.Root(), p, false)
	if err != 0 {
		return 0
	}
	memfs.Unref(ino) // the link keeps it
	return ino
}

// refreshProcFile brings a generated file up to date as it is opened.
// Caller holds FSLock.
func refreshProcFile(ino memfs.Inode) {
	switch {
	case ino == 0:
	case ino == cpuinfoIno:
		if cpuinfoLen == 0 {
			p := procBuf{b: cpuinfoBuf[:]}
			writeCPUInfo(&p)
			cpuinfoLen = p.n
			memfs.SetStaticSize(cpuinfoIno, cpuinfoLen)
		}
	case ino == meminfoIno:
		refreshMeminfo()
	case ino == mapsIno:
		refreshMaps()
	}
}

// refreshMeminfo rewrites /proc/meminfo from kmem's counts: all RAM the
// kernel manages is MemTotal, what kmem has not handed out is free and
// available; there is no swap, page cache or buffer memory.
func refreshMeminfo() {
	total, free := uint64(kmem.TotalBytes())>>10, uint64(kmem.FreeBytes())>>10
	p := procBuf{b: meminfoBuf[:]}
	for i, name := range [meminfoLines]string{"MemTotal:", "MemFree:", "MemAvailable:", "Buffers:", "Cached:", "SwapCached:", "SwapTotal:", "SwapFree:"} {
		p.str(name)
		for j := len(name); j < 16; j++ {
			p.str(" ")
		}
		v := uint64(0)
		switch i {
		case 0:
			v = total
		case 1, 2:
			v = free
		}
		p.num(min(v, 99_999_999), 8)
		p.str(" kB\n")
	}
}

// cpuFlags are the /proc/cpuinfo flags unigo reports, with the CPUID bit
// (leaf, register: 'c' ECX or 'd' EDX or 'b' EBX, bit) that says each.
var cpuFlags = [...]struct {
	name string
	leaf uint32
	reg  byte
	bit  uint8
}{
	{"fpu", 1, 'd', 0}, {"tsc", 1, 'd', 4}, {"msr", 1, 'd', 5}, {"pae", 1, 'd', 6},
	{"cx8", 1, 'd', 8}, {"apic", 1, 'd', 9}, {"sep", 1, 'd', 11}, {"cmov", 1, 'd', 15},
	{"pat", 1, 'd', 16}, {"clflush", 1, 'd', 19}, {"mmx", 1, 'd', 23}, {"fxsr", 1, 'd', 24},
	{"sse", 1, 'd', 25}, {"sse2", 1, 'd', 26}, {"syscall", 0x80000001, 'd', 11},
	{"nx", 0x80000001, 'd', 20}, {"rdtscp", 0x80000001, 'd', 27}, {"lm", 0x80000001, 'd', 29},
	{"pni", 1, 'c', 0}, {"pclmulqdq", 1, 'c', 1}, {"ssse3", 1, 'c', 9}, {"fma", 1, 'c', 12},
	{"cx16", 1, 'c', 13}, {"sse4_1", 1, 'c', 19}, {"sse4_2", 1, 'c', 20}, {"movbe", 1, 'c', 22},
	{"popcnt", 1, 'c', 23}, {"aes", 1, 'c', 25}, {"xsave", 1, 'c', 26}, {"avx", 1, 'c', 28},
	{"f16c", 1, 'c', 29}, {"rdrand", 1, 'c', 30}, {"hypervisor", 1, 'c', 31},
	{"bmi1", 7, 'b', 3}, {"avx2", 7, 'b', 5}, {"bmi2", 7, 'b', 8}, {"erms", 7, 'b', 9},
	{"avx512f", 7, 'b', 16}, {"avx512dq", 7, 'b', 17}, {"rdseed", 7, 'b', 18}, {"adx", 7, 'b', 19},
	{"avx512bw", 7, 'b', 30}, {"avx512vl", 7, 'b', 31}, {"sha_ni", 7, 'b', 29},
}

// writeCPUInfo writes /proc/cpuinfo in Linux's x86 format, one block per
// CPU, from the CPUID the program itself sees (rt.CpuidNative).
func writeCPUInfo(p *procBuf) {
	var vendor [12]byte
	maxLeaf, b, c, d := rt.CpuidNative(0, 0)
	for i := 0; i < 4; i++ {
		vendor[i], vendor[4+i], vendor[8+i] = byte(b>>(8*i)), byte(d>>(8*i)), byte(c>>(8*i))
	}
	sig, _, _, _ := rt.CpuidNative(1, 0)
	family, model := sig>>8&0xf, sig>>4&0xf
	if family == 0xf {
		family += sig >> 20 & 0xff
	}
	if family >= 6 {
		model |= sig >> 16 & 0xf << 4
	}
	var brand [48]byte
	brandLen := cpuBrand(&brand, rt.CpuidNative)
	if brandLen == 0 { // some hosts (PVM) leave the brand leaves empty at CPL 3
		brandLen = cpuBrand(&brand, rt.Cpuid)
	}
	khz := platform.TSCHz / 1000
	for cpu := 0; cpu < task.NCPU; cpu++ {
		p.numField("processor", uint64(cpu))
		p.field("vendor_id")
		p.bytes(vendor[:])
		p.str("\n")
		p.numField("cpu family", uint64(family))
		p.numField("model", uint64(model))
		p.field("model name")
		p.bytes(brand[:brandLen])
		p.str("\n")
		p.numField("stepping", uint64(sig&0xf))
		p.field("cpu MHz")
		p.num(khz/1000, 0)
		p.str(".")
		p.num(khz%1000/100, 0)
		p.num(khz%100/10, 0)
		p.num(khz%10, 0)
		p.str("\n")
		p.field("physical id")
		p.str("0\n")
		p.numField("siblings", uint64(task.NCPU))
		p.numField("core id", uint64(cpu))
		p.numField("cpu cores", uint64(task.NCPU))
		p.numField("apicid", uint64(task.CPUInfoAt(cpu).APICID))
		p.field("fpu")
		p.str("yes\n")
		p.field("flags")
		first := true
		leaf, b, c, d := ^uint32(0), uint32(0), uint32(0), uint32(0)
		for _, f := range cpuFlags {
			if f.leaf > maxLeaf && f.leaf < 0x80000000 {
				continue
			}
			if f.leaf != leaf { // one CPUID (a VM exit) per run of flags of a leaf
				leaf = f.leaf
				_, b, c, d = rt.CpuidNative(leaf, 0)
			}
			r := d
			switch f.reg {
			case 'b':
				r = b
			case 'c':
				r = c
			}
			if r>>f.bit&1 == 0 {
				continue
			}
			if !first {
				p.str(" ")
			}
			first = false
			p.str(f.name)
		}
		p.str("\n")
		p.field("bogomips")
		p.num(2*khz/1000, 0)
		p.str(".00\n")
		p.str("\n")
	}
}

// cpuBrand reads the processor brand string (CPUID 0x80000002-4) through
// cpuid into brand and returns its length.
func cpuBrand(brand *[48]byte, cpuid func(leaf, sub uint32) (a, b, c, d uint32)) int {
	if ext, _, _, _ := cpuid(0x80000000, 0); ext < 0x80000004 {
		return 0
	}
	for l := uint32(0); l < 3; l++ {
		a, b, c, d := cpuid(0x80000002+l, 0)
		for i, r := range [4]uint32{a, b, c, d} {
			for k := 0; k < 4; k++ {
				brand[l*16+uint32(i)*4+uint32(k)] = byte(r >> (8 * k))
			}
		}
	}
	n := 0
	for n < len(brand) && brand[n] != 0 {
		n++
	}
	for n > 0 && brand[n-1] == ' ' {
		n--
	}
	return n
}

// hex writes v in hexadecimal, at least width digits (zero-padded).
func (p *procBuf) hex(v uint64, width int) {
	var d kctx.Digits
	s := kctx.FormatUint(&d, v, 16)
	for i := len(s); i < width; i++ {
		p.str("0")
	}
	p.bytes(s)
}

// mapsLine writes one /proc/self/maps line: range, permissions (r, w, x,
// then p or s), file offset, device, inode, and the path if any, aligned
// at column 73 as Linux does.
func (p *procBuf) mapsLine(start, end uint64, prot uint32, shared bool, off, ino uint64, path string) {
	begin := p.n
	p.hex(start, 8)
	p.str("-")
	p.hex(end, 8)
	p.str(" ")
	for i, c := range [3]byte{'r', 'w', 'x'} {
		if prot&(1<<i) != 0 {
			p.bytes([]byte{c})
		} else {
			p.str("-")
		}
	}
	if shared {
		p.str("s ")
	} else {
		p.str("p ")
	}
	p.hex(off, 8)
	p.str(" 00:00 ")
	p.num(ino, 0)
	if path != "" {
		for p.n-begin < 73 {
			p.str(" ")
		}
		p.str(path)
	}
	p.str("\n")
}

// refreshMaps rewrites /proc/self/maps: the image's segments (as /init),
// then every VMA (anonymous, or a memfs file by inode number). Caller
// holds FSLock (which comes before mm.VMLock).
func refreshMaps() {
	if mapsIno == 0 {
		return
	}
	p := procBuf{b: mapsBuf[:]}
	for i := uintptr(0); i < mm.ImagePhnum; i++ {
		ph := mm.ImagePhdr + i*56
		if *kctx.At[uint32](ph) != 1 { // PT_LOAD
			continue
		}
		flags := *kctx.At[uint32](ph + 4) // PF_X 1, PF_W 2, PF_R 4
		prot := flags>>2&1 | flags&2 | flags<<2&4
		off, vaddr, memsz := *kctx.At[uint64](ph + 8), *kctx.At[uint64](ph + 16), *kctx.At[uint64](ph + 40)
		p.mapsLine(vaddr&^(mm.PageSize-1), uint64(mm.PageRound(uintptr(vaddr+memsz))), prot, false, off&^(mm.PageSize-1), 1, "/init")
	}
	mm.VMLock.Lock()
	for i := 0; i < mm.NumVMAs(); i++ {
		v := &mm.VMAs[i]
		var ino uint64
		if v.File != 0 {
			ino = memfs.Number(memfs.Inode(v.File))
		}
		p.mapsLine(uint64(v.Start), uint64(v.End), v.Prot, v.Shared, uint64(v.Off), ino, "")
	}
	mm.VMLock.Unlock()
	memfs.SetStaticSize(mapsIno, p.n)
}

// procFdPrefix is the path whose use rebuilds /proc/self/fd.
const procFdPrefix = "/proc/self/fd"

// refreshFdDirFor rebuilds /proc/self/fd when path (absolute) names it or
// something beneath it. Caller holds FSLock.
func refreshFdDirFor(path []byte) {
	if fdDirIno != 0 && kctx.HasPrefix(path, procFdPrefix) &&
		(len(path) == len(procFdPrefix) || path[len(procFdPrefix)] == '/') {
		refreshFdDir()
	}
}

// refreshFdDir makes /proc/self/fd hold one symlink per open descriptor,
// named by its number, whose target says what it is: a directory's path,
// "memfs:[INO]" for a file (memfs keeps no path of a file), the device
// path, or Linux's "pipe:[N]", "socket:[N]", "anon_inode:[...]" forms
// (N the object's address, a stable identity while it is open). Caller
// holds FSLock.
func refreshFdDir() {
	now := platform.Walltime()
	var name [8]byte
	for fd := 0; fd < MaxFDs; fd++ {
		w, bit := fd/64, uint64(1)<<(fd%64)
		if fdLinked[w]&bit != 0 {
			memfs.Unlink(fdDirIno, fdName(&name, fd), now)
			fdLinked[w] &^= bit
		}
		f := fds[fd].File
		if f == 0 {
			continue
		}
		var target [256]byte // a longer directory path shows as memfs:[INO]
		p := procBuf{b: target[:]}
		fdTarget(&p, Of(f))
		if memfs.Symlink(target[:p.n], fdDirIno, fdName(&name, fd), now) == 0 {
			fdLinked[w] |= bit
		}
	}
}

// fdName formats fd in decimal into name.
func fdName(name *[8]byte, fd int) []byte {
	p := procBuf{b: name[:]}
	p.num(uint64(fd), 0)
	return name[:p.n]
}

// fdTarget writes what /proc/self/fd/N points at for o.
func fdTarget(p *procBuf, o *OFile) {
	switch o.Kind {
	case fdConsole:
		p.str("/dev/console")
	case fdDevNull:
		p.str("/dev/null")
	case FdDevZero:
		p.str("/dev/zero")
	case fdDevRand:
		p.str("/dev/urandom")
	case fdDir:
		if n, err := memfs.Path(memfs.Inode(o.Obj), p.b[p.n:]); err == 0 {
			p.n += n
			return
		}
		p.str("memfs:[")
		p.num(memfs.Number(memfs.Inode(o.Obj)), 0)
		p.str("]")
	case FdFile:
		p.str("memfs:[")
		p.num(memfs.Number(memfs.Inode(o.Obj)), 0)
		p.str("]")
	case fdPipeR, fdPipeW:
		p.str("pipe:[")
		p.num(uint64(o.Obj), 0)
		p.str("]")
	case FdSocket:
		p.str("socket:[")
		p.num(uint64(o.Obj), 0)
		p.str("]")
	case FdEventfd:
		p.str("anon_inode:[eventfd]")
	case fdEpoll:
		p.str("anon_inode:[eventpoll]")
	default:
		p.str("anon_inode:[unigo]")
	}
}
