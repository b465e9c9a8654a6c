package tests

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/unigo-os/unigo/tools/launch/launchtest"
)

// TestJailedLauncher: `unigo run -jail` serves examples/httpd through the
// user-mode network with 2 vCPUs under its filters: the launcher shows
// Seccomp 2 and NoNewPrivs 1, a call outside its allowlist fails with
// EPERM, each vCPU thread has its own extra filter (2 filters where the
// other threads have 1), and the guest still serves and exits 0. Started
// as root, unigo run is the jailer: the launcher, its child, has no
// capabilities, runs as nobody, in mount, PID, IPC, UTS and network
// namespaces of its own, with an empty root of its own; the user-mode
// network runs in the jailer's other child, unigo-net, in the host's
// network namespace, as nobody under the same filter.
func TestJailedLauncher(t *testing.T) {
	needLauncher(t)
	port := freePorts(t, 1)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unigoBin, "run", "-jail", "-v", "-m", "256M", "-smp", "2",
		"-p", fmt.Sprintf("%d:8080", port), images[httpdPkg])
	out, diag := &syncBuffer{}, &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, diag
	cmd.Dir = t.TempDir()
	cmd.WaitDelay = 5 * time.Second
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("guest output:\n%s\nlauncher:\n%s", out, diag)
		}
	}()
	for !strings.Contains(out.String(), "httpd: serving on") {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("launcher exited: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	get := func(path string) string {
		resp, err := (&http.Client{Timeout: time.Minute}).Get(base + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(b)
	}
	assert.Equal(t, "Hello from unigo!\n", get("/"))

	pid := launchtest.LauncherPID(t, cmd.Process.Pid)
	st, err := os.ReadFile("/proc/" + pid + "/status")
	require.NoError(t, err)
	s := string(st)
	assert.Contains(t, s, "Seccomp:\t2\n")
	assert.Contains(t, s, "NoNewPrivs:\t1\n")
	assert.Contains(t, diag.String(), "a call outside the allowlist (getppid) fails with EPERM")
	if os.Geteuid() == 0 {
		assert.Contains(t, s, "CapEff:\t0000000000000000\n")
		assert.Contains(t, s, "Uid:\t65534\t65534\t65534\t65534\n")
		// The launcher has only the user-mode network's socket: a
		// network namespace of its own too. The network process, the
		// jailer's other child, is in the host's, confined by itself.
		launchtest.AssertJailed(t, pid, []string{"mnt", "pid", "ipc", "uts", "net"})
		np := launchtest.NetPID(t, cmd.Process.Pid)
		net, err := os.Readlink("/proc/" + np + "/ns/net")
		require.NoError(t, err)
		ours, err := os.Readlink("/proc/self/ns/net")
		require.NoError(t, err)
		assert.Equal(t, ours, net, "the user-mode network's process needs the host's network namespace")
		nst, err := os.ReadFile("/proc/" + np + "/status")
		require.NoError(t, err)
		assert.Contains(t, string(nst), "Seccomp:\t2\n")
		assert.Contains(t, string(nst), "NoNewPrivs:\t1\n")
		assert.Contains(t, string(nst), "Uid:\t65534\t65534\t65534\t65534\n")
	}
	tasks, err := filepath.Glob("/proc/" + pid + "/task/*")
	require.NoError(t, err)
	filters := map[string]int{}
	for _, task := range tasks {
		comm, _ := os.ReadFile(task + "/comm")
		if strings.HasPrefix(string(comm), "kvm-") {
			// KVM's own worker (kvm-nx-lpage-recovery), a kernel task in
			// the process, started from the first vCPU thread: it
			// inherits that thread's filters but makes no system calls.
			continue
		}
		b, err := os.ReadFile(task + "/status")
		if err != nil {
			continue // a thread that just exited
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "Seccomp_filters:\t"); ok {
				filters[v]++
			}
		}
	}
	if len(filters) > 0 { // the field is there since Linux 5.9
		assert.Equal(t, 2, filters["2"], "vCPU threads with their own filter: %v", filters)
		assert.Positive(t, filters["1"], "other threads: %v", filters)
		assert.Zero(t, filters["0"], "unfiltered threads: %v", filters)
	}

	assert.Equal(t, "bye\n", get("/quit"))
	select {
	case err := <-exited:
		exited <- err
		require.NoError(t, err)
	case <-time.After(time.Minute):
		t.Fatal("launcher did not exit")
	}
}

// TestJailedLauncherVolume: under -jail, the volume9p guest (no network,
// so the launcher also gets a network namespace of its own) reads and
// writes a -v volume through the 9P server, whose file system calls the
// jail's allowlist admits; the host sees what it wrote. The writable tree
// is open to nobody, the user a root launcher drops to.
func TestJailedLauncherVolume(t *testing.T) {
	r := runnerNamed("launcher")
	r.check(t)
	rw, ro, _ := volumeTrees(t)
	require.NoError(t, os.Chmod(rw, 0o777))
	s := volumeSpec(images[volume9pPkg], rw, ro)
	s.memory, s.cpus, s.kparams = "256M", 2, []string{"unigo.storage=0"}
	s.launcherArgs = append(s.launcherArgs, "-jail", "-v")
	res, err := r.run(t, s)
	require.NoError(t, err)
	require.Equal(t, 0, res.code, "output:\n%s%s", res.out, res.diag)
	for _, want := range []string{
		"volume9p: /data hello.txt: hello from the host\n",
		"volume9p: /data wrote guest.txt, fsync ok\n",
		"volume9p: /data 16 concurrent writers ok\n",
		"volume9p: /ro create: read-only file system\n",
		"volume9p: ok\n",
	} {
		assert.Contains(t, res.out, want)
	}
	assert.Contains(t, res.diag, "(getppid) fails with EPERM")
	b, err := os.ReadFile(filepath.Join(rw, "guest.txt"))
	require.NoError(t, err)
	assert.Equal(t, "written in the guest\n", string(b))
	if os.Geteuid() == 0 {
		var st syscall.Stat_t
		require.NoError(t, syscall.Stat(filepath.Join(rw, "guest.txt"), &st))
		assert.EqualValues(t, 65534, st.Uid, "written by the launcher as nobody")
	}
}
