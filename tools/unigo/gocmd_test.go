package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/tools/launch/launchtest"
	"github.com/unigo-os/unigo/tools/vmm/testguest"
)

// TestRunSignalDuringBuild: SIGTERM or SIGINT while `unigo run` builds
// kills the go command and its children and removes the temporary
// directories. A fake go on PATH stands for a long build.
func TestRunSignalDuringBuild(t *testing.T) {
	bin := launchtest.Binaries(t)
	for sig, want := range map[syscall.Signal]int{syscall.SIGTERM: exitSIGTERM, syscall.SIGINT: exitSIGINT} {
		dir := t.TempDir()
		fakeBin, tmp := filepath.Join(dir, "bin"), filepath.Join(dir, "tmp")
		require.NoError(t, os.Mkdir(fakeBin, 0o755))
		require.NoError(t, os.Mkdir(tmp, 0o755))
		pids := filepath.Join(dir, "pids")
		require.NoError(t, os.WriteFile(filepath.Join(fakeBin, "go"), []byte("#!/bin/sh\nsleep 60 &\necho $$ $! >> "+pids+"\nwait\n"), 0o755))
		src := filepath.Join(dir, "main.go")
		require.NoError(t, os.WriteFile(src, []byte("package main\nfunc main() {}\n"), 0o644))

		cmd := exec.Command(bin, "run", src)
		cmd.Env = append(os.Environ(), "PATH="+fakeBin+":/usr/bin:/bin", "TMPDIR="+tmp)
		var stderr launchtest.SyncWriter
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		require.Eventually(t, func() bool { b, _ := os.ReadFile(pids); return len(b) > 0 }, 10*time.Second, 5*time.Millisecond)
		require.NoError(t, cmd.Process.Signal(sig))
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		var err error
		select {
		case err = <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("unigo run still builds 10s after %v", sig)
		}
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee)
		assert.Equal(t, want, ee.ExitCode(), stderr.String())
		assert.Contains(t, stderr.String(), "stopped by")

		b, _ := os.ReadFile(pids)
		for _, f := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(f)
			require.NoError(t, err)
			// Gone, or a zombie of an exited parent: no longer running.
			assert.Eventually(t, func() bool {
				st, err := os.ReadFile("/proc/" + f + "/stat")
				return err != nil || strings.Contains(string(st), ") Z ")
			}, 5*time.Second, 10*time.Millisecond, "process %d still runs", pid)
		}
		left, err := os.ReadDir(tmp)
		require.NoError(t, err)
		assert.Empty(t, left, "temporary files left behind")
	}
}

// TestRunJail: with -jail the running launcher has a seccomp filter, no
// new privileges and, started as root, no capabilities, user nobody, and
// (started by the CLI as the jailer) mount, PID, IPC, UTS and, for this
// guest without a network, network namespaces of its own and an empty
// root, holding /dev/kvm, the image, a drive and a volume as the jailer
// opened them; it
// still serves its guest: SMP, the SIGQUIT dump (passed on by
// the jailer), the timeout.
func TestRunJail(t *testing.T) {
	kvmOK(t)
	bin := launchtest.Binaries(t)
	// Out of process: in-process, -jail would confine the test binary.
	disk := filepath.Join(t.TempDir(), "disk.img")
	require.NoError(t, os.WriteFile(disk, make([]byte, 1<<20), 0o644))
	vol := t.TempDir()
	cmd := exec.Command(bin, "run", "-jail", "-v", "-smp", "2", "-timeout", "20s", "-drive", disk, "-v", vol+":/data", writeImage(t, testguest.Hang()))
	var stderr launchtest.SyncWriter
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "first vCPU run") }, 10*time.Second, 5*time.Millisecond)
	pid := launchtest.LauncherPID(t, cmd.Process.Pid)
	st, err := os.ReadFile("/proc/" + pid + "/status")
	require.NoError(t, err)
	assert.Contains(t, string(st), "Seccomp:\t2\n")
	assert.Contains(t, string(st), "NoNewPrivs:\t1\n")
	assert.Contains(t, stderr.String(), "(getppid) fails with EPERM")
	if os.Geteuid() == 0 {
		assert.Contains(t, string(st), "CapEff:\t0000000000000000\n")
		assert.Contains(t, string(st), "Uid:\t65534\t65534\t65534\t65534\n")
		launchtest.AssertJailed(t, pid, []string{"mnt", "pid", "ipc", "uts", "net"})
		ents, err := os.ReadDir("/proc/" + pid + "/root")
		require.NoError(t, err)
		require.Len(t, ents, 1, "the launcher's root holds /proc alone (for the volume)")
		assert.Equal(t, "proc", ents[0].Name())
		// The jailer opened /dev/kvm and the image and passed them down.
		cmdline, err := os.ReadFile("/proc/" + pid + "/cmdline")
		require.NoError(t, err)
		assert.Contains(t, string(cmdline), "\x00-fd\x00kvm=")
		assert.Contains(t, string(cmdline), "\x00-fd\x00image=")
		assert.Contains(t, string(cmdline), "\x00-fd\x00drive0=")
		assert.Contains(t, string(cmdline), "\x00-fd\x00volume0=")
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGQUIT))
	err = cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, exitSIGQUIT, ee.ExitCode(), stderr.String())
	assert.Contains(t, stderr.String(), "unigo run: SIGQUIT: dumping the guest\nunigo: guest state, 2 vCPU(s)\n")

	cmd = exec.Command(bin, "run", "-jail", "-timeout", "500ms", writeImage(t, testguest.Hang()))
	out, err := cmd.CombinedOutput()
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, exitTimeout, ee.ExitCode(), "%s", out)
	assert.Contains(t, string(out), "guest timed out")
}

