package memfs

import "golang.org/x/sys/unix"

// Errno is a Linux error number; 0 means success. It is an alias of
// unix.Errno so the syscall layer can return -errno without conversion, and
// it is returned by value (never boxed into an error), so using it allocates
// nothing.
type Errno = unix.Errno

// The error numbers this package returns.
const (
	EOK          Errno = 0
	EPERM              = unix.EPERM
	ENOENT             = unix.ENOENT
	EACCES             = unix.EACCES
	EBUSY              = unix.EBUSY
	EEXIST             = unix.EEXIST
	EXDEV              = unix.EXDEV
	ENOTDIR            = unix.ENOTDIR
	EISDIR             = unix.EISDIR
	EINVAL             = unix.EINVAL
	EFBIG              = unix.EFBIG
	ENOSPC             = unix.ENOSPC
	ERANGE             = unix.ERANGE
	ENAMETOOLONG       = unix.ENAMETOOLONG
	ENOTEMPTY          = unix.ENOTEMPTY
	ELOOP              = unix.ELOOP
	EMLINK             = unix.EMLINK
)
