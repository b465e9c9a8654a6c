// Package jail confines the launcher once its VM is set up, after
// Firecracker's jailer: a root launcher drops to an unprivileged user, and
// every thread gets no_new_privs and a seccomp allowlist of the system
// calls a running VM needs (the Go runtime's own, KVM's ioctls, the
// network backends' sockets, the console); any other call fails with
// EPERM.
package jail

import (
	"fmt"
	"os"
	"syscall"

	seccomp "github.com/elastic/go-seccomp-bpf"
)

// Nobody is the user and group a root launcher drops to.
const Nobody = 65534

// Allowed are the system calls a jailed launcher may make.
var Allowed = []string{
	// Go runtime: memory, threads, signals, scheduling, time.
	"mmap", "munmap", "mprotect", "madvise", "mremap", "brk", "mincore",
	"futex", "clone", "clone3", "set_robust_list", "rseq", "gettid", "getpid", "tgkill", "tkill",
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "restart_syscall",
	"sched_yield", "sched_getaffinity", "nanosleep", "clock_gettime", "clock_nanosleep", "gettimeofday",
	"exit", "exit_group", "getrandom", "prctl", "arch_prctl", "uname",
	// Files already open and the poller: console, KVM fds, TAP, eventfds.
	"read", "write", "readv", "writev", "pread64", "pwrite64", "close", "fcntl", "ioctl",
	"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd2", "pipe2",
	"poll", "ppoll", "fstat", "newfstatat", "lseek",
	// The user-mode network: NAT sockets, forwards' listeners, DNS
	// (the gateway reads the host's resolver configuration).
	"socket", "connect", "bind", "listen", "accept", "accept4", "shutdown",
	"setsockopt", "getsockopt", "getsockname", "getpeername",
	"sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg",
	"openat", "getdents64",
}

// Enter drops root to Nobody (when running as root) and loads the filter
// on every thread. It cannot be undone.
func Enter() error {
	if os.Geteuid() == 0 {
		if err := syscall.Setgroups(nil); err != nil {
			return fmt.Errorf("jail: setgroups: %w", err)
		}
		if err := syscall.Setresgid(Nobody, Nobody, Nobody); err != nil {
			return fmt.Errorf("jail: setresgid: %w", err)
		}
		if err := syscall.Setresuid(Nobody, Nobody, Nobody); err != nil {
			return fmt.Errorf("jail: setresuid: %w", err)
		}
	}
	err := seccomp.LoadFilter(seccomp.Filter{
		NoNewPrivs: true,
		Flag:       seccomp.FilterFlagTSync,
		Policy: seccomp.Policy{
			DefaultAction: seccomp.ActionErrno,
			Syscalls:      []seccomp.SyscallGroup{{Action: seccomp.ActionAllow, Names: Allowed}},
		},
	})
	if err != nil {
		return fmt.Errorf("jail: seccomp: %w", err)
	}
	return nil
}
