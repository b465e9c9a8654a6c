package kernel

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/rt"
)

// File descriptors. fds 0, 1 and 2 are the console.
const maxFDs = 1024

const (
	fdFree = iota
	fdConsole
)

type fdEntry struct {
	kind  uint32
	flags uint32
	obj   uintptr
	off   int64
}

var fds [maxFDs]fdEntry

func fdInit() {
	for i := 0; i < 3; i++ {
		fds[i].kind = fdConsole
	}
}

func fdGet(fd int) *fdEntry {
	if fd < 0 || fd >= maxFDs || fds[fd].kind == fdFree {
		return nil
	}
	return &fds[fd]
}

func fdWrite(fd int, buf, n uintptr) int64 {
	e := fdGet(fd)
	if e == nil {
		return -EBADF
	}
	if !userOK(buf, n, false) {
		return -EFAULT
	}
	switch e.kind {
	case fdConsole:
		consoleWrite(bytesAt(buf, int(n)))
		return int64(n)
	}
	return -EBADF
}

func fdRead(fd int, buf, n uintptr) int64 {
	e := fdGet(fd)
	if e == nil {
		return -EBADF
	}
	if !userOK(buf, n, true) {
		return -EFAULT
	}
	switch e.kind {
	case fdConsole:
		return consoleRead(bytesAt(buf, int(n)))
	}
	return -EBADF
}

func fdWritev(fd int, iov uintptr, cnt int) int64 {
	if cnt < 0 || cnt > 1024 || !userOK(iov, uintptr(cnt)*16, false) {
		return -EINVAL
	}
	var total int64
	for i := 0; i < cnt; i++ {
		v := at[[2]uintptr](iov + uintptr(i)*16)
		if v[1] == 0 {
			continue
		}
		r := fdWrite(fd, v[0], v[1])
		if r < 0 {
			if total > 0 {
				return total
			}
			return r
		}
		total += r
	}
	return total
}

func fdReadv(fd int, iov uintptr, cnt int) int64 {
	if cnt < 0 || cnt > 1024 || !userOK(iov, uintptr(cnt)*16, false) {
		return -EINVAL
	}
	var total int64
	for i := 0; i < cnt; i++ {
		v := at[[2]uintptr](iov + uintptr(i)*16)
		r := fdRead(fd, v[0], v[1])
		if r < 0 {
			if total > 0 {
				return total
			}
			return r
		}
		total += r
		if uintptr(r) < v[1] {
			break
		}
	}
	return total
}

// Console input: bytes from the UART's receive interrupt, in a ring.
var (
	conIn       [4096]byte
	conHead     int
	conTail     int
	conReader   uintptr // thread blocked in read(0)
	conIRQReady bool
)

func consoleIRQ() {
	for rt.Inb(abi.PortCOM1+5)&1 != 0 {
		c := rt.Inb(abi.PortCOM1)
		if (conTail+1)%len(conIn) != conHead {
			conIn[conTail] = c
			conTail = (conTail + 1) % len(conIn)
		}
	}
	if conReader != 0 {
		th(conReader).woken = true
		wakeup(conReader)
		conReader = 0
	}
}

func consoleRead(b []byte) int64 {
	if len(b) == 0 {
		return 0
	}
	schedLock.Lock()
	defer schedLock.Unlock()
	if !conIRQReady {
		conIRQReady = true
		ioapicRoute(abi.IRQCOM1)
		rt.Outb(abi.PortCOM1+1, 0x01) // receive-data interrupt
	}
	for conHead == conTail {
		consoleIRQ() // poll once: input may predate the interrupt
		if conHead != conTail {
			break
		}
		conReader = cpu().Current
		block(0)
	}
	n := 0
	for n < len(b) && conHead != conTail {
		b[n] = conIn[conHead]
		conHead = (conHead + 1) % len(conIn)
		n++
	}
	return int64(n)
}

// fileSyscall serves the file system calls; ok is false for calls it
// does not know.
func fileSyscall(f *rt.Frame) (int64, bool) {
	switch f.RAX {
	case sysOpenat, sysOpen:
		return -ENOENT, true
	case sysClose:
		if e := fdGet(int(f.RDI)); e != nil {
			if int(f.RDI) > 2 {
				e.kind = fdFree
			}
			return 0, true
		}
		return -EBADF, true
	case sysFcntl:
		if fdGet(int(f.RDI)) == nil {
			return -EBADF, true
		}
		return 0, true
	case sysIoctl:
		return -ENOTTY, true
	}
	return 0, false
}
