package task

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/mm"
	"github.com/unigo-os/unigo/kernel/spinlock"
)

// The machine's host name, uname's nodename: "unigo" until the program
// (or the netstack, from a DHCP lease) calls sethostname(2). Like Linux,
// at most 64 bytes. The files naming it (/etc/hostname,
// /proc/sys/kernel/hostname) are the caller's to rewrite.
const hostnameMax = 64

var (
	hostnameLock spinlock.Lock // a leaf lock; guards hostname and hostnameLen
	hostname     = [hostnameMax]byte{'u', 'n', 'i', 'g', 'o'}
	hostnameLen  = 5
)

// doSethostname serves sethostname(name, n). The name is copied to
// the stack first, so that no user memory is touched under the lock.
func doSethostname(name, n uintptr) int64 {
	if n > hostnameMax {
		return -abi.EINVAL
	}
	if n > 0 && !mm.UserOK(name, n, false) {
		return -abi.EFAULT
	}
	var buf [hostnameMax]byte
	if n > 0 {
		copy(buf[:], kctx.BytesAt(name, int(n)))
	}
	hostnameLock.Lock()
	hostname = buf
	hostnameLen = int(n)
	hostnameLock.Unlock()
	return 0
}

// copyHostname writes the host name into dst (uname's 65-byte field,
// already zeroed).
func copyHostname(dst []byte) {
	hostnameLock.Lock()
	copy(dst, hostname[:hostnameLen])
	hostnameLock.Unlock()
}
