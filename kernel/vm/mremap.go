package vm

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/kernel/task"
	"github.com/unigo-os/unigo/rt"
)

// mremap(2): grow or shrink a mapping in place, or move it (its pages
// move with it, kernel/mm/remap.go). The source must lie in one VMA, as
// on Linux; anonymous and file mappings alike.
const (
	mremapMaymove   = 1
	mremapFixed     = 2
	mremapDontunmap = 4
)

func SysMremap(f *rt.Frame) int64 {
	return doMremap(uintptr(f.RDI), uintptr(f.RSI), uintptr(f.RDX), int(f.R10), uintptr(f.R8))
}

func doMremap(old, oldSize, newSize uintptr, flags int, newAddr uintptr) int64 {
	if flags&^(mremapMaymove|mremapFixed|mremapDontunmap) != 0 ||
		flags&mremapFixed != 0 && flags&mremapMaymove == 0 {
		return -abi.EINVAL
	}
	if flags&mremapDontunmap != 0 {
		return -abi.EINVAL // not supported
	}
	if old&(mm.PageSize-1) != 0 || oldSize == 0 || newSize == 0 {
		return -abi.EINVAL
	}
	oldSize, newSize = mm.PageRound(oldSize), mm.PageRound(newSize)
	if oldSize == 0 || newSize == 0 {
		return -abi.EINVAL // rounding overflowed
	}
	start, end, ok := checkRange(old, oldSize)
	if !ok {
		return -abi.EFAULT
	}
	if flags&mremapFixed != 0 {
		ns, ne, ok := checkRange(newAddr, newSize)
		if !ok || ns < end && ne > start {
			return -abi.EINVAL
		}
	}
	fs := lockVM(false)
	r := mremapLocked(start, oldSize, newSize, flags, newAddr)
	unlockVM(fs)
	return r
}

// mremapLocked does the work under lockVM.
func mremapLocked(old, oldSize, newSize uintptr, flags int, newAddr uintptr) int64 {
	i := mm.OneVMA(old, old+oldSize)
	if i < 0 {
		return -abi.EFAULT
	}
	if flags&mremapFixed != 0 {
		mm.UnmapPages(newAddr, newAddr+newSize, task.TLBShootdown)
		if !mm.SetRange(newAddr, newAddr+newSize, -1) {
			return -abi.ENOMEM
		}
		// The unmapping may have shifted the table.
		if i = mm.OneVMA(old, old+oldSize); i < 0 || !mm.Move(i, old, oldSize, newAddr, newSize, task.TLBShootdown) {
			return -abi.ENOMEM
		}
		return int64(newAddr)
	}
	grow := newSize > oldSize
	if !grow || old+newSize <= mm.UserTop && old+newSize > old && mm.RangeFree(old+oldSize, old+newSize) {
		if !mm.Resize(i, old, oldSize, newSize, task.TLBShootdown) {
			return -abi.ENOMEM
		}
		return int64(old)
	}
	if flags&mremapMaymove == 0 {
		return -abi.ENOMEM
	}
	dst := mm.FindGap(newSize)
	if dst == 0 || !mm.Move(i, old, oldSize, dst, newSize, task.TLBShootdown) {
		return -abi.ENOMEM
	}
	return int64(dst)
}
