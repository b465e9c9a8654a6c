// Package jail confines the launcher once its VM is set up, after
// Firecracker's jailer: a root launcher drops to an unprivileged user, and
// every thread gets no_new_privs and a seccomp allowlist of the system
// calls a running VM needs (the Go runtime's own, KVM's ioctls, the
// network backends' sockets, the console); any other call fails with
// EPERM. The vCPU threads, each locked to its goroutine, add a narrower
// filter of their own (no sockets, no opening files). Goroutines that are
// not locked move between threads, so the other roles (device workers,
// the main goroutine) share the process-wide filter. A launcher that the
// jailer (unigo run as root) started in fresh namespaces first moves into
// an empty root (EnterRoot); Check confirms the filter is in force.
package jail

import (
	"fmt"
	"os"
	"syscall"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/sys/unix"
)

// Nobody is the user and group a root launcher drops to.
const Nobody = 65534

// goRuntime are the calls the Go runtime makes on any thread: memory,
// threads, signals, scheduling, time.
var goRuntime = []string{
	"mmap", "munmap", "mprotect", "madvise", "mremap", "brk", "mincore",
	"futex", "clone", "clone3", "set_robust_list", "rseq", "gettid", "getpid", "tgkill", "tkill",
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "restart_syscall",
	"sched_yield", "sched_getaffinity", "nanosleep", "clock_gettime", "clock_nanosleep", "gettimeofday",
	"exit", "exit_group", "getrandom", "prctl", "arch_prctl", "uname",
}

// Allowed are the system calls a jailed launcher may make on any thread,
// besides ioctl (see ioctls).
var Allowed = append(append([]string{}, goRuntime...),
	// Files already open and the poller: console, KVM fds, TAP, eventfds.
	"read", "write", "readv", "writev", "pread64", "pwrite64", "close", "fcntl",
	"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd2", "pipe2",
	"poll", "ppoll", "fstat", "newfstatat", "lseek",
	// The user-mode network's process (unigo-net -jail loads this
	// filter too): NAT sockets, forwards' listeners, DNS (the gateway
	// reads the host's resolver configuration).
	"socket", "connect", "bind", "listen", "accept", "accept4", "shutdown",
	"setsockopt", "getsockopt", "getsockname", "getpeername",
	"sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg",
	"openat", "getdents64",
	// Volumes (-v): the 9P server's goroutines walk and change the shared
	// trees from the directory descriptors they hold (openat2 confined
	// beneath them), reopening through /proc/self/fd; drives sync.
	"openat2", "mkdirat", "unlinkat", "renameat", "renameat2", "linkat", "symlinkat", "readlinkat",
	"fchmodat", "truncate", "ftruncate", "utimensat", "faccessat", "faccessat2", "fstatfs", "statx",
	"fsync", "fdatasync",
	// EnterVCPU's filter, later: a filter can only narrow what is allowed.
	"seccomp",
)

// VCPUAllowed are the calls a vCPU thread may make, besides ioctl: the
// runtime's, and reads and writes of descriptors already open (KVM's run
// loop, eventfds). A vCPU thread emulates the devices' registers, the
// guest's most direct reach into the launcher; the devices' own work (the
// network, the console's writer) runs in goroutines on other threads.
var VCPUAllowed = append(append([]string{}, goRuntime...), "read", "write", "close")

// ioctls are the ioctl requests allowed: KVM's (type 0xAE, any number and
// direction: the vCPU run loop, registers for dumps and crash reports,
// interrupt lines), the tty queries the console makes, and TAP's
// TUNSETOFFLOAD, set when the guest's driver negotiates offloads.
func ioctls() []seccomp.NameWithConditions {
	const arg = 1 // the request
	kvm := seccomp.NameWithConditions{Name: "ioctl", Conditions: seccomp.ArgumentConditions{
		// Byte 1 of the request (its type) is 0xAE: those bits set, the
		// others of that byte clear.
		{Argument: arg, Operation: seccomp.BitsSet, Value: 0xAE << 8},
		{Argument: arg, Operation: seccomp.BitsNotSet, Value: (^uint64(0xAE) & 0xff) << 8},
	}}
	ncs := []seccomp.NameWithConditions{kvm}
	for _, req := range []uint64{unix.TCGETS, unix.TIOCGWINSZ, 0x5421 /* FIONBIO */, unix.TUNSETOFFLOAD} {
		ncs = append(ncs, seccomp.NameWithConditions{Name: "ioctl", Conditions: seccomp.ArgumentConditions{
			{Argument: arg, Operation: seccomp.Equal, Value: req}}})
	}
	return ncs
}

func policy(names []string) seccomp.Policy {
	return seccomp.Policy{
		DefaultAction: seccomp.ActionErrno,
		Syscalls: []seccomp.SyscallGroup{
			{Action: seccomp.ActionAllow, Names: names, NamesWithCondtions: ioctls()},
		},
	}
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
		Policy:     policy(Allowed),
	})
	if err != nil {
		return fmt.Errorf("jail: seccomp: %w", err)
	}
	return nil
}

// DieWithParent asks for SIGKILL when the parent dies
// (PR_SET_PDEATHSIG), again: a change of credentials (Enter's drop to
// nobody) clears it. The kernel checks every thread of a child whose
// parent died, so setting it on the calling thread, which Go keeps,
// suffices.
func DieWithParent() error {
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("jail: PR_SET_PDEATHSIG: %w", err)
	}
	return nil
}

// EnterVCPU adds the vCPU filter (VCPUAllowed) to the calling thread only,
// on top of Enter's: the caller's goroutine must be locked to its thread
// (runtime.LockOSThread) and stay locked until it exits, so that no other
// goroutine ever runs under the narrower filter. Go starts new threads
// from a template thread while a goroutine holds a thread locked, so none
// inherits it.
func EnterVCPU() error {
	err := seccomp.LoadFilter(seccomp.Filter{NoNewPrivs: true, Policy: policy(VCPUAllowed)})
	if err != nil {
		return fmt.Errorf("jail: vCPU seccomp: %w", err)
	}
	return nil
}
