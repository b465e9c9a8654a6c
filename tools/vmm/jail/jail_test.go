package jail

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestJail re-runs the test binary, which enters the jail and reports
// its /proc status and what a forbidden call returns.
func TestJail(t *testing.T) {
	if os.Getenv("UNIGO_JAIL_CHILD") == "1" {
		if err := Enter(); err != nil {
			fmt.Println("enter:", err)
			os.Exit(1)
		}
		st, _ := os.ReadFile("/proc/self/status")
		fmt.Print(string(st))
		// Forbidden: mount, execve (no new programs), ptrace.
		err := syscall.Mount("none", "/mnt", "tmpfs", 0, "")
		fmt.Println("mount:", err)
		err = syscall.Exec("/bin/true", []string{"true"}, nil)
		fmt.Println("execve:", err)
		// ioctl: a tty query passes the filter (ENOTTY from the kernel
		// on a pipe), TIOCSTI (0x5412, inject terminal input) does not;
		// a KVM request reaches the kernel (ENOTTY on a non-KVM fd).
		_, err = unix.IoctlGetTermios(1, unix.TCGETS)
		fmt.Println("ioctl TCGETS:", err)
		fmt.Println("ioctl TIOCSTI:", unix.IoctlSetInt(1, 0x5412, 0))
		fmt.Println("ioctl KVM_GET_API_VERSION:", unix.IoctlSetInt(1, 0xAE00, 0))
		// A vCPU thread: its own narrower filter, not the other threads'.
		done := make(chan struct{})
		go func() {
			defer close(done)
			runtime.LockOSThread() // never unlocked: the thread retires with the goroutine
			if err := EnterVCPU(); err != nil {
				fmt.Println("enter vCPU:", err)
				return
			}
			_, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
			fmt.Println("vCPU socket:", err)
			_, err = unix.Open("/proc/self/status", unix.O_RDONLY, 0)
			fmt.Println("vCPU open:", err)
			fmt.Println("vCPU ioctl KVM_GET_API_VERSION:", unix.IoctlSetInt(1, 0xAE00, 0))
		}()
		<-done
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
		fmt.Println("main socket:", err)
		unix.Close(fd)
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestJail$")
	cmd.Env = append(os.Environ(), "UNIGO_JAIL_CHILD=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	s := string(out)
	assert.Contains(t, s, "Seccomp:\t2\n")
	assert.Contains(t, s, "NoNewPrivs:\t1\n")
	assert.Contains(t, s, "mount: operation not permitted")
	assert.Contains(t, s, "execve: operation not permitted")
	assert.Contains(t, s, "ioctl TCGETS: inappropriate ioctl for device")
	assert.Contains(t, s, "ioctl TIOCSTI: operation not permitted")
	assert.Contains(t, s, "ioctl KVM_GET_API_VERSION: inappropriate ioctl for device")
	assert.Contains(t, s, "vCPU socket: operation not permitted")
	assert.Contains(t, s, "vCPU open: operation not permitted")
	assert.Contains(t, s, "vCPU ioctl KVM_GET_API_VERSION: inappropriate ioctl for device")
	assert.Contains(t, s, "main socket: <nil>", "the vCPU filter stays on its thread")
	if os.Geteuid() == 0 {
		assert.Contains(t, s, "Uid:\t65534\t65534\t65534\t65534\n")
		assert.Contains(t, s, "CapEff:\t0000000000000000\n")
	}
}

// TestEnterRoot re-runs the test binary as root in fresh mount and PID
// namespaces; it pivots into the empty root, enters the jail, and then
// works in a directory it opened before, as the volumes' file server
// does: openat2 beneath it, a reopen through /proc/self/fd, fsync.
func TestEnterRoot(t *testing.T) {
	if os.Getenv("UNIGO_JAIL_ROOT_CHILD") != "" {
		dir, err := unix.Open(os.Getenv("UNIGO_JAIL_ROOT_CHILD"), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			fmt.Println("open:", err)
			os.Exit(1)
		}
		if err := EnterRoot(RootOptions{Proc: true, Files: []string{"/etc/hosts"}}); err != nil {
			fmt.Println("enter root:", err)
			os.Exit(1)
		}
		if err := Enter(); err != nil {
			fmt.Println("enter:", err)
			os.Exit(1)
		}
		fmt.Println("check:", Check())
		ents, _ := os.ReadDir("/")
		for _, e := range ents {
			fmt.Println("root entry:", e.Name())
		}
		_, err = os.Stat("/usr")
		fmt.Println("host /usr:", err != nil)
		fd, err := unix.Openat2(dir, "new.txt", &unix.OpenHow{Flags: unix.O_CREAT | unix.O_WRONLY | unix.O_CLOEXEC, Mode: 0o644, Resolve: unix.RESOLVE_BENEATH})
		fmt.Println("openat2:", err)
		w, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", fd), unix.O_WRONLY|unix.O_CLOEXEC, 0)
		fmt.Println("reopen:", err)
		_, err = unix.Write(w, []byte("from the jail"))
		fmt.Println("write:", err)
		fmt.Println("fsync:", unix.Fsync(w))
		fmt.Println("mkdirat:", unix.Mkdirat(dir, "sub", 0o755))
		os.Exit(0)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: mount namespaces and pivot_root")
	}
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o777))
	cmd := exec.Command(os.Args[0], "-test.run=^TestEnterRoot$")
	cmd.Env = append(os.Environ(), "UNIGO_JAIL_ROOT_CHILD="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	s := string(out)
	assert.Contains(t, s, "check: <nil>\n")
	assert.Contains(t, s, "root entry: etc\nroot entry: proc\n")
	assert.Contains(t, s, "host /usr: true\n")
	for _, call := range []string{"openat2", "reopen", "write", "fsync", "mkdirat"} {
		assert.Contains(t, s, call+": <nil>\n")
	}
	b, err := os.ReadFile(dir + "/new.txt")
	require.NoError(t, err)
	assert.Equal(t, "from the jail", string(b))
	// The host's mounts are untouched.
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	assert.NotContains(t, string(mounts), "nr_inodes=64,", "the jail's tmpfs leaked into the host's mounts")
}
