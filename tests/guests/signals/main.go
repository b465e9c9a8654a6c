// Command signals checks which signals the kernel supports: handlers for
// signals nothing will raise install fine, signals a program sends itself
// (kill, tgkill) reach its handlers, bad signal numbers fail with EINVAL,
// and operations that would wait forever for a signal the kernel cannot
// produce (SIGALRM timers, stop signals) fail with EINVAL instead of
// hanging. Natively the SIGALRM timer works, so the program tells which
// case it saw ("(delivered)" or "(refused)"); the test checks that the
// kernel reported each refused kind once.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
	"unsafe"
)

func fail(format string, args ...any) {
	fmt.Printf("signals: "+format+"\n", args...)
	os.Exit(1)
}

func errno(r1 uintptr, e syscall.Errno) error {
	if e != 0 {
		return e
	}
	return nil
}

func want(what string, got, wantErr error) {
	if !errors.Is(got, wantErr) && got != wantErr {
		fail("%s: got %v, want %v", what, got, wantErr)
	}
}

func await(ch chan os.Signal, sig os.Signal, what string) {
	select {
	case got := <-ch:
		if got != sig {
			fail("%s: got %v, want %v", what, got, sig)
		}
	case <-time.After(10 * time.Second):
		fail("%s: %v not delivered", what, sig)
	}
}

type itimerval struct{ interval, value syscall.Timeval }

func setitimer(which int, v *itimerval) error {
	var old itimerval
	r, _, e := syscall.RawSyscall(syscall.SYS_SETITIMER, uintptr(which), uintptr(unsafe.Pointer(v)), uintptr(unsafe.Pointer(&old)))
	return errno(r, e)
}

func main() {
	// Handlers for signals nothing in a VM raises: installing them works.
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGWINCH, syscall.SIGCHLD)
	fmt.Println("signals: handlers installed")

	// Signals sent to oneself arrive.
	pid := os.Getpid()
	want("kill(SIGUSR1)", syscall.Kill(pid, syscall.SIGUSR1), nil)
	await(ch, syscall.SIGUSR1, "kill")
	_, _, e := syscall.RawSyscall(syscall.SYS_TGKILL, uintptr(pid), uintptr(syscall.Gettid()), uintptr(syscall.SIGHUP))
	want("tgkill(SIGHUP)", errno(0, e), nil)
	await(ch, syscall.SIGHUP, "tgkill")
	fmt.Println("signals: self-sent signals delivered")

	// Bad signal numbers.
	want("kill(65)", syscall.Kill(pid, syscall.Signal(65)), syscall.EINVAL)
	_, _, e = syscall.RawSyscall(syscall.SYS_TGKILL, uintptr(pid), uintptr(syscall.Gettid()), 65)
	want("tgkill(65)", errno(0, e), syscall.EINVAL)
	var act [4]uint64
	act[0] = 1 // SIG_IGN
	for _, sig := range []int{0, 65, int(syscall.SIGKILL), int(syscall.SIGSTOP)} {
		_, _, e = syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0)
		want(fmt.Sprintf("rt_sigaction(%d)", sig), errno(0, e), syscall.EINVAL)
	}
	fmt.Println("signals: bad signal numbers refused")

	// A SIGALRM timer: delivered natively, refused (not left hanging) by
	// the unigo kernel.
	alrm := make(chan os.Signal, 1)
	signal.Notify(alrm, syscall.SIGALRM)
	tv := itimerval{value: syscall.Timeval{Usec: 20_000}}
	err := setitimer(0, &tv)
	booted := false
	switch {
	case err == nil:
		await(alrm, syscall.SIGALRM, "setitimer(ITIMER_REAL)")
		fmt.Println("signals: itimer-real ok (delivered)")
	case errors.Is(err, syscall.EINVAL):
		booted = true
		want("setitimer(ITIMER_REAL) again", setitimer(0, &tv), syscall.EINVAL)
		want("setitimer(ITIMER_REAL, 0)", setitimer(0, &itimerval{}), nil)
		fmt.Println("signals: itimer-real ok (refused)")
	default:
		fail("setitimer(ITIMER_REAL): %v", err)
	}
	// CPU-time timers stay supported.
	want("setitimer(ITIMER_PROF, 0)", setitimer(2, &itimerval{}), nil)

	if booted {
		_, _, e = syscall.RawSyscall(syscall.SYS_ALARM, 5, 0, 0)
		want("alarm(5)", errno(0, e), syscall.EINVAL)
		_, _, e = syscall.RawSyscall(syscall.SYS_ALARM, 0, 0, 0)
		want("alarm(0)", errno(0, e), nil)
		var id int32
		_, _, e = syscall.RawSyscall(syscall.SYS_TIMER_CREATE, 1 /* CLOCK_MONOTONIC */, 0, uintptr(unsafe.Pointer(&id)))
		want("timer_create(CLOCK_MONOTONIC)", errno(0, e), syscall.EINVAL)
		want("kill(SIGSTOP)", syscall.Kill(pid, syscall.SIGSTOP), syscall.EINVAL)
		want("kill(SIGTSTP)", syscall.Kill(pid, syscall.SIGTSTP), syscall.EINVAL)
		fmt.Println("signals: waits on unsupported signals refused")
	}
	fmt.Println("signals: ok")
}
