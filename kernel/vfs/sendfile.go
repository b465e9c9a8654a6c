package vfs

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/memfs"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/kernel/spinlock"
	"github.com/unigo-os/unigo/kernel/task"
	"github.com/unigo-os/unigo/rt"
)

// sendfile(2) and copy_file_range(2): in-kernel copies between two
// descriptors. The bytes go through a bounce buffer in the program's
// address space, so that the ordinary read and write operations of both
// kinds (which take user buffers) do the work: any readable seekable file
// in (Linux refuses pipes and sockets there too), any writable descriptor
// out.
//
// The bounce buffers are a small pool of anonymous mappings made on first
// use and kept; a call that finds them all busy maps one of its own for
// the call's duration. A program that unmaps one gets EFAULT from the
// calls that use it, nothing worse.

const (
	bounceSize  = 64 << 10
	bounceSlots = 4
)

var bounce struct {
	lock spinlock.Lock
	addr [bounceSlots]uintptr
	busy [bounceSlots]bool
}

// bounceGet returns a bounce buffer of bounceSize bytes and the slot it
// holds (-1: a private mapping bouncePut unmaps), or a negated errno.
func bounceGet() (uintptr, int, int64) {
	bounce.lock.Lock()
	for i := range bounce.busy {
		if !bounce.busy[i] && bounce.addr[i] != 0 {
			bounce.busy[i] = true
			bounce.lock.Unlock()
			return bounce.addr[i], i, 0
		}
	}
	slot := -1
	for i := range bounce.busy {
		if !bounce.busy[i] {
			bounce.busy[i] = true
			slot = i
			break
		}
	}
	bounce.lock.Unlock()
	r := mapAnonHook(bounceSize)
	if r < 0 {
		if slot >= 0 {
			bounce.lock.Lock()
			bounce.busy[slot] = false
			bounce.lock.Unlock()
		}
		return 0, 0, r
	}
	if slot >= 0 {
		bounce.lock.Lock()
		bounce.addr[slot] = uintptr(r)
		bounce.lock.Unlock()
	}
	return uintptr(r), slot, 0
}

func bouncePut(addr uintptr, slot int) {
	if slot < 0 {
		unmapHook(addr, bounceSize)
		return
	}
	bounce.lock.Lock()
	bounce.busy[slot] = false
	bounce.lock.Unlock()
}

func SysSendfile(f *rt.Frame) int64 {
	return doSendfile(FdArg(f.RDI), FdArg(f.RSI), uintptr(f.RDX), uintptr(f.R10))
}

func SysCopyFileRange(f *rt.Frame) int64 {
	if f.R9 != 0 {
		return -abi.EINVAL
	}
	return doCopyFileRange(FdArg(f.RDI), uintptr(f.RSI), FdArg(f.RDX), uintptr(f.R10), uintptr(f.R8))
}

// doSendfile copies up to count bytes from in to out. With offp set, in
// is read from *offp, which is advanced, and its file offset is left
// alone; without, in is read from its offset, which is advanced.
func doSendfile(outFD, inFD int, offp, count uintptr) int64 {
	in, out := fget2(inFD, outFD)
	if in == 0 {
		return -abi.EBADF
	}
	r := sendfile(in, out, offp, count)
	Fput(in)
	Fput(out)
	return r
}

// fget2 is fget of two descriptors: both files, or 0 and nothing held.
func fget2(a, b int) (uintptr, uintptr) {
	fa := Fget(a)
	if fa == 0 {
		return 0, 0
	}
	fb := Fget(b)
	if fb == 0 {
		Fput(fa)
		return 0, 0
	}
	return fa, fb
}

func sendfile(in, out, offp, count uintptr) int64 {
	if Of(out).Flags&OAccMode == oRdonly && !OpsOf(Of(out).Kind).anyAccess {
		return -abi.EBADF
	}
	if Of(out).Flags&oAppend != 0 {
		return -abi.EINVAL // as Linux
	}
	if !seekable(Of(in).Kind) {
		return -abi.EINVAL // a pipe or a socket, as on Linux
	}
	var pos int64 = -1
	if offp != 0 {
		if !mm.UserOK(offp, 8, true) {
			return -abi.EFAULT
		}
		pos = *kctx.At[int64](offp)
		if pos < 0 {
			return -abi.EINVAL
		}
	}
	n := copyFds(in, out, pos, -1, count)
	if offp != 0 && n > 0 && mm.UserOK(offp, 8, true) { // unmapped meanwhile: the count still says
		*kctx.At[int64](offp) = pos + n
	}
	return n
}

