package kernel

import (
	"github.com/unigo-os/unigo/rt"

	"github.com/unigo-os/unigo/abi"
)

// Socket system call numbers (Linux x86-64).
const (
	sysSocket      = 41
	sysConnect     = 42
	sysAccept      = 43
	sysSendto      = 44
	sysRecvfrom    = 45
	sysSendmsg     = 46
	sysRecvmsg     = 47
	sysShutdown    = 48
	sysBind        = 49
	sysListen      = 50
	sysGetsockname = 51
	sysGetpeername = 52
	sysSocketpair  = 53
	sysSetsockopt  = 54
	sysGetsockopt  = 55
	sysAccept4     = 288
)

// socketSyscall serves the socket calls and the netstack channel's
// private calls; ok is false for any other number.
func socketSyscall(f *rt.Frame) (r int64, ok bool) {
	a0, a1, a2 := uintptr(f.RDI), uintptr(f.RSI), uintptr(f.RDX)
	a3, a4, a5 := uintptr(f.R10), uintptr(f.R8), uintptr(f.R9)
	switch f.RAX {
	case sysSocket:
		return sysSocketImpl(int(int32(a0)), int(int32(a1)), int(int32(a2))), true
	case sysSocketpair:
		return sysSocketpairImpl(int(int32(a0)), int(int32(a1)), int(int32(a2)), a3), true
	case sysBind:
		return sysBindImpl(int(int32(a0)), a1, uint32(a2)), true
	case sysListen:
		r := sysListenImpl(int(int32(a0)), int(int32(a1)))
		if r == 0 {
			hostListening(int(int32(a0))) // hostsignal.go
		}
		return r, true
	case sysConnect:
		return sysConnectImpl(int(int32(a0)), a1, uint32(a2)), true
	case sysAccept:
		return sysAccept4Impl(int(int32(a0)), a1, a2, 0), true
	case sysAccept4:
		return sysAccept4Impl(int(int32(a0)), a1, a2, int(int32(a3))), true
	case sysShutdown:
		return sysShutdownImpl(int(int32(a0)), int(int32(a1))), true
	case sysGetsockname:
		return sysGetsocknameImpl(int(int32(a0)), a1, a2, false), true
	case sysGetpeername:
		return sysGetsocknameImpl(int(int32(a0)), a1, a2, true), true
	case sysSendto:
		return sysSendtoImpl(int(int32(a0)), a1, a2, int(int32(a3)), a4, uint32(a5)), true
	case sysRecvfrom:
		return sysRecvfromImpl(int(int32(a0)), a1, a2, int(int32(a3)), a4, a5), true
	case sysSendmsg:
		return sysSendmsgImpl(int(int32(a0)), a1, int(int32(a2))), true
	case sysRecvmsg:
		return sysRecvmsgImpl(int(int32(a0)), a1, int(int32(a2))), true
	case sysSetsockopt:
		return sysSetsockoptImpl(int(int32(a0)), int(int32(a1)), int(int32(a2)), a3, uint32(a4)), true
	case sysGetsockopt:
		return sysGetsockoptImpl(int(int32(a0)), int(int32(a1)), int(int32(a2)), a3, a4), true
	case abi.SysNetAttach:
		return sysNetAttachImpl(), true
	case abi.SysNetReply:
		return sysNetReplyImpl(uint64(a0), int64(a1), a2, uint32(a3)), true
	case abi.SysNetState:
		return sysNetStateImpl(uint64(a0), int(a1), int64(a2), a3, a4, uint32(a5)), true
	case abi.SysNetRx:
		return sysNetRxImpl(uint64(a0), a1, a2, a3, uint32(a4)), true
	case abi.SysNetTx:
		return sysNetTxImpl(uint64(a0), a1, a2, a3, a4), true
	case abi.SysNetAccept:
		return sysNetAcceptImpl(uint64(a0), a1, a2, uint32(a3)), true
	case abi.SysNetRelease:
		return sysNetReleaseImpl(uint64(a0)), true
	}
	return 0, false
}
