package socket

import (
	"github.com/unigo-os/unigo/kernel/vfs"
	"github.com/unigo-os/unigo/rt"
)

// Handlers: sockets, and the netstack channel's private calls.

func SysSocket(f *rt.Frame) int64 {
	return doSocket(int(int32(f.RDI)), int(int32(f.RSI)), int(int32(f.RDX)))
}
func SysSocketpair(f *rt.Frame) int64 {
	return doSocketpair(int(int32(f.RDI)), int(int32(f.RSI)), int(int32(f.RDX)), uintptr(f.R10))
}
func SysBind(f *rt.Frame) int64 { return doBind(vfs.FdArg(f.RDI), uintptr(f.RSI), uint32(f.RDX)) }
func SysListen(f *rt.Frame) int64 {
	r := doListen(vfs.FdArg(f.RDI), int(int32(f.RSI)))
	if r == 0 {
		listeningHook(vfs.FdArg(f.RDI)) // the launcher's readiness: kernel/hostsignal.go
	}
	return r
}
func SysConnect(f *rt.Frame) int64 {
	return doConnect(vfs.FdArg(f.RDI), uintptr(f.RSI), uint32(f.RDX))
}
func SysAccept(f *rt.Frame) int64 {
	return doAccept4(vfs.FdArg(f.RDI), uintptr(f.RSI), uintptr(f.RDX), 0)
}
func SysAccept4(f *rt.Frame) int64 {
	return doAccept4(vfs.FdArg(f.RDI), uintptr(f.RSI), uintptr(f.RDX), int(int32(f.R10)))
}
func SysShutdown(f *rt.Frame) int64 { return doShutdown(vfs.FdArg(f.RDI), int(int32(f.RSI))) }
func SysGetsockname(f *rt.Frame) int64 {
	return doGetsockname(vfs.FdArg(f.RDI), uintptr(f.RSI), uintptr(f.RDX), false)
}
func SysGetpeername(f *rt.Frame) int64 {
	return doGetsockname(vfs.FdArg(f.RDI), uintptr(f.RSI), uintptr(f.RDX), true)
}
func SysSendto(f *rt.Frame) int64 {
	return doSendto(vfs.FdArg(f.RDI), uintptr(f.RSI), uintptr(f.RDX), int(int32(f.R10)), uintptr(f.R8), uint32(f.R9))
}
func SysRecvfrom(f *rt.Frame) int64 {
	return doRecvfrom(vfs.FdArg(f.RDI), uintptr(f.RSI), uintptr(f.RDX), int(int32(f.R10)), uintptr(f.R8), uintptr(f.R9))
}
func SysSendmsg(f *rt.Frame) int64 {
	return doSendmsg(vfs.FdArg(f.RDI), uintptr(f.RSI), int(int32(f.RDX)))
}
func SysRecvmsg(f *rt.Frame) int64 {
	return doRecvmsg(vfs.FdArg(f.RDI), uintptr(f.RSI), int(int32(f.RDX)))
}
func SysSetsockopt(f *rt.Frame) int64 {
	return doSetsockopt(vfs.FdArg(f.RDI), int(int32(f.RSI)), int(int32(f.RDX)), uintptr(f.R10), uint32(f.R8))
}
func SysGetsockopt(f *rt.Frame) int64 {
	return doGetsockopt(vfs.FdArg(f.RDI), int(int32(f.RSI)), int(int32(f.RDX)), uintptr(f.R10), uintptr(f.R8))
}

func SysNetAttach(f *rt.Frame) int64 { return doNetAttach() }
func SysNetReply(f *rt.Frame) int64 {
	return doNetReply(f.RDI, int64(f.RSI), uintptr(f.RDX), uint32(f.R10))
}
func SysNetState(f *rt.Frame) int64 {
	return doNetState(f.RDI, int(f.RSI), int64(f.RDX), uintptr(f.R10), uintptr(f.R8), uint32(f.R9))
}
func SysNetRx(f *rt.Frame) int64 {
	return doNetRx(f.RDI, uintptr(f.RSI), uintptr(f.RDX), uintptr(f.R10), uint32(f.R8))
}
func SysNetTx(f *rt.Frame) int64 {
	return doNetTx(f.RDI, uintptr(f.RSI), uintptr(f.RDX), uintptr(f.R10), uintptr(f.R8))
}
func SysNetAccept(f *rt.Frame) int64 {
	return doNetAccept(f.RDI, uintptr(f.RSI), uintptr(f.RDX), uint32(f.R10))
}
func SysNetRelease(f *rt.Frame) int64 { return doNetRelease(f.RDI) }