// doCopyFileRange copies between two regular memfs files, each at its
// offset pointer or, without one, at its file offset.
func doCopyFileRange(inFD int, inOffp uintptr, outFD int, outOffp, count uintptr) int64 {
	in, out := fget2(inFD, outFD)
	if in == 0 {
		return -abi.EBADF
	}
	r := copyFileRange(in, inOffp, out, outOffp, count)
	Fput(in)
	Fput(out)
	return r
}

func copyFileRange(in, inOffp, out, outOffp, count uintptr) int64 {
	if Of(in).Flags&OAccMode == OWronly || Of(out).Flags&OAccMode == oRdonly ||
		Of(in).Flags&OPath != 0 || Of(out).Flags&OPath != 0 {
		return -abi.EBADF
	}
	if Of(out).Flags&oAppend != 0 {
		return -abi.EBADF
	}
	if Of(in).Kind != FdFile || Of(out).Kind != FdFile || !isRegular(Of(in)) || !isRegular(Of(out)) {
		return -abi.EINVAL
	}
	inPos, outPos := int64(-1), int64(-1)
	for i, p := range [2]uintptr{inOffp, outOffp} {
		if p == 0 {
			continue
		}
		if !mm.UserOK(p, 8, true) {
			return -abi.EFAULT
		}
		v := *kctx.At[int64](p)
		if v < 0 {
			return -abi.EINVAL
		}
		if i == 0 {
			inPos = v
		} else {
			outPos = v
		}
	}
	if Of(in).Obj == Of(out).Obj {
		// Linux refuses overlapping ranges of one file.
		FSLock.Lock()
		a, b := inPos, outPos
		if a < 0 {
			a = Of(in).off
		}
		if b < 0 {
			b = Of(out).off
		}
		FSLock.Unlock()
		c := int64(count)
		if c < 0 || c > MaxRW {
			c = MaxRW
		}
		if a < b+c && b < a+c {
			return -abi.EINVAL
		}
	}
	n := copyFds(in, out, inPos, outPos, count)
	if n > 0 {
		// Checked again: another thread may have unmapped them meanwhile.
		if inOffp != 0 && mm.UserOK(inOffp, 8, true) {
			*kctx.At[int64](inOffp) = inPos + n
		}
		if outOffp != 0 && mm.UserOK(outOffp, 8, true) {
			*kctx.At[int64](outOffp) = outPos + n
		}
	}
	return n
}

func isRegular(o *OFile) bool {
	FSLock.Lock()
	r := memfs.Mode(memfs.Inode(o.Obj))&memfs.ModeType == memfs.ModeRegular
	FSLock.Unlock()
	return r
}

// copyFds copies up to count bytes from the seekable in, read at inPos
// (< 0: its file offset, advanced by what was written), to out, written
// at outPos (< 0: as write(2) does). It stops at the end of in, at a short
// or failed write, or after count bytes, and returns the bytes written,
// or the error when none were.
func copyFds(in, out uintptr, inPos, outPos int64, count uintptr) int64 {
	if count > MaxRW {
		count = MaxRW
	}
	if count == 0 {
		return 0
	}
	buf, slot, err := bounceGet()
	if err < 0 {
		return err
	}
	defer bouncePut(buf, slot)
	useOff := inPos < 0
	if useOff {
		FSLock.Lock()
		inPos = Of(in).off
		FSLock.Unlock()
	}
	var total int64
	var res int64
	for uintptr(total) < count {
		if total > 0 && task.SignalWaiting() {
			break // a long copy stops short for a signal, as on Linux
		}
		c := count - uintptr(total)
		if c > bounceSize {
			c = bounceSize
		}
		r := fileRead(in, buf, c, inPos+total)
		if r <= 0 {
			res = r
			break
		}
		wpos := int64(-1)
		if outPos >= 0 {
			wpos = outPos + total
		}
		w := fileWrite(out, buf, uintptr(r), wpos)
		if w < 0 {
			res = w
			break
		}
		total += w
		if w < r {
			break
		}
	}
	if useOff && total > 0 {
		FSLock.Lock()
		Of(in).off = inPos + total
		FSLock.Unlock()
	}
	if total == 0 {
		return res
	}
	return total
}
