package kernel

// Linux errno values returned (negated) by system calls.
const (
	EPERM      = 1
	ENOENT     = 2
	ESRCH      = 3
	EINTR      = 4
	EIO        = 5
	EBADF      = 9
	ECHILD     = 10
	EAGAIN     = 11
	ENOMEM     = 12
	EACCES     = 13
	EFAULT     = 14
	EEXIST     = 17
	ENOTDIR    = 20
	EISDIR     = 21
	EINVAL     = 22
	ENFILE     = 23
	EMFILE     = 24
	ENOTTY     = 25
	ESPIPE     = 29
	ERANGE     = 34
	ENOSYS     = 38
	ENOTEMPTY  = 39
	ETIMEDOUT  = 110
	EOPNOTSUPP = 95
	ENODEV     = 19
	EBUSY      = 16
)
