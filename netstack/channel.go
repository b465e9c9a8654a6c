package netstack

import (
	"github.com/unigo-os/unigo/abi"
	"syscall"
	"unsafe"
)

// The netstack channel's private system calls (abi/netchan.go).
// All are non-blocking in the kernel.

func attach() (int, syscall.Errno) {
	r, _, e := syscall.RawSyscall(abi.SysNetAttach, 0, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(r), 0
}

// sockaddrBuf is a struct sockaddr as the kernel takes it.
type sockaddrBuf struct {
	b [112]byte
	n uint32
}

func (a *sockaddrBuf) ptr() uintptr {
	if a == nil || a.n == 0 {
		return 0
	}
	return uintptr(unsafe.Pointer(&a.b[0]))
}

func (a *sockaddrBuf) len() uintptr {
	if a == nil {
		return 0
	}
	return uintptr(a.n)
}

func netReply(id uint64, errno syscall.Errno, local *sockaddrBuf) {
	syscall.RawSyscall6(abi.SysNetReply, uintptr(id), uintptr(errno), local.ptr(), local.len(), 0, 0)
}

func netState(id uint64, kind int, errno syscall.Errno, local, remote *sockaddrBuf) {
	n := local.len()
	if remote != nil && remote.n > 0 && n == 0 {
		n = remote.len()
	}
	if local != nil && remote != nil && local.n > 0 && remote.n > 0 && remote.n > local.n {
		n = remote.len()
	}
	syscall.RawSyscall6(abi.SysNetState, uintptr(id), uintptr(kind), uintptr(errno), local.ptr(), remote.ptr(), n)
}

// netRx gives the kernel received bytes (or one datagram, from); it
// returns how many it took, or an errno (EAGAIN: full).
func netRx(id uint64, p []byte, from *sockaddrBuf) (int, syscall.Errno) {
	var bp uintptr
	if len(p) > 0 {
		bp = uintptr(unsafe.Pointer(&p[0]))
	}
	r, _, e := syscall.RawSyscall6(abi.SysNetRx, uintptr(id), bp, uintptr(len(p)), from.ptr(), from.len(), 0)
	if e != 0 {
		return 0, e
	}
	return int(r), 0
}

// netTx takes queued bytes (or one datagram and its destination) from
// the kernel into p.
func netTx(id uint64, p []byte, to *sockaddrBuf) (int, syscall.Errno) {
	var tp, tl uintptr
	if to != nil {
		tp = uintptr(unsafe.Pointer(&to.b[0]))
		tl = uintptr(unsafe.Pointer(&to.n))
	}
	r, _, e := syscall.RawSyscall6(abi.SysNetTx, uintptr(id), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), tp, tl, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), 0
}

func netAccept(lid uint64, local, remote *sockaddrBuf) (uint64, syscall.Errno) {
	n := local.len()
	if remote.n > local.n {
		n = remote.len()
	}
	r, _, e := syscall.RawSyscall6(abi.SysNetAccept, uintptr(lid), local.ptr(), remote.ptr(), n, 0, 0)
	if e != 0 {
		return 0, e
	}
	return uint64(r), 0
}

func netRelease(id uint64) {
	syscall.RawSyscall(abi.SysNetRelease, uintptr(id), 0, 0)
}
