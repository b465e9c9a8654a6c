package abi

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"golang.org/x/sys/unix"
)

// TestLinuxErrno checks the generated errno table against x/sys/unix.
func TestLinuxErrno(t *testing.T) {
	for e, name := range ErrnoNames {
		if name != "" {
			assert.Equal(t, unix.ErrnoName(syscall.Errno(e)), name, "errno %d", e)
		}
	}
	assert.Equal(t, int(unix.EAGAIN), EAGAIN)
	assert.Equal(t, int(unix.EOPNOTSUPP), EOPNOTSUPP)
	assert.Equal(t, int(unix.EINPROGRESS), EINPROGRESS)
	assert.Equal(t, unix.SYS_OPENAT, NROpenat)
	assert.Equal(t, "No such file or directory", ErrnoText[ENOENT])
}
