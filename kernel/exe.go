package kernel

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/memfs"
	"github.com/unigo-os/unigo/kernel/mm"
)

// The image file as /init (and so /proc/self/exe and os.Executable()).
//
// The running image is only its loaded segments; programs that re-read
// their own binary (debug/buildinfo, self-checksums) need the file. The
// monitor passes it whole as PVH module 0 and /init is a read-only static
// memfs file over its pages. The launcher maps it from the file above
// RAM, in a range the memory map calls reserved, so it costs the guest
// none of its RAM; QEMU loads it with -initrd into RAM, whose pages are
// then kept out of the page allocator. Either way the identity map covers
// it (mm.Init up to exeMapEnd).
//
// start_info comes from the monitor, so the module is checked before it
// is trusted: inside one RAM or reserved range of the memory map, above
// the first MiB and below mm.MapLimit, clear of the image's own memory,
// page-aligned, and (once it is mapped) starting with the same ELF header
// as the running image. A module that fails is ignored with one line on
// the console, and /init stays absent.

var exe struct {
	base, size uintptr // the module, 0 if none
}

// exeMaxSize bounds the module (a sanity limit far above any image).
const exeMaxSize = 1 << 30

// exeFind records module 0 of start_info if it passes the checks that
// need no access to its bytes. It runs after findImage and before
// memInit, which leaves the module's pages alone.
func exeFind(info *abi.HVMStartInfo) {
	if info.NrModules == 0 || info.ModlistPaddr == 0 {
		return
	}
	ml := uintptr(info.ModlistPaddr)
	// The boot identity map covers the first GiB: the entry must be there.
	if ml+abi.HVMModlistSize < ml || ml+abi.HVMModlistSize > 1<<30 {
		exeReject("module list outside the first GiB")
		return
	}
	m := kctx.At[abi.HVMModlistEntry](ml)
	if why := exeCheck(uintptr(m.Paddr), uintptr(m.Size)); why != "" {
		exeReject(why)
		return
	}
	exe.base, exe.size = uintptr(m.Paddr), uintptr(m.Size)
}

// exeCheck returns why the module [base, base+size) cannot be used, or "".
func exeCheck(base, size uintptr) string {
	end := base + size
	switch {
	case size == 0 || size > exeMaxSize || end < base:
		return "bad size"
	case base&(mm.PageSize-1) != 0:
		return "not page-aligned"
	case base < 1<<20 || end > mm.MapLimit || !inOneRange(base, mm.PageRound(end)):
		return "not inside RAM or a reserved range above 1 MiB"
	case base < mm.ImageEnd && mm.PageRound(end) > mm.ImageStart:
		return "overlaps the image"
	}
	return ""
}

func exeReject(why string) {
	kctx.Print("unigo: boot module ignored (")
	kctx.Print(why)
	kctx.Print("): /init and /proc/self/exe are absent\n")
}

// inOneRange reports whether [start, end) lies inside one RAM range or
// one reserved range of the memory map.
func inOneRange(start, end uintptr) bool {
	for i := 0; i < nRAM; i++ {
		if start >= ramRanges[i][0] && end <= ramRanges[i][1] {
			return true
		}
	}
	for i := 0; i < nReserved; i++ {
		if start >= reservedRanges[i][0] && end <= reservedRanges[i][1] {
			return true
		}
	}
	return false
}

// exeMapEnd is the end of the module's pages, 0 if there is none.
func exeMapEnd() uintptr {
	if exe.size == 0 {
		return 0
	}
	return mm.PageRound(exe.base + exe.size)
}

// exeSplit reports whether [start, end) meets the module's pages and, if
// so, the parts of it below and above them.
func exeSplit(start, end uintptr) (lo, hi [2]uintptr, split bool) {
	mEnd := mm.PageRound(exe.base + exe.size)
	if exe.size == 0 || start >= mEnd || end <= exe.base {
		return lo, hi, false
	}
	return [2]uintptr{start, exe.base}, [2]uintptr{mEnd, end}, true
}

// exeAddFile creates /init over the module once it is mapped,
// after checking that it starts with the running image's ELF header.
// Caller holds fsLock.
func exeAddFile(now int64) {
	if exe.size == 0 {
		return
	}
	const ehdr = 64
	if exe.size < ehdr || string(kctx.BytesAt(exe.base, ehdr)) != string(kctx.BytesAt(mm.ImageStart, ehdr)) {
		exeReject("not this image")
		exe.size = 0 // its pages stay unused: kmem already has its ranges
		return
	}
	memfs.AddStatic(kctx.StringBytes("/init"), kctx.BytesAt(exe.base, int(exe.size)), 0o555, now)
}
