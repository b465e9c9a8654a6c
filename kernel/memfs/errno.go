package memfs

import (
	"golang.org/x/sys/unix"

	"github.com/unigo-os/unigo/abi"
)

// Errno is a Linux error number; 0 means success. It is an alias of
// unix.Errno so the syscall layer can return -errno without conversion, and
// it is returned by value (never boxed into an error), so using it allocates
// nothing.
type Errno = unix.Errno

// The error numbers this package returns; the values are abi's.
const (
	EOK          = Errno(0)
	EPERM        = Errno(abi.EPERM)
	ENOENT       = Errno(abi.ENOENT)
	EACCES       = Errno(abi.EACCES)
	EBUSY        = Errno(abi.EBUSY)
	EEXIST       = Errno(abi.EEXIST)
	EXDEV        = Errno(abi.EXDEV)
	ENOTDIR      = Errno(abi.ENOTDIR)
	EISDIR       = Errno(abi.EISDIR)
	EINVAL       = Errno(abi.EINVAL)
	EFBIG        = Errno(abi.EFBIG)
	ENOSPC       = Errno(abi.ENOSPC)
	ERANGE       = Errno(abi.ERANGE)
	ENAMETOOLONG = Errno(abi.ENAMETOOLONG)
	ENOTEMPTY    = Errno(abi.ENOTEMPTY)
	ELOOP        = Errno(abi.ELOOP)
	EMLINK       = Errno(abi.EMLINK)
	ENODEV       = Errno(abi.ENODEV)
)
