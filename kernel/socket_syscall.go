package kernel

import (
	"github.com/unigo-os/unigo/kernel/vfs"
	"github.com/unigo-os/unigo/rt"
)

// Handlers: sockets, and the netstack channel's private calls.

func sysSocket(f *rt.Frame) int64 {
	return doSocket(int(int32(f.RDI)), int(int32(f.RSI)), int(int32(f.RDX)))
}
func sysSocketpair(f *rt.Frame) int64 {
	return doSocketpair(int(int32(f.RDI)), int(int32(f.RSI)), int(int32(f.RDX)), uintptr(f.R10))
}
func sysBind(f *rt.Frame) int64 { return doBind(vfs.FdArg(f.RDI), uintptr(f.RSI), uint32(f.RDX)) }
func sysListen(f *rt.Frame) int64 {
	r := doListen(vfs.FdArg(f.RDI), int(int32(f.RSI)))
	if r == 0 {
		hostListening(vfs.FdArg(f.RDI)) // hostsignal.go: readiness for the launcher
	}
	return r
}
func sysConnect(f *rt.Frame) int64 {
	return doConnect(vfs.FdArg(f.RDI), uintptr(f.RSI), uint32(f.RDX))
}
func sysAccept(f *rt.Frame) int64 {
	return doAccept4(vfs.FdArg(f.RDI), uintptr(f.RSI), uintptr(f.RDX), 0)
}
func sysAccept4(f *rt.Frame) int64 {
	return doAccept4(vfs.FdArg(f.RDI), uintptr(f.RSI), uintptr(f.RDX), int(int32(f.R10)))
}
func sysShutdown(f *rt.Frame) int64 { return doShutdown(vfs.FdArg(f.RDI), int(int32(f.RSI))) }
func sysGetsockname(f *rt.Frame) int64 {
	return doGetsockname(vfs.FdArg(f.RDI), uintptr(f.RSI), uintptr(f.RDX), false)
}
func sysGetpeername(f *rt.Frame) int64 {
	return doGetsockname(vfs.FdArg(f.RDI), uintptr(f.RSI), uintptr(f.RDX), true)
}
func sysSendto(f *rt.Frame) int64 {
	return doSendto(vfs.FdArg(f.RDI), uintptr(f.RSI), uintptr(f.RDX), int(int32(f.R10)), uintptr(f.R8), uint32(f.R9))
}
func sysRecvfrom(f *rt.Frame) int64 {
	return doRecvfrom(vfs.FdArg(f.RDI), uintptr(f.RSI), uintptr(f.RDX), int(int32(f.R10)), uintptr(f.R8), uintptr(f.R9))
}
func sysSendmsg(f *rt.Frame) int64 {
	return doSendmsg(vfs.FdArg(f.RDI), uintptr(f.RSI), int(int32(f.RDX)))
}
func sysRecvmsg(f *rt.Frame) int64 {
	return doRecvmsg(vfs.FdArg(f.RDI), uintptr(f.RSI), int(int32(f.RDX)))
}
func sysSetsockopt(f *rt.Frame) int64 {
	return doSetsockopt(vfs.FdArg(f.RDI), int(int32(f.RSI)), int(int32(f.RDX)), uintptr(f.R10), uint32(f.R8))
}
func sysGetsockopt(f *rt.Frame) int64 {
	return doGetsockopt(vfs.FdArg(f.RDI), int(int32(f.RSI)), int(int32(f.RDX)), uintptr(f.R10), uintptr(f.R8))
}

func sysNetAttach(f *rt.Frame) int64 { return doNetAttach() }
func sysNetReply(f *rt.Frame) int64 {
	return doNetReply(f.RDI, int64(f.RSI), uintptr(f.RDX), uint32(f.R10))
}
func sysNetState(f *rt.Frame) int64 {
	return doNetState(f.RDI, int(f.RSI), int64(f.RDX), uintptr(f.R10), uintptr(f.R8), uint32(f.R9))
}
func sysNetRx(f *rt.Frame) int64 {
	return doNetRx(f.RDI, uintptr(f.RSI), uintptr(f.RDX), uintptr(f.R10), uint32(f.R8))
}
func sysNetTx(f *rt.Frame) int64 {
	return doNetTx(f.RDI, uintptr(f.RSI), uintptr(f.RDX), uintptr(f.R10), uintptr(f.R8))
}
func sysNetAccept(f *rt.Frame) int64 {
	return doNetAccept(f.RDI, uintptr(f.RSI), uintptr(f.RDX), uint32(f.R10))
}
func sysNetRelease(f *rt.Frame) int64 { return doNetRelease(f.RDI) }
