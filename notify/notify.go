package notify

import (
	"os"
	"syscall"

	"github.com/unigo-os/unigo/abi"
)

// Ready reports that the program is ready to serve. Only the first report
// counts; an error means the supervisor could not be told.
func Ready() error {
	_, _, e := syscall.Syscall(abi.SysReady, abi.ReadyNow, 0, 0)
	if e != syscall.ENOSYS {
		return errnoErr(e)
	}
	return sdNotify("READY=1")
}

// Defer says that the program will call Ready itself: its first listening
// socket no longer counts as ready. Call it before listening.
func Defer() error {
	_, _, e := syscall.Syscall(abi.SysReady, abi.ReadyDefer, 0, 0)
	if e != syscall.ENOSYS {
		return errnoErr(e)
	}
	return nil
}

func errnoErr(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// sdNotify sends state to $NOTIFY_SOCKET ("@name": an abstract socket), if
// the variable is set.
func sdNotify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer syscall.Close(fd)
	err = syscall.Sendto(fd, []byte(state), 0, &syscall.SockaddrUnix{Name: path})
	return os.NewSyscallError("sendto", err)
}