// TestRunJailTAP: as root, -jail with -net tap=NAME gives the launcher a
// network namespace of its own, where the interface does not exist; the
// jailer opened the TAP in the host's and passed the descriptor down.
func TestRunJailTAP(t *testing.T) {
	kvmOK(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root: the jailer, and a TAP device")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip not on PATH")
	}
	name := fmt.Sprintf("ujt%d", os.Getpid()%100000)
	if out, err := exec.Command("ip", "tuntap", "add", name, "mode", "tap").CombinedOutput(); err != nil {
		t.Skipf("cannot create a TAP device here: %v: %s", err, out)
	}
	defer exec.Command("ip", "link", "del", name).Run()
	bin := launchtest.Binaries(t)
	cmd := exec.Command(bin, "run", "-jail", "-v", "-net", "tap="+name, "-timeout", "20s", writeImage(t, testguest.Hang()))
	var stderr launchtest.SyncWriter
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	defer cmd.Process.Kill()
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "first vCPU run") }, 10*time.Second, 5*time.Millisecond, "%s", &stderr)
	pid := launchtest.LauncherPID(t, cmd.Process.Pid)
	theirs, err := os.Readlink("/proc/" + pid + "/ns/net")
	require.NoError(t, err)
	ours, err := os.Readlink("/proc/self/ns/net")
	require.NoError(t, err)
	assert.NotEqual(t, ours, theirs, "network namespace")
	fds, err := filepath.Glob("/proc/" + pid + "/fd/*")
	require.NoError(t, err)
	tun := false
	for _, fd := range fds {
		if l, _ := os.Readlink(fd); l == "/dev/net/tun" {
			tun = true
		}
	}
	assert.True(t, tun, "the launcher holds no TAP descriptor")
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	err = cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, exitSIGTERM, ee.ExitCode(), stderr.String())
}

// TestRunJailUserNet: as root, -jail with the user-mode network: the
// jailer starts unigo-net in the host's network namespace, where it
// confines itself (nobody, no_new_privs, the filter), and the launcher in
// a network namespace of its own with only the socket (-net-fd). SIGKILL
// of the jailer leaves no orphan: both children die with it.
func TestRunJailUserNet(t *testing.T) {
	kvmOK(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root: the jailer")
	}
	bin := launchtest.Binaries(t)
	cmd := exec.Command(bin, "run", "-jail", "-v", "-net", "user", "-timeout", "20s", writeImage(t, testguest.Hang()))
	var stderr launchtest.SyncWriter
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	defer cmd.Process.Kill()
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "first vCPU run") }, 10*time.Second, 5*time.Millisecond, "%s", &stderr)
	pid := launchtest.LauncherPID(t, cmd.Process.Pid)
	np := launchtest.NetPID(t, cmd.Process.Pid)
	ours, err := os.Readlink("/proc/self/ns/net")
	require.NoError(t, err)
	theirs, err := os.Readlink("/proc/" + pid + "/ns/net")
	require.NoError(t, err)
	assert.NotEqual(t, ours, theirs, "the launcher's network namespace")
	cmdline, err := os.ReadFile("/proc/" + pid + "/cmdline")
	require.NoError(t, err)
	assert.Contains(t, string(cmdline), "\x00-net-fd\x00")
	netns, err := os.Readlink("/proc/" + np + "/ns/net")
	require.NoError(t, err)
	assert.Equal(t, ours, netns, "unigo-net's network namespace")
	st, err := os.ReadFile("/proc/" + np + "/status")
	require.NoError(t, err)
	assert.Contains(t, string(st), "Seccomp:\t2\n")
	assert.Contains(t, string(st), "NoNewPrivs:\t1\n")
	assert.Contains(t, string(st), "Uid:\t65534\t65534\t65534\t65534\n")

	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	cmd.Wait()
	for _, p := range []string{pid, np} {
		assert.Eventually(t, func() bool { return launchtest.Gone(p) }, 5*time.Second, 10*time.Millisecond, "process %s outlived the jailer", p)
	}
}
